"""NCRONTAB parsing, next occurrences, %SETTING% resolution and the scheduler's time math."""
from datetime import datetime, timedelta, timezone

import pytest

from devhost.cron import Cron, plan, resolve
from shared.adapters.clock import FixedClock

UTC = timezone.utc


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize("field, text, expected", [
    ("seconds", "* 0 0 1 1 *", set(range(60))),
    ("seconds", "*/15 * * * * *", {0, 15, 30, 45}),
    ("seconds", "7 * * * * *", {7}),
    ("minutes", "0 1-4 * * * *", {1, 2, 3, 4}),
    ("minutes", "0 10-50/20 * * * *", {10, 30, 50}),
    ("minutes", "0 50/5 * * * *", {50, 55}),
    ("hours", "0 0 1,2,5-6,23 * * *", {1, 2, 5, 6, 23}),
    ("days", "0 0 0 */10 * *", {1, 11, 21, 31}),
    ("months", "0 0 0 1 JAN,jul *", {1, 7}),
    ("months", "0 0 0 1 MAR-MAY *", {3, 4, 5}),
    ("weekdays", "0 0 0 * * MON-FRI", {1, 2, 3, 4, 5}),
    ("weekdays", "0 0 0 * * sun,SAT", {0, 6}),
    ("weekdays", "0 0 0 * * 5-7", {5, 6, 0}),
])
def test_parse_every_syntax(field, text, expected):
    assert getattr(Cron.parse(text), field) == expected


@pytest.mark.parametrize("text, after, expected", [
    ("*/10 * * * * *", at(2026, 11, 27, 12, 0, 3), at(2026, 11, 27, 12, 0, 10)),
    ("*/10 * * * * *", at(2026, 11, 27, 12, 0, 10), at(2026, 11, 27, 12, 0, 20)),  # strictly after
    ("*/10 * * * * *", at(2026, 11, 27, 12, 0, 9, 999999), at(2026, 11, 27, 12, 0, 10)),
    ("0 */5 * * * *", at(2026, 11, 27, 23, 59, 0), at(2026, 11, 28, 0, 0, 0)),
    ("0 30 9 * * MON-FRI", at(2026, 11, 27, 10, 0), at(2026, 11, 30, 9, 30)),  # Friday -> Monday
    ("0 0 0 1 JAN *", at(2026, 11, 27), at(2027, 1, 1)),
    ("0 0 0 31 * *", at(2026, 11, 27), at(2026, 12, 31)),
    ("0 0 0 29 FEB *", at(2026, 3, 1), at(2028, 2, 29)),
    ("0 0 12 13 * FRI", at(2026, 11, 27), at(2027, 8, 13, 12)),  # day AND day-of-week, as NCrontab
    ("15 45 6 * 3-5/2 *", at(2026, 4, 30, 7), at(2026, 5, 1, 6, 45, 15)),
])
def test_next_after(text, after, expected):
    assert Cron.parse(text).next_after(after) == expected


def test_next_after_converts_other_time_zones_to_utc():
    plus_two = timezone(timedelta(hours=2))
    after = datetime(2026, 1, 1, 10, 30, tzinfo=plus_two)
    assert Cron.parse("0 0 * * * *").next_after(after) == at(2026, 1, 1, 9)


def test_a_schedule_that_never_fires_has_no_next_occurrence():
    assert Cron.parse("0 0 0 30 FEB *").next_after(at(2026, 1, 1)) is None


@pytest.mark.parametrize("text, field", [
    ("60 * * * * *", "second"), ("* 60 * * * *", "minute"), ("* * 24 * * *", "hour"),
    ("* * * 0 * *", "day"), ("* * * 32 * *", "day"), ("* * * * 13 * ", "month"),
    ("* * * * FOO *", "month"), ("* * * * * 8", "day-of-week"), ("* * * * * MONDAY", "day-of-week"),
    ("*/0 * * * * *", "second"), ("*/x * * * * *", "second"), ("* 5-1 * * * *", "minute"),
    ("* * 1,,2 * * *", "hour"), ("* * -1 * * *", "hour"), ("* * * * * 1-", "day-of-week"),
])
def test_invalid_field_is_named(text, field):
    with pytest.raises(ValueError, match=f"^{field} field"):
        Cron.parse(text)


@pytest.mark.parametrize("text", ["* * * * *", "* * * * * * *", ""])
def test_six_fields_are_required(text):
    with pytest.raises(ValueError, match="expected six"):
        Cron.parse(text)


def test_resolve_settings():
    env = {"SWEEP": "*/10 * * * * *", "MINUTE": "30"}
    assert resolve("%SWEEP%", env) == "*/10 * * * * *"
    assert resolve("0 %MINUTE% * * * *", env) == "0 30 * * * *"
    assert resolve("0 0 * * * *", {}) == "0 0 * * * *"
    for missing in ({}, {"SWEEP": ""}):
        with pytest.raises(ValueError, match="SWEEP is not set"):
            resolve("%SWEEP%", missing)


def test_plan_waits_real_time_divided_by_the_scale():
    clock, cron = FixedClock(at(2026, 11, 27, 12, 0, 3)), Cron.parse("*/10 * * * * *")
    first = plan(cron, clock, 60.0)
    assert (first.fire, first.pending, first.wait) == (False, at(2026, 11, 27, 12, 0, 10), 7 / 60)

    clock.advance(seconds=4)  # woke early: keep waiting for the same occurrence
    early = plan(cron, clock, 60.0, first.pending)
    assert (early.fire, early.pending, early.wait) == (False, first.pending, 3 / 60)


def test_plan_fires_when_due_and_moves_to_the_next_occurrence():
    clock, cron = FixedClock(at(2026, 11, 27, 12, 0, 10, 5000)), Cron.parse("*/10 * * * * *")
    due = plan(cron, clock, 1.0, at(2026, 11, 27, 12, 0, 10))
    assert (due.fire, due.past_due, due.due_at) == (True, False, at(2026, 11, 27, 12, 0, 10))
    assert due.pending == at(2026, 11, 27, 12, 0, 20)
    assert due.wait == pytest.approx(9.995)


def test_plan_marks_past_due_when_a_later_occurrence_was_missed_and_skips_the_missed_ones():
    clock, cron = FixedClock(at(2026, 11, 27, 12, 0, 45)), Cron.parse("*/10 * * * * *")
    late = plan(cron, clock, 1.0, at(2026, 11, 27, 12, 0, 10))
    assert (late.fire, late.past_due) == (True, True)
    assert late.pending == at(2026, 11, 27, 12, 0, 50)


def test_plan_for_a_schedule_that_never_fires():
    p = plan(Cron.parse("0 0 0 31 APR *"), FixedClock(at(2026, 1, 1)), 1.0)
    assert (p.fire, p.pending, p.wait) == (False, None, None)
