"""After the fire: the review clock and record, the post-mortem draft, the GDPR clock and the daily digest,
on an injected clock through the use cases (the same rows Azurite holds in the route tests)."""
from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest

from shared.adapters.clock import FixedClock
from shared.domain.errors import Conflict, InvalidInput
from shared.services import aftercare, reminders
from tests.harness import RUNBOOK, Harness
from tests.payloads import CORE, metric_alert

BOOK = dataclasses.replace(RUNBOOK, core_ids=CORE)


def sev1(h: Harness, **custom) -> str:
    return h.alert(metric_alert("p1", severity="Sev0", custom={"impact": "core", "scope": "all", **custom}))["incident_id"]


def chats(h: Harness, inc: str, kind: str) -> list[str]:
    """The chat messages of `kind` queued for the incident (each delivery attempt is on its timeline)."""
    return [e["text"] for e in h.show(inc)["timeline"] if e["kind"] == "delivery" and e["text"].startswith(f"Chat {kind}")]


def breach_lines(h: Harness, inc: str) -> list[str]:
    return [e["text"] for e in h.show(inc)["timeline"] if e["kind"] == "breach" and "GDPR" in e["text"]
            and ("reminder" in e["text"] or "OVERDUE" in e["text"])]


def test_a_resolved_sev1_owes_its_review_in_48_hours_and_the_record_moves_it(memory_store, clock):
    h = Harness(memory_store, clock, runbook=BOOK)
    inc = sev1(h)
    h.command("acknowledge", inc, {}, actor="alice")
    h.clock.advance(minutes=40)
    resolved = h.command("resolve", inc, {"message": "rolled back"}, actor="alice")
    pir = resolved["pir"]
    assert pir["status"] == "pending" and pir["required"]
    assert datetime.fromisoformat(pir["due_at"].replace("Z", "+00:00")) - clock.now() == timedelta(hours=48)
    assert pir["report_due_provisional"] and pir["report_due_at"] > pir["due_at"]
    meeting = (clock.now() + timedelta(hours=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = {"meeting": {"at": meeting, "attendees": ["alice", "bob"]},
            "action_items": [{"text": "Canary deployments", "owner": "bob", "due": "2027-01-15"}]}
    view = aftercare.record_review(inc, body, "alice", store=memory_store, clock=clock, runbook=BOOK)
    assert view["pir"]["status"] == "scheduled" and view["pir"]["action_items"][0]["id"] == "A1"
    again = aftercare.record_review(inc, body, "alice", store=memory_store, clock=clock, runbook=BOOK)
    assert again["pir"] == view["pir"]                                 # idempotent
    with pytest.raises(InvalidInput, match=r"\$\.action_items\[0\]\.status"):
        aftercare.record_review(inc, {"action_items": [{"id": "A1", "status": "maybe"}]}, "alice",
                                store=memory_store, clock=clock, runbook=BOOK)
    with pytest.raises(Conflict):
        aftercare.record_review(inc, {"status": "closed"}, "alice", store=memory_store, clock=clock, runbook=BOOK)


def test_the_postmortem_renders_the_real_timeline(memory_store, clock):
    h = Harness(memory_store, clock, runbook=BOOK)
    inc = sev1(h, tenants="contoso")
    h.tick()
    h.command("acknowledge", inc, {}, actor="alice")
    h.command("add_note", inc, {"text": "Error rate spiked after the 03:00 deploy"}, actor="alice")
    h.run_for(2)
    h.command("resolve", inc, {"message": "rolled back"}, actor="alice")
    draft = aftercare.postmortem(inc, store=memory_store, clock=clock, runbook=BOOK)
    md = draft["markdown"]
    assert md.startswith("# Post-Incident Report: ") and "**Severity:** SEV-1" in md and "**Lead:** alice" in md
    for section in ("## Summary", "## Timeline", "## Root Cause", "## Impact", "## Action Items", "## Lessons Learned"):
        assert section in md
    assert "Error rate spiked after the 03:00 deploy" in md and "contoso" in md
    assert "Blameless" in md or "blameless" in md
    lines = [ln for ln in md.splitlines() if ln.startswith("- ") and " - " in ln]
    assert len([ln for ln in lines if "delivered" in ln]) <= 3        # deliveries condensed


def test_the_gdpr_clock_reminds_at_24_48_66_and_marks_overdue_at_72(memory_store):
    clock = FixedClock(datetime(2026, 11, 27, 3, 0, tzinfo=timezone.utc))
    h = Harness(memory_store, clock, runbook=BOOK)
    inc = sev1(h)
    aware = clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    view = aftercare.record_breach(inc, {"personal_data": True, "aware_at": aware}, "sec", store=memory_store,
                                   clock=clock, runbook=BOOK)
    deadline = datetime.fromisoformat(view["breach"]["deadline"].replace("Z", "+00:00"))
    assert deadline - clock.now() == timedelta(hours=72)
    seen = {}
    for hour in range(1, 74):
        clock.advance(hours=1)
        h.tick()
        texts = breach_lines(h, inc)
        if len(texts) > len(seen):
            seen[hour] = texts[-1]
    assert list(seen) == [24, 48, 66, 72]
    assert "OVERDUE" in seen[72] and h.show(inc)["breach"]["overdue"] is True
    assert len(chats(h, inc, "GDPR reminder")) == 4                   # each in chat, to the security lead and VP
    with pytest.raises(InvalidInput, match=r"\$\.notified_at"):
        aftercare.record_breach(inc, {"notified_at": "2099-01-01T00:00:00Z", "authority": "CNIL"}, "sec",
                                store=memory_store, clock=clock, runbook=BOOK)
    aftercare.record_breach(inc, {"notified_at": aware, "authority": "CNIL", "reference": "N-1"}, "sec",
                            store=memory_store, clock=clock, runbook=BOOK)
    clock.advance(days=3)
    h.run_for(1)
    assert len(breach_lines(h, inc)) == 4                              # the clock stopped


def test_a_security_incident_is_asked_daily_until_answered(memory_store, clock):
    h = Harness(memory_store, clock, runbook=BOOK)
    from shared.services import commands
    inc = commands.declare({"title": "Leaked key", "security": True}, "sec", store=memory_store, clock=clock,
                           runbook=BOOK, paging=h.paging())["id"]
    h.tick()
    for _ in range(3):
        clock.advance(days=1)
        h.tick()
    assert len(chats(h, inc, "GDPR reminder")) == 4                   # at once, then once a day
    aftercare.record_breach(inc, {"personal_data": False}, "sec", store=memory_store, clock=clock, runbook=BOOK)
    clock.advance(days=2)
    h.tick()
    assert len(chats(h, inc, "GDPR reminder")) == 4


def test_the_daily_digest_goes_out_once_per_working_day_with_two_instances(memory_store):
    clock = FixedClock(datetime(2026, 11, 30, 7, 0, tzinfo=timezone.utc))    # a Monday
    h = Harness(memory_store, clock, runbook=BOOK)
    inc = sev1(h)
    h.command("resolve", inc, {}, actor="alice")
    aftercare.record_review(inc, {"action_items": [{"text": "Alert on disk", "owner": "bob", "due": "2026-12-01"}]},
                            "alice", store=memory_store, clock=clock, runbook=BOOK)
    assert reminders.daily(store=memory_store, clock=clock, runbook=BOOK) is None      # before 09:00 local
    clock.advance(hours=2)
    first = reminders.daily(store=memory_store, clock=clock, runbook=BOOK)
    second = reminders.daily(store=memory_store, clock=clock, runbook=BOOK)          # another instance
    assert first and second is None
    assert inc in first and "Action items for bob:" in first and "Alert on disk" in first
    digests = [r for r in memory_store.scan(start="out|chat|", end="out|chat}").records
               if r.data.get("kind") == "review digest"]
    assert len(digests) == 1
    clock.advance(days=5)                                                            # Saturday: nothing
    assert reminders.daily(store=memory_store, clock=clock, runbook=BOOK) is None


def test_an_alert_flagging_personal_data_starts_the_clock_at_its_firing_time(memory_store):
    clock = FixedClock(datetime(2026, 11, 27, 3, 0, tzinfo=timezone.utc))
    h = Harness(memory_store, clock, runbook=BOOK)
    body = metric_alert("pd1", severity="Sev0", custom={"impact": "core", "scope": "all", "personal_data": "true"})
    fired = body["data"]["essentials"]["firedDateTime"]
    inc = h.alert(body)["incident_id"]
    breach = h.show(inc)["breach"]
    assert breach["personal_data"] is True
    aware = datetime.fromisoformat(breach["aware_at"].replace("Z", "+00:00"))
    assert aware == min(datetime.fromisoformat(fired.replace("Z", "+00:00")), clock.now())
    assert datetime.fromisoformat(breach["deadline"].replace("Z", "+00:00")) - aware == timedelta(hours=72)
    no = h.alert(metric_alert("pd2", severity="Sev3", target="x", rule="r2",
                              custom={"personal_data": "no"}))["incident_id"]
    assert h.show(no)["breach"]["personal_data"] is False


def test_one_unreadable_review_row_never_hides_the_days_digest(memory_store):
    from shared.ports import Op
    clock = FixedClock(datetime(2026, 11, 30, 9, 30, tzinfo=timezone.utc))    # a Monday, 10:30 in Berlin
    h = Harness(memory_store, clock, runbook=BOOK)
    inc = sev1(h)
    h.command("resolve", inc, {}, actor="alice")
    aftercare.record_review(inc, {"action_items": [{"text": "Alert on disk", "owner": "bob", "due": "2026-12-01"}]},
                            "alice", store=memory_store, clock=clock, runbook=BOOK)
    memory_store.commit(ops=[Op("insert", "rev|00000000000000", {"incident_id": "INC-X", "status": "pending",
                                                                "due_at": "not a time", "items": "{broken"})])
    text = reminders.daily(store=memory_store, clock=clock, runbook=BOOK)
    assert text and "Alert on disk" in text and "INC-X" not in text
    clock.advance(minutes=15)
    calls = memory_store.round_trips
    assert reminders.daily(store=memory_store, clock=clock, runbook=BOOK) is None
    assert memory_store.round_trips - calls == 1                                 # the day's claim row, nothing more
