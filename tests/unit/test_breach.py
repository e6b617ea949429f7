"""The GDPR Article 33 clock on an injected time: reminders at 24, 48 and 66 hours and overdue at 72,
each once; notification stops it; validation names the JSON path; the daily personal-data question."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.domain.breach import MAX_TEXT, SKEW, BreachClock
from shared.domain.errors import Conflict, InvalidInput

AWARE = datetime(2026, 11, 27, 22, 15, 30, tzinfo=UTC)
H = timedelta(hours=1)


def started(at: datetime = AWARE) -> BreachClock:
    return BreachClock().answer(True, aware_at=at, now=at)


def run(clock: BreachClock, until: timedelta, step: timedelta = timedelta(minutes=5)) -> list[tuple[float, str]]:
    """Tick from aware_at to aware_at + until as a timer would, recording each reminder once it is sent."""
    sent: set[str] = set()
    out = []
    now = AWARE
    while now <= AWARE + until:
        for name in clock.reminders_due(now, sent):
            out.append(((now - AWARE) / H, name))
            sent.add(name)
        now += step
    return out


def test_reminders_at_24_48_66_hours_and_overdue_at_72_each_once():
    clock = started()
    assert clock.deadline == AWARE + 72 * H
    assert run(clock, 100 * H) == [(24.0, "24h"), (48.0, "48h"), (66.0, "66h"), (72.0, "overdue")]


def test_each_reminder_falls_due_on_the_instant_not_a_microsecond_before():
    clock, us = started(), timedelta(microseconds=1)
    for hours, name in ((24, "24h"), (48, "48h"), (66, "66h"), (72, "overdue")):
        at = AWARE + hours * H
        assert name not in clock.reminders_due(at - us, set())
        assert name in clock.reminders_due(at, set())
        assert name not in clock.reminders_due(at + 10 * H, {name})


def test_a_clock_started_late_owes_the_missed_reminders_at_once_in_order():
    clock = started(AWARE)
    assert clock.reminders_due(AWARE + 50 * H, set()) == ["24h", "48h"]
    assert clock.reminders_due(AWARE + 50 * H, {"24h"}) == ["48h"]


def test_notification_stops_the_clock():
    clock = started().notify(AWARE + 30 * H, "Datatilsynet", "DT-2026-0042", now=AWARE + 30 * H)
    assert not clock.running and not clock.notified_late
    assert clock.reminders_due(AWARE + 50 * H, {"24h"}) == []
    assert clock.reminders_due(AWARE + 500 * H, set()) == []
    assert run(clock, 100 * H) == []


def test_a_notification_after_the_deadline_is_late_and_stops_the_overdue_reminders():
    clock = started()
    assert clock.reminders_due(AWARE + 80 * H, {"24h", "48h", "66h"}) == ["overdue"]
    late = clock.notify(AWARE + 80 * H, "ICO", "", now=AWARE + 80 * H)
    assert late.notified_late and late.reminders_due(AWARE + 90 * H, set()) == []


def test_no_clock_without_personal_data():
    assert BreachClock().reminders_due(AWARE + 80 * H, set()) == [] and BreachClock().deadline is None
    no = BreachClock().answer(False, aware_at=None, now=AWARE)
    assert no.deadline is None and no.reminders_due(AWARE + 80 * H, set()) == []
    with pytest.raises(Conflict):
        no.notify(AWARE, "ICO", "", now=AWARE)


def test_answering_yes_again_keeps_the_awareness_and_a_correction_moves_it():
    clock = started()
    assert clock.answer(True, aware_at=None, now=AWARE + 5 * H).aware_at == AWARE
    assert clock.answer(True, aware_at=AWARE - 2 * H, now=AWARE + 5 * H).deadline == AWARE + 70 * H
    assert BreachClock().answer(True, aware_at=None, now=AWARE).aware_at == AWARE


def test_after_notifying_the_answer_is_final_and_there_is_no_second_notification():
    clock = started().notify(AWARE + H, "ICO", "ref", now=AWARE + H)
    with pytest.raises(Conflict):
        clock.answer(False, aware_at=None, now=AWARE + 2 * H)
    with pytest.raises(Conflict):
        clock.notify(AWARE + 2 * H, "ICO", "ref 2", now=AWARE + 2 * H)


def test_the_dict_round_trips():
    clock = started().notify(AWARE + 3 * H, " Datatilsynet ", "DT-42", now=AWARE + 3 * H)
    doc = clock.to_dict()
    assert doc == {"personal_data": True, "aware_at": "2026-11-27T22:15:30.000000Z",
                   "notified_at": "2026-11-28T01:15:30.000000Z", "authority": "Datatilsynet",
                   "reference": "DT-42", "deadline": "2026-11-30T22:15:30.000000Z"}
    assert BreachClock.from_dict(doc) == clock
    assert BreachClock.from_dict(None) == BreachClock() == BreachClock.from_dict({})
    assert BreachClock.from_dict(BreachClock().to_dict()) == BreachClock()


# ---- validation --------------------------------------------------------------------------------

def rejected(doc: object, path: str, *, now: datetime | None = None) -> None:
    with pytest.raises(InvalidInput) as e:
        BreachClock.from_dict(doc, at="$.breach", now=now)  # type: ignore[arg-type]
    assert e.value.path == path, e.value


@pytest.mark.parametrize("doc,path", [
    ("yes", "$.breach"),
    ({"personal_data": "yes"}, "$.breach.personal_data"),
    ({"personal_data": True}, "$.breach.aware_at"),
    ({"personal_data": True, "aware_at": "yesterday"}, "$.breach.aware_at"),
    ({"personal_data": True, "aware_at": "2026-11-27T22:00:00Z", "notified_at": "2026-11-27T21:59:59Z",
      "authority": "ICO"}, "$.breach.notified_at"),
    ({"personal_data": False, "aware_at": None, "notified_at": "2026-11-27T21:59:59Z", "authority": "ICO"},
     "$.breach.notified_at"),
    ({"personal_data": True, "aware_at": "2026-11-27T22:00:00Z", "notified_at": "2026-11-28T22:00:00Z"},
     "$.breach.authority"),
    ({"personal_data": True, "aware_at": "2026-11-27T22:00:00Z", "authority": "x" * (MAX_TEXT + 1)},
     "$.breach.authority"),
    ({"personal_data": True, "aware_at": "2026-11-27T22:00:00Z", "reference": "a\nb"}, "$.breach.reference"),
    ({"personal_data": True, "aware_at": "2026-11-27T22:00:00Z", "reference": 42}, "$.breach.reference"),
])
def test_invalid_json_is_named_by_its_path(doc, path):
    rejected(doc, path)


def test_instants_in_the_future_beyond_the_skew_are_refused_from_a_person():
    now = AWARE
    ok = {"personal_data": True, "aware_at": "2026-11-27T22:19:30Z"}  # 4 minutes ahead: within SKEW
    assert BreachClock.from_dict(ok, now=now).aware_at == AWARE + timedelta(minutes=4)
    rejected({"personal_data": True, "aware_at": "2026-11-27T22:25:30Z"}, "$.breach.aware_at", now=now)
    rejected({"personal_data": True, "aware_at": "2026-11-27T22:00:00Z", "notified_at": "2026-11-28T22:00:00Z",
              "authority": "ICO"}, "$.breach.notified_at", now=now)
    assert BreachClock.from_dict({"personal_data": True, "aware_at": "2027-01-01T00:00:00Z"}).aware_at  # stored


def test_commands_validate_their_input():
    cases = [
        (lambda: BreachClock().answer(True, aware_at=AWARE + SKEW + H, now=AWARE), "$.aware_at"),
        (lambda: BreachClock().answer(True, aware_at=datetime(2026, 11, 27), now=AWARE), "$.aware_at"),
        (lambda: BreachClock().answer("maybe", aware_at=None, now=AWARE), "$.personal_data"),  # type: ignore[arg-type]
        (lambda: started().notify(AWARE - H, "ICO", "", now=AWARE), "$.notified_at"),
        (lambda: started().notify(AWARE + 2 * H, "ICO", "", now=AWARE), "$.notified_at"),
        (lambda: started().notify(AWARE + H, "   ", "", now=AWARE + H), "$.authority"),
        (lambda: started().notify(AWARE + H, "ICO", "r" * (MAX_TEXT + 1), now=AWARE + H), "$.reference"),
    ]
    for make, path in cases:
        with pytest.raises(InvalidInput) as e:
            make()
        assert e.value.path == path, (path, e.value)


# ---- the daily question ----------------------------------------------------------------------------

def test_the_personal_data_question_is_asked_once_per_utc_day_until_answered():
    clock, asked, last = BreachClock(), [], None
    now = datetime(2026, 11, 27, 22, 15, tzinfo=UTC)
    while now < datetime(2026, 11, 30, 12, 0, tzinfo=UTC):
        if clock.question_due(now, last):
            asked.append(now)
            last = now
        now += timedelta(minutes=15)
    assert [t.isoformat() for t in asked] == ["2026-11-27T22:15:00+00:00", "2026-11-28T00:00:00+00:00",
                                              "2026-11-29T00:00:00+00:00", "2026-11-30T00:00:00+00:00"]


def test_the_question_stops_once_answered_either_way():
    asked = datetime(2026, 11, 27, 9, tzinfo=UTC)
    assert BreachClock().question_due(asked, None)
    assert not BreachClock().question_due(asked.replace(hour=23, minute=59, second=59), asked)
    assert BreachClock().question_due(asked + timedelta(days=1), asked)
    for answer in (True, False):
        clock = BreachClock().answer(answer, aware_at=None, now=asked)
        assert not clock.question_due(asked + timedelta(days=3), asked)
