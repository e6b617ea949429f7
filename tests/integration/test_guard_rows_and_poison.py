"""Guard rows out of step and poison rows (fix-first): a counter behind its incidents, a lost or
extra due row, an incident too large to save, a corrupt document and a removed playbook. On both
stores: each case leaves every other incident's pages on time, and health counts what fails."""
from __future__ import annotations

import json

import pytest

from shared.domain.incident import MAX_TENANTS
from shared.ports import Op
from shared.storage import incident_ids, repository as keys
from shared.services.health import health
from shared.storage.repository import CHUNK, MAX_CHUNKS, IncidentRepository
from tests.harness import Harness
from tests.payloads import OTHER_ID, REDIS_ID, metric_alert


@pytest.fixture(params=["memory", "azurite"])
def h(request, clock):
    store = request.getfixturevalue("memory_store" if request.param == "memory" else "table_store")
    return Harness(store, clock)


def sev1(h, alert_id: str, **kw) -> str:
    out = h.alert(metric_alert(alert_id, severity="Sev0", custom={"impact": "core", "scope": "all"}, **kw))
    assert out["outcome"] == "created", out
    return out["incident_id"]


def triggers(h, inc: str) -> list[str]:
    return [e.dedup_key.split(".", 1)[1] for e in h.pager.events if e.action == "trigger"
            and e.dedup_key.startswith(inc + ".")]


def counter(h):
    key = keys.counter_key(h.clock.now().strftime("%Y%m%d"))
    return key, h.store.get(keys=[key]).get(key)


# ---- the day's counter behind its incidents --------------------------------------------------

def test_a_counter_behind_its_incidents_moves_past_them_instead_of_refusing_every_alert(h):
    first, second = sev1(h, "a1", target=OTHER_ID, rule="r1"), sev1(h, "a2", target=OTHER_ID, rule="r2")
    key, row = counter(h)
    h.store.commit(ops=[Op("replace", key, {"n": 1}, row.etag)])  # a restore from an older backup
    incident_ids._ids.forget(h.store, key.split("|")[1])                  # read by a worker with no ids in hand
    third = h.alert(metric_alert("a3", target=OTHER_ID, rule="r3"))
    assert third["outcome"] == "created"
    assert third["incident_id"] > second > first  # past the incidents that exist: a new, unique id
    assert counter(h)[1].data["n"] >= 3


def test_a_hand_deleted_counter_row_does_not_lock_intake_or_declare_out(h):
    sev1(h, "a1", target=OTHER_ID, rule="r1")
    sev1(h, "a2", target=OTHER_ID, rule="r2")
    key, row = counter(h)
    h.store.commit(ops=[Op("delete", key, etag=row.etag)])
    incident_ids._ids.forget(h.store, key.split("|")[1])                  # a worker with no ids in hand
    from shared.services import commands
    declared = commands.declare({"title": "by hand", "severity": "SEV-3"}, "alice", store=h.store, clock=h.clock,
                                runbook=h.runbook, paging=h.paging())
    newest = max(r.data["id"] for r in h.store.scan(start="inc|", end="inc}").records if r.data["id"] != declared["id"])
    assert declared["id"] > newest
    fourth = h.alert(metric_alert("a4", target=OTHER_ID, rule="r4"))
    assert fourth["outcome"] == "created" and fourth["incident_id"] > declared["id"]


# ---- due rows out of step ---------------------------------------------------------------------

def test_a_lost_due_row_comes_back_and_its_step_fires(h):
    inc = sev1(h, "a1")
    h.tick()
    doc, _ = IncidentRepository(h.store).load(inc)
    lost = keys.due_key(doc.lanes["esc"], inc, "esc")
    row = h.store.get(keys=[lost])[lost]
    h.store.commit(ops=[Op("delete", lost, etag=row.etag)])   # restored from a backup without it
    from shared.services import sweep as sweep_mod
    getattr(sweep_mod, "_audits", sweep_mod).__dict__.get("_last", {}).clear()  # a worker's first sweep audits
    h.run_for(11)
    assert triggers(h, inc) == ["primary", "secondary"]


def test_a_change_never_depends_on_the_old_due_row_being_there(h):
    inc = sev1(h, "a1")
    doc, _ = IncidentRepository(h.store).load(inc)
    for lane, due in doc.lanes.items():
        key = keys.due_key(due, inc, lane)
        h.store.commit(ops=[Op("delete", key, etag=h.store.get(keys=[key])[key].etag)])
    shown = h.command("acknowledge", inc, {"message": "on it"})   # used to conflict on every retry: 503
    assert shown["state"] == "acknowledged"


def test_a_leftover_due_row_is_dropped_without_firing_anything(h):
    inc = sev1(h, "a1")
    h.command("acknowledge", inc)     # the secondary's row (10 min) stays behind as a leftover
    h.run_for(12)
    assert triggers(h, inc) == ["primary"]
    from shared.domain.timeutil import iso
    left = h.store.scan(start="due|", end=f"due|{iso(h.clock.now())}~").records
    assert [r.key for r in left if f"|{inc}|" in r.key] == []


# ---- poison rows --------------------------------------------------------------------------------

def _poison_oversized(h, inc: str) -> None:
    """Grow the stored document to just under the entity cap, as 440 KB of tenants once did."""
    repo = IncidentRepository(h.store)
    rec = h.store.get(keys=[keys.incident_key(inc)])[keys.incident_key(inc)]
    doc = keys.decode_doc(rec.data)
    used = len(json.dumps(doc, separators=(",", ":"), sort_keys=True)) + len(',"padding":""')
    room = CHUNK * MAX_CHUNKS - used - 5       # five characters to spare: its next change cannot fit
    doc["escalation"]["padding"] = "x" * room
    data = {k: v for k, v in rec.data.items() if not k.startswith("doc")}
    h.store.commit(ops=[Op("replace", rec.key, {**data, **keys.encode_doc(doc)}, rec.etag)])
    repo.load(inc)  # still readable: only its next save is too large


def _poison_corrupt(h, inc: str) -> None:
    rec = h.store.get(keys=[keys.incident_key(inc)])[keys.incident_key(inc)]
    data = {k: v for k, v in rec.data.items() if not k.startswith("doc")}
    h.store.commit(ops=[Op("replace", rec.key, {**data, "doc0": '{"id": "broken'}, rec.etag)])


@pytest.mark.parametrize("poison", [_poison_oversized, _poison_corrupt], ids=["oversized", "corrupt"])
def test_a_poison_incident_never_delays_another_incidents_pages(h, poison):
    bad = sev1(h, "a1", target=OTHER_ID, rule="bad-rule")
    poison(h, bad)
    h.clock.advance(minutes=1)
    good = sev1(h, "a2", target=REDIS_ID, rule="good-rule")
    h.tick()
    assert triggers(h, good) == ["primary"]           # the new SEV-1's primary page reaches PagerDuty
    h.run_for(10)
    assert triggers(h, good) == ["primary", "secondary"]   # and its next step fires on time
    report = h.tick()
    state = health(store=h.store, clock=h.clock, schedule="*/10 * * * * *")
    assert state["healthy"] and state["status"] == "degraded" and state["failing_rows"] >= 1
    assert {f["incident_id"] for f in state["failing"]} == {bad}   # its esc (and arm) rows, nobody else's
    assert max(f["failures"] for f in state["failing"]) >= 2
    assert report.failed + report.held == state["failing_rows"]
    events = IncidentRepository(h.store).timeline(bad)[0]
    assert any(e["kind"] == "sweep-failure" for e in events)


def test_a_failing_row_is_retried_with_backoff_and_clears_when_it_works_again(h):
    bad = sev1(h, "a1", target=OTHER_ID, rule="bad-rule")
    h.tick()
    rec = h.store.get(keys=[keys.incident_key(bad)])[keys.incident_key(bad)]
    _poison_corrupt(h, bad)
    h.clock.advance(minutes=10)      # the secondary step falls due now
    failed = []
    for second in range(0, 120, 10):
        if failed:
            h.clock.advance(seconds=10)
        if h.tick().failed:
            failed.append(second)
    assert failed == [0, 30, 90]     # tried again after 30 s, then 60 s, then 120 s
    broken = h.store.get(keys=[keys.incident_key(bad)])[keys.incident_key(bad)]
    h.store.commit(ops=[Op("replace", rec.key, rec.data, broken.etag)])   # repaired by hand
    h.run_for(2)
    state = health(store=h.store, clock=h.clock, schedule="*/10 * * * * *")
    assert state["failing_rows"] == 0 and state["status"] in ("ok", "stale")
    assert triggers(h, bad) == ["primary", "secondary"]
    assert any(e["kind"] == "recovered" for e in h.show(bad)["timeline"])


def test_tenants_from_correlated_alerts_stay_bounded(h):
    inc = None
    for i in range(12):   # 12 x 2,000 tenant names of 20 characters: 480 KB if kept
        names = ",".join(f"tenant-{i:02d}-{n:06d}-abcd" for n in range(2000))
        out = h.alert(metric_alert(f"t{i}", target=OTHER_ID, rule="tenant-storm", custom={"tenants": names}))
        inc = inc or out["incident_id"]
        assert out["incident_id"] == inc
    shown = h.show(inc)
    assert len(shown["tenants"]) == MAX_TENANTS
    h.run_for(11)
    assert triggers(h, inc) == ["primary", "secondary"][:len(triggers(h, inc))]
    state = health(store=h.store, clock=h.clock, schedule="*/10 * * * * *")
    assert state["failing_rows"] == 0


# ---- the review clock starts however an incident resolves -------------------------------------

def test_the_stability_window_starts_the_review_clock(h):
    body = metric_alert("a1", severity="Sev0", custom={"impact": "core", "scope": "all"})
    inc = h.alert(body)["incident_id"]
    from tests.payloads import resolved
    h.clock.advance(minutes=2)
    assert h.alert(resolved(body))["outcome"] == "resolved"
    h.run_for(16)
    shown = h.show(inc)
    assert shown["state"] == "resolved" and shown["pir"]["required"] is True
    assert shown["pir"]["status"] == "pending" and shown["pir"]["due_at"] is not None
    assert any(e["kind"] == "review" for e in shown["timeline"])


def test_a_sev4_resolved_by_stability_needs_no_review(h):
    body = metric_alert("a1", severity="Sev4", target=OTHER_ID, custom={"impact": "minor", "scope": "one"})
    inc = h.alert(body)["incident_id"]
    from tests.payloads import resolved
    h.alert(resolved(body))
    h.run_for(16)
    shown = h.show(inc)
    assert shown["state"] == "resolved"
    assert {k: shown["pir"][k] for k in ("required", "due_at", "status")} == {"required": False, "due_at": None,
                                                                             "status": "not required"}


# ---- bounded answers ----------------------------------------------------------------------------

def test_the_timeline_of_a_long_incident_is_paged(memory_store, clock):
    h = Harness(memory_store, clock)
    inc = sev1(h, "a1")
    for i in range(450):
        h.command("add_note", inc, {"text": f"note {i:04d} " + "y" * 200})
    from shared.services.queries import get_incident
    first = get_incident(inc, store=h.store)
    assert len(first["timeline"]) == 200 and first["timeline_continuation"]
    seen, token = list(first["timeline"]), first["timeline_continuation"]
    while token:
        page = get_incident(inc, store=h.store, params={"timeline_continuation": token, "timeline_limit": "1000"})
        seen += page["timeline"]
        token = page["timeline_continuation"]
    notes = [e["text"][:9] for e in seen if e["kind"] == "note"]
    assert notes == [f"note {i:04d}" for i in range(450)]
    assert len(json.dumps(first)) < 200_000


def test_alert_facts_stay_bounded_however_large_the_alerts(h):
    from tests.payloads import SUB
    targets = [f"{SUB}/Microsoft.Web/sites/app-{i:03d}-" + "x" * 3500 for i in range(100)]
    inc = None
    for n in range(60):     # 60 alerts of one rule, each naming 100 targets of 3.5 KB and a long rule name
        body = metric_alert(f"big{n}", target=OTHER_ID, rule="r" * 1000)
        body["data"]["essentials"]["alertTargetIDs"] = targets
        out = h.alert(body)
        assert out["outcome"] in ("created", "correlated"), out
        inc = inc or out["incident_id"]
    h.run_for(11)
    assert health(store=h.store, clock=h.clock, schedule="*/10 * * * * *")["failing_rows"] == 0
    rec = h.store.get(keys=[keys.incident_key(inc)])[keys.incident_key(inc)]
    assert sum(len(v) for k, v in rec.data.items() if k.startswith("doc")) < CHUNK * MAX_CHUNKS // 2


def test_the_due_index_audit_runs_on_the_arm_timer_never_in_front_of_a_page(memory_store, clock):
    from shared.services import sweep as sweep_mod
    h = Harness(memory_store, clock)
    inc = sev1(h, "a1")
    doc, _ = IncidentRepository(h.store).load(inc)
    lost = keys.due_key(doc.lanes["esc"], inc, "esc")
    h.store.commit(ops=[Op("delete", lost, etag=h.store.get(keys=[lost])[lost].etag)])
    sweep_mod._audits._last.clear()
    esc = sweep_mod.sweep(store=h.store, clock=h.clock, runbook=h.runbook, paging=h.paging(), lane=sweep_mod.ESC)
    arm = sweep_mod.sweep(store=h.store, clock=h.clock, runbook=h.runbook, paging=h.paging(), lane=sweep_mod.ARM,
                          record_health=False)
    assert (esc.repaired, arm.repaired) == (0, 1) and h.store.get(keys=[lost])
