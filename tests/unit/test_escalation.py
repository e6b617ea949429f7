"""The escalation ladder on an injected clock: every severity, acknowledgment, resolution, re-plan,
security, silences, SLA clocks and on-call overrides. A one-hour ladder runs in milliseconds."""
from __future__ import annotations

from datetime import datetime

import pytest

from shared.domain.errors import Conflict
from shared.services.oncall import add_override
from shared.services.silences import create_silence
from tests.harness import Harness, RecordingPager
from tests.payloads import API_ID, OTHER_ID, metric_alert


@pytest.fixture
def h(memory_store, clock):
    return Harness(memory_store, clock)


def pages(h, inc_id):
    """(minute after start, role) for every PagerDuty trigger sent, in order."""
    return [e.dedup_key.split(".", 1)[1] for e in h.pager.events if e.action == "trigger"
            and e.dedup_key.startswith(inc_id)]


def page_minutes(h, inc_id):
    inc = h.show(inc_id)
    start = datetime.fromisoformat(inc["created_at"].replace("Z", "+00:00"))
    return {e["role"]: (datetime.fromisoformat(e["at"].replace("Z", "+00:00")) - start).total_seconds() / 60
            for e in [dict(role=k, at=v["at"]) for k, v in inc["escalation"]["paged"].items()]}


def sev1(h):
    return h.alert(metric_alert("a1", severity="Sev0"))["incident_id"]


def test_sev1_left_alone_walks_the_whole_ladder_each_step_once(h):
    inc = sev1(h)
    h.tick()
    assert pages(h, inc) == ["primary"]
    h.run_for(61)
    sent = pages(h, inc)
    assert sent[:3] == ["primary", "secondary", "engineering_lead"] and sent[5:] == ["cto"]
    assert sorted(sent[3:5]) == ["customer_success_lead", "vp_engineering"]
    assert page_minutes(h, inc) == {"primary": 0, "secondary": 10, "engineering_lead": 15, "vp_engineering": 30,
                                    "customer_success_lead": 30, "cto": 60}
    shown = h.show(inc)
    assert [d["step"] for d in shown["escalation"]["done"]] == ["primary", "secondary", "engineering_lead",
                                                                  "executives", "cto"]
    assert shown["escalation"]["next"] is None
    kinds = [e["text"] for e in shown["timeline"] if e["kind"] in ("communication", "public-status")]
    assert any("Public status investigating published" in t for t in kinds)   # the 60-minute step
    assert any("Customer email drafted" in t for t in kinds)                  # the 30-minute step
    h.run_for(30)
    assert len(pages(h, inc)) == 6  # nothing fires twice


def test_sev2_ladder(h):
    inc = h.alert(metric_alert("a1", severity="Sev2", metric="ResponseTime"))["incident_id"]
    assert h.show(inc)["severity"] == "SEV-2"
    h.tick()
    h.run_for(31)
    assert page_minutes(h, inc) == {"primary": 0, "secondary": 10, "engineering_lead": 30}


@pytest.mark.parametrize("sev", ["Sev3", "Sev4"])
def test_sev3_and_sev4_page_nobody_but_schedule_ticket_and_chat(h, sev):
    inc = h.alert(metric_alert("a1", target=OTHER_ID, rule="x", severity=sev))["incident_id"]
    h.tick()
    h.run_for(60)
    assert pages(h, inc) == []
    texts = [e["text"] for e in h.show(inc)["timeline"] if e["kind"] in ("communication", "delivery")]
    assert any("Jira ticket queued" in t for t in texts) and any("queued for chat" in t for t in texts)


def test_acknowledged_at_5_minutes_never_pages_the_secondary(h):
    inc = sev1(h)
    h.tick()
    h.run_for(5)
    h.command("acknowledge", inc, {"message": "on it"}, actor="alice")
    h.run_for(20)
    assert pages(h, inc) == ["primary", "engineering_lead"]
    acks = [e for e in h.pager.events if e.action == "acknowledge"]
    assert [e.dedup_key for e in acks] == [f"{inc}.primary"]
    ack_event = next(e for e in h.show(inc)["timeline"] if e["kind"] == "acknowledged")
    assert ack_event["actor"] == "alice" and ack_event["text"] == "Acknowledged by alice: on it"


def test_resolved_at_20_minutes_never_reaches_the_vp(h):
    inc = sev1(h)
    h.tick()
    h.run_for(20)
    h.command("resolve", inc, actor="bob")
    h.run_for(60)
    assert pages(h, inc) == ["primary", "secondary", "engineering_lead"]
    resolves = sorted(e.dedup_key for e in h.pager.events if e.action == "resolve")
    assert resolves == sorted(f"{inc}.{r}" for r in ("primary", "secondary", "engineering_lead"))
    shown = h.show(inc)
    assert shown["pir"]["required"] and shown["pir"]["due_at"] == "2026-11-29T03:20:00Z"  # 48 h


def test_acknowledging_a_resolved_incident_is_a_conflict(h):
    inc = sev1(h)
    h.command("resolve", inc)
    with pytest.raises(Conflict):
        h.command("acknowledge", inc)


def test_sev2_raised_to_sev1_at_20_minutes(h):
    inc = h.alert(metric_alert("a1", severity="Sev2", metric="ResponseTime"))["incident_id"]
    h.tick()
    h.run_for(20)
    assert pages(h, inc) == ["primary", "secondary"]
    h.command("set_severity", inc, {"severity": "SEV-1", "reason": "customers report outage"})
    h.tick()  # same instant: the engineering lead (15 min on the SEV-1 ladder) fires at once
    assert pages(h, inc) == ["primary", "secondary", "engineering_lead"]
    h.run_for(9, tick_seconds=60)
    assert "vp_engineering" not in pages(h, inc)
    h.run_for(1, tick_seconds=60)
    assert sorted(pages(h, inc)[-2:]) == ["customer_success_lead", "vp_engineering"]
    assert pages(h, inc).count("primary") == 1 and pages(h, inc).count("secondary") == 1


def test_security_incident_pages_security_lead_and_vp_at_once(h):
    inc = h.alert(metric_alert("s1", target=OTHER_ID, rule="suspicious-signin", severity="Sev3",
                               custom={"category": "security"}))["incident_id"]
    assert h.show(inc)["security"] is True
    h.tick()
    assert set(pages(h, inc)) == {"security_lead", "vp_engineering", "primary"}


def test_a_silence_holds_every_page_until_it_ends(h, clock):
    create_silence({"match": {"target_resource_id": API_ID}, "end": "2026-11-27T03:30:00Z",
                    "reason": "planned maintenance"}, "ops", store=h.store, clock=clock)
    inc = sev1(h)
    silenced = [e for e in h.show(inc)["timeline"] if e["kind"] == "silenced"]
    assert silenced and "planned maintenance" in silenced[0]["text"]
    h.tick()
    h.run_for(29)
    assert pages(h, inc) == []
    h.run_for(1)
    assert pages(h, inc) == ["primary"]
    h.run_for(10)
    assert pages(h, inc) == ["primary", "secondary"]


def test_ending_a_silence_early_starts_the_ladder_at_once(h, clock):
    from shared.services.silences import delete_silence
    sil = create_silence({"match": {"target_resource_id": API_ID}, "end": "2026-11-27T05:00:00Z",
                          "reason": "maintenance"}, "ops", store=h.store, clock=clock)
    inc = sev1(h)
    h.run_for(5)
    assert pages(h, inc) == []
    out = delete_silence(sil["id"], "ops", store=h.store, clock=clock, runbook=h.runbook)
    assert out["released"] == [inc]
    h.tick()
    assert pages(h, inc) == ["primary"]
    h.run_for(10)
    assert pages(h, inc) == ["primary", "secondary"]


def test_without_a_routing_key_the_page_is_recorded_as_not_sent(memory_store, clock):
    h = Harness(memory_store, clock, keys={"secondary": "s" * 32})
    inc = sev1(h)
    h.tick()
    assert h.pager.events == []
    assert any("not sent: no PagerDuty routing key for primary" in e["text"] for e in h.show(inc)["timeline"])


def test_failed_page_is_retried_on_a_later_tick_and_never_dropped(memory_store, clock):
    pager = RecordingPager(ok=False)
    h = Harness(memory_store, clock, pager=pager)
    inc = sev1(h)
    h.tick()
    assert len(pager.events) == 1
    pager.ok = True
    h.run_for(1)
    assert [e.dedup_key for e in pager.events] == [f"{inc}.primary"] * 2
    texts = [e["text"] for e in h.show(inc)["timeline"] if e["kind"] == "delivery" and "PagerDuty" in e["text"]]
    assert "failed" in texts[0] and "will retry" in texts[0] and "delivered" in texts[1]
    h.run_for(1)
    assert len(pager.events) == 2


def test_sla_breaches_are_timeline_events_and_flags(h):
    inc = sev1(h)
    h.run_for(16)
    shown = h.show(inc)
    assert shown["sla"]["response_breached"] and not shown["sla"]["resolution_breached"]
    h.run_for(45)
    shown = h.show(inc)
    assert shown["sla"]["resolution_breached"]
    assert [e["text"].split(":")[0] for e in shown["timeline"] if e["kind"] == "sla-breach"] == [
        "Response SLA breached", "Resolution SLA breached"]


def test_acknowledged_in_time_is_no_response_breach(h):
    inc = sev1(h)
    h.run_for(14)
    h.command("acknowledge", inc)
    h.run_for(10)
    assert h.show(inc)["sla"]["response_breached"] is False


def test_an_override_is_who_gets_paged(h, clock):
    add_override({"role": "primary", "person": "zoe", "start": "2026-11-27T00:00:00Z",
                  "end": "2026-11-28T00:00:00Z", "reason": "swap"}, "alice", store=h.store, clock=clock)
    inc = sev1(h)
    h.tick()
    assert h.show(inc)["escalation"]["paged"]["primary"]["person"] == "zoe"
    assert any("(zoe)" in e["text"] for e in h.show(inc)["timeline"] if e["kind"] == "page")


def test_each_page_records_the_rotation_person(h):
    inc = sev1(h)
    h.tick()
    # 2026-11-27 is in the rotation's week 46 from 2026-01-05: 46 % 3 == 1 -> bob
    assert h.show(inc)["escalation"]["paged"]["primary"]["person"] == "bob"


def test_escalation_view_shows_done_and_next(h):
    inc = sev1(h)
    h.tick()
    esc = h.show(inc)["escalation"]
    assert esc["done"][0]["step"] == "primary"
    assert esc["next"] == {"step": "secondary", "roles": ["secondary"], "due_at": "2026-11-27T03:10:00.000000Z"}


def test_editing_the_runbook_does_not_change_a_running_incident(h):
    import dataclasses
    inc = sev1(h)
    h.runbook = dataclasses.replace(h.runbook, ladders={**h.runbook.ladders, "SEV-1": ()})
    h.tick()
    h.run_for(11)
    assert pages(h, inc) == ["primary", "secondary"]


def test_declared_incident_follows_its_ladder(h):
    from shared.services.commands import declare
    inc = declare({"title": "Checkout broken", "impact": "core", "scope": "all"}, "carol",
                  store=h.store, clock=h.clock, runbook=h.runbook, paging=h.paging())
    assert inc["severity"] == "SEV-1" and inc["source"] == "manual"
    h.tick()
    assert pages(h, inc["id"]) == ["primary"]


def test_a_security_alert_joining_an_open_incident_pages_security_lead_and_vp_at_once(h):
    inc = h.alert(metric_alert("a1", severity="Sev2", metric="ResponseTime"))["incident_id"]
    h.tick()
    h.run_for(3)
    h.alert(metric_alert("s1", severity="Sev3", rule="api-5xx", custom={"category": "security"}))
    h.tick()
    shown = h.show(inc)
    assert shown["security"] is True and shown["severity"] == "SEV-1"
    assert {"security_lead", "vp_engineering"} <= set(pages(h, inc))
    assert pages(h, inc).count("primary") == 1
