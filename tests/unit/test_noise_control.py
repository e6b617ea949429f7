"""Noise control (runbook.toml [intake] pause_minutes) on the in-memory store and an injected clock: a
SEV-3/SEV-4 alert holds its ticket and chat for the pause; resolved within it, the incident is transient
and nothing is ever queued; a second firing or a severity raise ends it at once; pages never wait."""
from __future__ import annotations

import tomllib
from datetime import timedelta
from pathlib import Path

import pytest

from shared import bootstrap
from shared.adapters.memory import InMemoryRecordStore
from shared.domain.errors import PolicyError
from shared.domain.policy import Runbook
from shared.domain.timeutil import iso
from shared.storage.repository import IncidentRepository
from tests.harness import Harness
from tests.payloads import OTHER_ID, metric_alert, resolved, resource_health

NOISY = {"target": OTHER_ID, "rule": "batch-jobs", "severity": "Sev4"}   # minor x some: SEV-4


class RecordingRecordStore(InMemoryRecordStore):
    """The in-memory store, keeping every outbox message ever queued, once each (delivery moves and deletes
    the rows: a claim re-inserts the message under a new key with the same message id)."""

    def __init__(self) -> None:
        super().__init__()
        self.queued: list[dict] = []
        self._ids: set[str] = set()

    def commit(self, *, ops):
        etags = super().commit(ops=ops)
        for op in ops:
            msg_id = op.key.rsplit("|", 1)[-1]
            if op.kind == "insert" and op.key.startswith("out|") and msg_id not in self._ids:
                self._ids.add(msg_id)
                self.queued.append({**op.data, "key": op.key})
        return etags


@pytest.fixture
def h(clock):
    return Harness(RecordingRecordStore(), clock)


def queued(h, inc_id, *channels):
    return [m["channel"] for m in h.store.queued if m["incident_id"] == inc_id and m["channel"] in channels]


def texts(h, inc_id, *kinds):
    return [e["text"] for e in h.show(inc_id)["timeline"] if not kinds or e["kind"] in kinds]


def stored(h, inc_id):
    return IncidentRepository(h.store).load(inc_id)[0]


def triggers(h, inc_id):
    return [e.dedup_key for e in h.pager.events if e.action == "trigger" and e.dedup_key.startswith(inc_id)]


def test_the_shipped_runbook_pauses_sev3_and_sev4_for_five_minutes():
    assert bootstrap.load_runbook(bootstrap.settings().runbook_file).pause == {
        "SEV-3": timedelta(minutes=5), "SEV-4": timedelta(minutes=5)}


def test_a_transient_sev4_resolves_at_once_with_no_ticket_and_no_chat(h, clock):
    body = metric_alert("a1", **NOISY)
    out = h.alert(body)
    inc = out["incident_id"]
    assert out["severity"] == "SEV-4"
    assert iso(stored(h, inc).escalation.pause_until) == "2026-11-27T03:05:00.000000Z"
    assert any("Noise-control pause" in t and "03:05:00" in t for t in texts(h, inc, "escalation"))
    assert h.show(inc)["escalation"]["next"]["due_at"] == "2026-11-27T03:05:00.000000Z"
    h.tick()
    h.run_for(3)
    assert queued(h, inc, "ticket", "chat") == []
    assert h.alert(resolved(body, at="2026-11-27T03:03:00Z")) == {
        "incident_id": inc, "outcome": "resolved", "severity": "SEV-4"}
    shown = h.show(inc)
    assert shown["state"] == "resolved" and shown["resolved_at"] == "2026-11-27T03:03:00.000000Z"
    assert stored(h, inc).transient is True and shown["transient"] is True   # the incident JSON says so too
    last = shown["timeline"][-1]
    assert last["kind"] == "resolved" and last["actor"] == "automation"
    assert last["text"] == "Resolved by automation: Transient: every alert resolved within the 5-minute pause; no ticket, no chat"
    h.run_for(30)
    assert queued(h, inc, "ticket", "chat") == []
    assert texts(h, inc, "communication", "delivery") == []
    assert stored(h, inc).comms.get("ticket") is None and stored(h, inc).comms.get("chat") is None
    assert [r for r in h.store.scan(start="due|", end="due}").records if r.data["incident_id"] == inc] == []


def test_a_recovery_notice_within_the_pause_is_transient_too(h):
    inc = h.alert(resource_health("rh1", target=OTHER_ID, status="Degraded"))["incident_id"]
    assert h.show(inc)["severity"] == "SEV-3"
    h.run_for(2)
    assert h.alert(resource_health("rh2", target=OTHER_ID, status="Available", previous="Degraded",
                                   fired="2026-11-27T03:02:00Z"))["outcome"] == "resolved"
    assert stored(h, inc).transient is True and h.show(inc)["state"] == "resolved"
    h.run_for(10)
    assert queued(h, inc, "ticket", "chat") == []


def test_a_sev4_still_firing_at_the_end_of_the_pause_gets_its_ticket_and_chat_then(h, clock):
    body = metric_alert("a1", **NOISY)
    inc = h.alert(body)["incident_id"]
    h.tick()
    h.run_for(4, tick_seconds=30)
    h.clock.advance(seconds=59)
    h.tick()                                        # 03:04:59
    assert queued(h, inc, "ticket", "chat") == []
    h.clock.advance(seconds=1)
    h.tick()                                        # 03:05:00, the end of the pause
    assert sorted(queued(h, inc, "ticket", "chat")) == ["chat", "ticket"]
    shown = h.show(inc)
    assert shown["escalation"]["done"] == [{"step": "ticket", "at": "2026-11-27T03:05:00.000000Z"}]
    assert any("Jira ticket queued" in t for t in texts(h, inc, "communication"))
    clock.advance(minutes=5)
    assert h.alert(resolved(body, at="2026-11-27T03:10:30Z"))["outcome"] == "resolved"
    assert h.show(inc)["transient"] is False
    inc_now = stored(h, inc)
    assert inc_now.transient is False and inc_now.state == "triggered" and inc_now.phase == "monitoring"


def test_a_second_firing_ends_the_pause_and_the_held_work_goes_out_in_the_same_change(h, clock):
    inc = h.alert(metric_alert("a1", **NOISY))["incident_id"]
    clock.advance(minutes=2)
    before = len(h.store.queued)
    assert h.alert(metric_alert("a2", **NOISY))["outcome"] == "correlated"
    assert sorted(m["channel"] for m in h.store.queued[before:]) == ["chat", "ticket"]   # no tick in between
    assert h.show(inc)["escalation"]["done"] == [{"step": "ticket", "at": "2026-11-27T03:02:00.000000Z"}]
    assert any("pause ended early: another alert joined ('batch-jobs')" in t for t in texts(h, inc, "escalation"))
    h.alert(resolved(metric_alert("a1", **NOISY)))
    h.alert(resolved(metric_alert("a2", **NOISY)))
    assert stored(h, inc).transient is False and stored(h, inc).phase == "monitoring"  # it was not noise
    h.run_for(20)
    assert [m["action"] for m in h.store.queued if m["incident_id"] == inc and m["channel"] == "ticket"] == [
        "create", "comment", "resolve"]     # the phase change to monitoring, the stability window's resolution
    assert h.show(inc)["state"] == "resolved"


def test_a_sev1_of_the_same_rule_is_paged_at_once(h):
    quiet = h.alert(metric_alert("a1", **NOISY))["incident_id"]
    loud = h.alert(metric_alert("b1", target=OTHER_ID + "-eu", rule="batch-jobs", severity="Sev0",
                                custom={"severity": "SEV-1"}))
    assert loud["outcome"] == "created" and loud["severity"] == "SEV-1"
    assert stored(h, loud["incident_id"]).escalation.pause_until is None
    assert queued(h, loud["incident_id"], "pagerduty") == ["pagerduty"]              # in the creating batch
    h.tick()
    assert triggers(h, loud["incident_id"]) == [f"{loud['incident_id']}.primary"]
    assert queued(h, quiet, "ticket", "chat") == []                                  # the SEV-4 still waits


def test_a_sev1_joining_during_the_pause_raises_it_and_pages_at_once(h, clock):
    inc = h.alert(metric_alert("a1", **NOISY))["incident_id"]
    clock.advance(minutes=1)
    up = h.alert(metric_alert("a2", target=OTHER_ID, rule="batch-jobs", severity="Sev0",
                              custom={"impact": "core", "scope": "all"}))
    assert up == {"incident_id": inc, "outcome": "correlated", "severity": "SEV-1"}
    mine = [(m["channel"], m["action"]) for m in h.store.queued if m["incident_id"] == inc]   # no tick in between
    assert ("pagerduty", "trigger") in mine and ("ticket", "create") in mine
    assert any("pause ended early: an alert joined and raised it to SEV-1" in t for t in texts(h, inc, "escalation"))
    h.tick()
    assert triggers(h, inc) == [f"{inc}.primary"]


def test_a_severity_raise_to_sev2_by_a_joining_alert_ends_the_pause(h, clock):
    inc = h.alert(metric_alert("a1", **NOISY))["incident_id"]
    clock.advance(seconds=30)
    up = h.alert(metric_alert("a2", target=OTHER_ID, rule="batch-jobs", severity="Sev2",
                              custom={"severity": "SEV-2"}))
    assert up["severity"] == "SEV-2"
    h.tick()
    assert triggers(h, inc) == [f"{inc}.primary"]
    assert h.show(inc)["escalation"]["done"][0]["at"] == "2026-11-27T03:00:30.000000Z"


def test_the_pause_only_waits_for_alerts_a_declared_incident_starts_at_once(h):
    from shared.services.commands import declare
    inc = declare({"title": "Typo on the invoice page", "severity": "SEV-4"}, "carol",
                  store=h.store, clock=h.clock, runbook=h.runbook, paging=h.paging())
    assert stored(h, inc["id"]).escalation.pause_until is None
    assert sorted(queued(h, inc["id"], "ticket", "chat")) == ["chat", "ticket"]


def test_without_a_pause_in_the_runbook_the_ticket_goes_out_at_once(clock):
    import dataclasses
    h = Harness(RecordingRecordStore(), clock, runbook=dataclasses.replace(bootstrap.load_runbook(
        bootstrap.settings().runbook_file), pause={}))
    inc = h.alert(metric_alert("a1", **NOISY))["incident_id"]
    assert sorted(queued(h, inc, "ticket", "chat")) == ["chat", "ticket"]


# ---- policy ------------------------------------------------------------------------------------

def _book(pause) -> Runbook:
    raw = tomllib.loads(Path(bootstrap.settings().runbook_file).read_text())
    raw["intake"]["pause_minutes"] = pause
    return Runbook.from_dict(raw)


@pytest.mark.parametrize("sev", ["SEV-1", "SEV-2"])
def test_pages_are_never_paused(sev):
    with pytest.raises(PolicyError) as e:
        _book({"SEV-4": 5, sev: 1})
    assert str(e.value) == f"intake.pause_minutes.{sev}: pages are never paused"


@pytest.mark.parametrize("value", [-1, "5", True, [5]])
def test_a_pause_must_be_a_non_negative_number_of_minutes(value):
    with pytest.raises(PolicyError) as e:
        _book({"SEV-3": value})
    assert "intake.pause_minutes.SEV-3" in str(e.value) and "non-negative number of minutes" in str(e.value)


def test_pause_keys_and_shape_are_checked():
    with pytest.raises(PolicyError, match=r"intake\.pause_minutes\.SEV-5"):
        _book({"SEV-5": 5})
    with pytest.raises(PolicyError, match=r"intake\.pause_minutes must be a table"):
        _book(5)


def test_a_pause_may_be_fractional_zero_or_absent():
    assert _book({"SEV-3": 0.5, "SEV-4": 0}).pause == {"SEV-3": timedelta(seconds=30)}
    raw = tomllib.loads(Path(bootstrap.settings().runbook_file).read_text())
    raw["intake"].pop("pause_minutes")
    assert Runbook.from_dict(raw).pause == {}
