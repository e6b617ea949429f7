"""The post-incident review: deadlines on the shipped runbook's calendar, the status machine, action items."""
from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from shared.domain.classification import declared
from shared.domain.errors import Conflict, InvalidInput
from shared.domain.incident import Incident
from shared.domain.policy import Runbook
from shared.domain.review import MAX_ITEMS, NOT_REQUIRED, TRANSITIONS, Review

RUNBOOK = Runbook.from_dict(tomllib.loads((Path(__file__).resolve().parents[2] / "runbook.toml").read_text()))
CAL = RUNBOOK.calendar
BERLIN = ZoneInfo("Europe/Berlin")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def start(severity: str, resolved_at: datetime) -> Review:
    return Review.start(severity, resolved_at, sla=RUNBOOK.sla, calendar=CAL)


def record(review: Review, body: dict, now: datetime) -> tuple[Review, list[tuple[str, str]]]:
    return review.record(body, now=now, calendar=CAL)


def test_the_shipped_calendar_is_the_one_these_tests_assume():
    assert CAL.timezone == "Europe/Berlin"
    assert {"2026-05-01", "2026-05-14", "2026-05-25"} <= {d.isoformat() for d in CAL.holidays}


# -- deadlines ------------------------------------------------------------------------------------
@pytest.mark.parametrize("resolved, meeting_due", [
    (utc(2026, 6, 10, 9, 30), utc(2026, 6, 12, 9, 30)),        # a plain Wednesday
    (utc(2026, 6, 12, 22, 0), utc(2026, 6, 14, 22, 0)),        # wall clock: a weekend counts
    (utc(2026, 3, 28, 10, 0), utc(2026, 3, 30, 10, 0)),        # across DST start: still 48 real hours
    (local(2026, 4, 30, 18, 0), local(2026, 5, 2, 18, 0)),     # across the May Day holiday
])
def test_sev1_meets_within_48_wall_clock_hours(resolved, meeting_due):
    r = start("SEV-1", resolved)
    assert (r.required, r.status, r.due_at) == (True, "pending", meeting_due)
    assert r.due_at - resolved == timedelta(hours=48)


@pytest.mark.parametrize("resolved, meeting_due", [
    (local(2026, 6, 10, 11, 0), local(2026, 6, 17, 17, 0)),    # Wed -> Wed: over one weekend
    (local(2026, 6, 12, 23, 30), local(2026, 6, 19, 17, 0)),   # late Friday: counted from Friday's date
    (local(2026, 6, 13, 10, 0), local(2026, 6, 19, 17, 0)),    # Saturday: Mon..Fri
    (local(2026, 4, 30, 10, 0), local(2026, 5, 8, 17, 0)),     # May 1st (Fri) is a holiday: skipped
    (local(2026, 5, 20, 10, 0), local(2026, 5, 28, 17, 0)),    # Whit Monday (25th) is skipped
])
def test_sev2_meets_within_5_business_days(resolved, meeting_due):
    assert start("SEV-2", resolved).due_at == meeting_due


def test_sev2_deadline_moves_in_utc_when_dst_ends():
    # 17:00 in Berlin is 15:00 UTC in summer time and 16:00 UTC after Sunday 25 October.
    before = start("SEV-2", utc(2026, 10, 14, 10, 0)).due_at     # Wed -> Wed 21 Oct, CEST
    after = start("SEV-2", utc(2026, 10, 21, 10, 0)).due_at      # Wed -> Wed 28 Oct, CET
    assert (before, after) == (utc(2026, 10, 21, 15, 0), utc(2026, 10, 28, 16, 0))


@pytest.mark.parametrize("severity", ["SEV-3", "SEV-4"])
def test_sev3_and_sev4_need_no_review(severity):
    r = start(severity, utc(2026, 6, 10, 9, 0))
    assert (r.required, r.status, r.due_at, r.report_due_at) == (False, NOT_REQUIRED, None, None)
    assert r.overdue(utc(2027, 1, 1)) == ()


def test_report_is_provisionally_due_5_business_days_after_the_meeting_deadline():
    r = start("SEV-1", utc(2026, 6, 8, 10, 0))              # meeting due Wed 10 June 10:00 UTC
    assert r.report_due_provisional
    assert r.report_due_at == local(2026, 6, 17, 17, 0)    # Thu, Fri, Mon, Tue, Wed


def test_holding_the_meeting_fixes_the_report_deadline_5_business_days_later():
    r = start("SEV-2", local(2026, 5, 18, 10, 0))
    held, events = record(r, {"meeting": {"at": "2026-05-21T12:00:00Z"}}, now=utc(2026, 5, 21, 14, 0))
    # Thu 21 May: Fri 22, (Sat, Sun, Whit Monday), Tue 26, Wed 27, Thu 28, Fri 29.
    assert (held.status, held.report_due_at, held.report_due_provisional) == ("held", local(2026, 5, 29, 17, 0), False)
    assert events == [("review", "Post-incident review meeting held at 2026-05-21T12:00:00Z; written report due by "
                                 "2026-05-29T15:00:00Z")]


def test_report_deadline_after_a_meeting_held_across_the_dst_change():
    r = start("SEV-1", utc(2026, 3, 25, 8, 0))
    held, _ = record(r, {"meeting": {"at": "2026-03-26T14:00:00Z"}}, now=utc(2026, 3, 26, 15, 0))
    assert held.report_due_at == utc(2026, 4, 2, 15, 0)    # Thu 2 April 17:00 CEST (Good Friday is the 3rd)


def test_overdue_names_the_missed_deadline():
    r = start("SEV-1", utc(2026, 6, 8, 10, 0))               # meeting by 10 June 10:00, report by 17 June 15:00
    assert r.overdue(utc(2026, 6, 10, 10, 0)) == ()           # exactly at the deadline is in time
    assert r.overdue(utc(2026, 6, 10, 10, 1)) == ("meeting",)
    assert r.overdue(utc(2026, 6, 18)) == ("meeting", "report")
    held, _ = record(r, {"meeting": {"at": "2026-06-11T09:00:00Z"}}, now=utc(2026, 6, 11, 10, 0))
    assert held.report_due_at == utc(2026, 6, 18, 15, 0)     # Thu 11 -> Thu 18 June, 17:00 CEST
    assert held.overdue(utc(2026, 6, 18, 15, 0)) == ()        # the provisional 17 June has passed: no matter
    assert held.overdue(utc(2026, 6, 18, 15, 1)) == ("report",)
    published, _ = record(held, {"report_url": "https://wiki.example/pir/1"}, now=utc(2026, 6, 19))
    assert published.overdue(utc(2026, 12, 1)) == ()


# -- the status machine ---------------------------------------------------------------------------
def test_transition_table():
    assert {k: sorted(v) for k, v in TRANSITIONS.items()} == {
        NOT_REQUIRED: ["held", "scheduled"], "pending": ["held", "scheduled"], "scheduled": ["held"],
        "held": ["report_published"], "report_published": ["closed"], "closed": []}


def test_the_whole_way_pending_scheduled_held_published_closed():
    r = start("SEV-2", utc(2026, 6, 8, 10, 0))
    r, ev1 = record(r, {"meeting": {"at": "2026-06-11T09:00:00Z", "attendees": ["ana", "bo"]}}, now=utc(2026, 6, 9))
    assert r.status == "scheduled" and r.report_due_provisional
    meeting = {"meeting": {"at": "2026-06-11T09:00:00Z", "attendees": ["ana", "bo"]}}
    r, ev2 = record(r, meeting, now=utc(2026, 6, 11, 10, 0))     # the same meeting, now past: it was held
    assert r.status == "held"
    r, ev3 = record(r, {"report_url": "https://wiki.example/pir/7"}, now=utc(2026, 6, 12))
    r, ev4 = record(r, {"status": "closed"}, now=utc(2026, 6, 12, 1))
    assert (r.status, r.closed_at) == ("closed", utc(2026, 6, 12, 1))
    assert [t for _, t in ev1 + ev2 + ev3 + ev4] == [
        "Post-incident review meeting scheduled for 2026-06-11T09:00:00Z with ana, bo",
        "Post-incident review meeting held at 2026-06-11T09:00:00Z with ana, bo; written report due by "
        "2026-06-18T15:00:00Z",
        "Post-incident report published: https://wiki.example/pir/7",
        "Post-incident review closed: 0 action item(s) done, 0 won't fix"]


def test_a_meeting_in_the_past_goes_straight_from_pending_to_held():
    r, _ = record(start("SEV-1", utc(2026, 6, 8, 10, 0)), {"meeting": {"at": "2026-06-09T09:00:00+02:00"}},
                  now=utc(2026, 6, 9, 12, 0))
    assert (r.status, r.meeting_at) == ("held", utc(2026, 6, 9, 7, 0))


def test_everything_in_one_body_is_applied_in_order():
    body = {"status": "closed", "report_url": "https://wiki.example/pir/8", "root_cause": "A full disk",
            "meeting": {"at": "2026-06-09T09:00:00Z"},
            "action_items": [{"text": "Alert on disk space", "owner": "ana", "status": "done"}]}
    r, events = record(start("SEV-1", utc(2026, 6, 8, 10, 0)), body, now=utc(2026, 6, 10))
    assert r.status == "closed" and r.root_cause == "A full disk"
    assert [t.split(":")[0] for _, t in events] == [
        "Action item A1 added", "Post-incident review meeting held at 2026-06-09T09", "Post-incident report published",
        "Root cause recorded", "Post-incident review closed"]
    again, more = record(r, body, now=utc(2026, 6, 11))          # a retried POST
    assert (again, more) == (r, [])


@pytest.mark.parametrize("body, message", [
    ({"report_url": "https://wiki.example/r"}, "the review is pending: it cannot become report_published "
                                               "(next: held or scheduled); the written report follows the meeting"),
    ({"status": "closed"}, "the review is pending: it cannot become closed (next: held or scheduled)"),
])
def test_refused_transitions_from_pending(body, message):
    with pytest.raises(Conflict, match=message.replace("(", r"\(").replace(")", r"\)")):
        record(start("SEV-1", utc(2026, 6, 8)), body, now=utc(2026, 6, 9))


def test_refused_transitions_later_on():
    r = start("SEV-1", utc(2026, 6, 8))
    held, _ = record(r, {"meeting": {"at": "2026-06-09T09:00:00Z"}}, now=utc(2026, 6, 9, 10))
    with pytest.raises(Conflict, match="was held at 2026-06-09T09:00:00Z: it cannot be scheduled again"):
        record(held, {"meeting": {"at": "2026-06-20T09:00:00Z"}}, now=utc(2026, 6, 10))
    with pytest.raises(Conflict, match="the review is held: it cannot become closed"):
        record(held, {"status": "closed"}, now=utc(2026, 6, 10))
    published, _ = record(held, {"report_url": "https://wiki.example/r"}, now=utc(2026, 6, 10))
    with pytest.raises(Conflict, match="the review is report_published: its meeting can no longer change"):
        record(published, {"meeting": {"at": "2026-06-09T10:00:00Z"}}, now=utc(2026, 6, 10))
    closed, _ = record(published, {"status": "closed"}, now=utc(2026, 6, 11))
    for body in ({"root_cause": "changed"}, {"action_items": [{"text": "x", "owner": "y"}]}):
        with pytest.raises(Conflict, match="the review is closed"):
            record(closed, body, now=utc(2026, 6, 12))


def test_closing_waits_for_every_action_item():
    r, _ = record(start("SEV-1", utc(2026, 6, 8)), {
        "meeting": {"at": "2026-06-09T09:00:00Z"}, "report_url": "https://wiki.example/r",
        "action_items": [{"text": "Add a disk alert", "owner": "ana"}, {"text": "Rotate logs", "owner": "bo"}]},
        now=utc(2026, 6, 10))
    with pytest.raises(Conflict, match="action items A1, A2 are still open: mark each done or wont_fix"):
        record(r, {"status": "closed"}, now=utc(2026, 6, 11))
    body = {"status": "closed", "action_items": [{"id": "A1", "status": "done"}, {"id": "A2", "status": "wont_fix"}]}
    closed, events = record(r, body, now=utc(2026, 6, 11))
    assert closed.status == "closed"
    assert events[-1] == ("review", "Post-incident review closed: 1 action item(s) done, 1 won't fix")


def test_a_voluntary_review_of_a_sev3_follows_the_same_machine():
    r, _ = record(start("SEV-3", utc(2026, 6, 8)), {"meeting": {"at": "2026-06-12T09:00:00Z"}}, now=utc(2026, 6, 9))
    assert (r.status, r.required, r.overdue(utc(2027, 1, 1))) == ("scheduled", False, ())


def test_a_scheduled_meeting_can_move_and_says_when_it_is_late():
    r, _ = record(start("SEV-1", utc(2026, 6, 8, 10)), {"meeting": {"at": "2026-06-09T09:00:00Z"}},
                  now=utc(2026, 6, 8, 11))
    moved, events = record(r, {"meeting": {"at": "2026-06-11T09:00:00Z"}}, now=utc(2026, 6, 8, 12))
    assert moved.status == "scheduled"
    assert events == [("review", "Post-incident review meeting moved to 2026-06-11T09:00:00Z "
                                 "(after its deadline 2026-06-10T10:00:00Z)")]


# -- action items ---------------------------------------------------------------------------------
def test_items_get_deterministic_ids_and_updates_are_idempotent():
    r = start("SEV-1", utc(2026, 6, 8))
    items = [{"text": "Add a disk alert", "owner": "ana", "due": "2026-06-30"}, {"text": "Rotate logs", "owner": "bo"}]
    r, events = r.upsert_items(items)
    assert [(i.id, i.status) for i in r.items] == [("A1", "open"), ("A2", "open")]
    assert events[0] == ("review", "Action item A1 added: Add a disk alert (owner ana, due 2026-06-30)")
    same, none = r.upsert_items(items)                                   # a retry: matched by text + owner
    assert (same, none) == (r, [])
    r, events = r.upsert_items([{"text": "add a DISK alert ", "owner": "Ana", "due": "2026-07-03"},
                                {"id": "A2", "ticket": "OPS-42", "link": "https://jira.example/browse/OPS-42"},
                                {"text": "Rotate logs", "owner": "cy"}])
    assert [(i.id, i.owner, i.due, i.ticket) for i in r.items] == [
        ("A1", "ana", "2026-07-03", None), ("A2", "bo", None, "OPS-42"), ("A3", "cy", None, None)]
    assert events[0] == ("review", "Action item A1 updated: due 2026-06-30 → 2026-07-03")
    assert events[1] == ("review", "Action item A2 updated: link - → https://jira.example/browse/OPS-42, "
                                   "ticket - → OPS-42")


def test_the_review_round_trips_through_the_incident_dict():
    r, _ = record(start("SEV-2", utc(2026, 6, 8, 10)), {
        "meeting": {"at": "2026-06-09T09:00:00Z", "attendees": ["ana"]}, "root_cause": "A full disk",
        "action_items": [{"text": "Add a disk alert", "owner": "ana", "due": "2026-06-30", "ticket": "OPS-1"}]},
        now=utc(2026, 6, 10))
    assert Review.from_dict(r.to_dict()) == r
    assert {"required", "due_at", "status"} <= set(r.to_dict())


def test_the_first_stored_shape_still_reads():
    inc = Incident.declare("INC-1", title="Checkout down", actor="ana", now=utc(2026, 6, 8, 9),
                           c=declared(actor="ana", severity="SEV-1", impact=None, scope=None))
    with pytest.raises(Conflict, match="INC-1 is not resolved"):
        Review.from_incident(inc, RUNBOOK)
    inc.resolve("ana", utc(2026, 6, 8, 10), runbook=RUNBOOK)
    doc = inc.to_doc()
    assert {"required", "due_at", "status", "report_due_at", "action_items"} <= set(doc["pir"])   # the whole review
    doc["pir"] = {k: doc["pir"][k] for k in ("required", "due_at", "status")}   # as incidents resolved before it did
    inc = Incident.from_doc(doc)
    r = Review.from_incident(inc, RUNBOOK)
    assert (r.status, r.due_at, r.resolved_at) == ("pending", utc(2026, 6, 10, 10), utc(2026, 6, 8, 10))
    assert r.report_due_at == local(2026, 6, 17, 17, 0) and r.report_due_provisional


def test_the_review_is_typed_on_the_incident_and_its_stored_form_round_trips():
    inc = Incident.declare("INC-2", title="Checkout down", actor="ana", now=utc(2026, 6, 8, 9),
                           c=declared(actor="ana", severity="SEV-1", impact=None, scope=None))
    assert inc.pir is None and inc.to_doc()["pir"] == {}
    inc.resolve("ana", utc(2026, 6, 8, 10), runbook=RUNBOOK)
    assert isinstance(inc.pir, Review) and inc.pir.due_at == utc(2026, 6, 10, 10)
    stored = inc.to_doc()
    again = Incident.from_doc(stored)
    assert again.pir == inc.pir and again.to_doc()["pir"] == stored["pir"]


# -- validation -----------------------------------------------------------------------------------
@pytest.mark.parametrize("body, path, message", [
    ([], "$", "must be an object"),
    ({}, "$", "nothing to record"),
    ({"agenda": "x"}, "$.agenda", "is not a review field"),
    ({"status": "held"}, "$.status", "only 'closed' can be set"),
    ({"meeting": {"attendees": []}}, "$.meeting.at", "is required"),
    ({"meeting": {"at": "tomorrow"}}, "$.meeting.at", "must be an ISO-8601 date-time"),
    ({"meeting": {"at": "2026-06-07T09:00:00Z"}}, "$.meeting.at", "is before the incident was resolved"),
    ({"meeting": {"at": "2026-06-09T09:00:00Z", "attendees": ["ana", " "]}}, "$.meeting.attendees[1]",
     "must be a non-blank string"),
    ({"meeting": {"at": "2026-06-09T09:00:00Z", "room": 4}}, "$.meeting.room", "is not a meeting field"),
    ({"report_url": "wiki/pir"}, "$.report_url", "must be an http(s) URL"),
    ({"root_cause": 42}, "$.root_cause", "must be a string"),
    ({"action_items": {"text": "x"}}, "$.action_items", "must be a list"),
    ({"action_items": [{"owner": "ana"}]}, "$.action_items[0].text", "is required for a new action item"),
    ({"action_items": [{"text": "x" * 501, "owner": "ana"}]}, "$.action_items[0].text", "at most 500 characters"),
    ({"action_items": [{"text": "x", "owner": "a", "due": "30.06.2026"}]}, "$.action_items[0].due",
     "must be a date YYYY-MM-DD"),
    ({"action_items": [{"text": "x", "owner": "a", "due": "2026-02-30"}]}, "$.action_items[0].due", "is not a date"),
    ({"action_items": [{"text": "x", "owner": "a"}, {"text": "y", "owner": "a", "status": "wip"}]},
     "$.action_items[1].status", "must be one of open, done, wont_fix"),
    ({"action_items": [{"id": "A9", "status": "done"}]}, "$.action_items[0].id", "no action item 'A9'"),
    ({"action_items": [{"text": "x", "owner": "a", "ticket": "ops 42"}]}, "$.action_items[0].ticket",
     "must be a Jira issue key"),
    ({"action_items": [{"text": "x", "owner": "a", "priority": 1}]}, "$.action_items[0].priority",
     "is not an action item field"),
])
def test_validation_names_the_path(body, path, message):
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(")", r"\)")) as e:
        record(start("SEV-1", utc(2026, 6, 8)), body, now=utc(2026, 6, 10))
    assert e.value.path == path


def test_at_most_50_items():
    r = start("SEV-1", utc(2026, 6, 8))
    r, _ = r.upsert_items([{"text": f"item {n}", "owner": "ana"} for n in range(MAX_ITEMS)])
    assert r.items[-1].id == "A50"
    with pytest.raises(InvalidInput, match="at most 50 action items") as e:
        r.upsert_items([{"text": "one more", "owner": "ana"}])
    assert e.value.path == "$.action_items[0]"
    with pytest.raises(InvalidInput, match="at most 50"):
        start("SEV-1", utc(2026, 6, 8)).upsert_items([{"text": "x", "owner": "a"}] * 51)
