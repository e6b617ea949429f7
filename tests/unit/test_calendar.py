"""Business calendar, SLA due times and breaches, PIR deadlines (Europe/Berlin, 2026)."""
from __future__ import annotations

import re
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from shared.domain.calendar import BusinessCalendar
from shared.domain.sla import RUNBOOK_SLA, SlaPolicy, Target
from shared.domain.errors import PolicyError

BERLIN = ZoneInfo("Europe/Berlin")
FRAGMENT = Path(__file__).resolve().parents[2] / "docs" / "oncall-policy.toml"
# 2026: DST starts Sun 29 March, ends Sun 25 October; Whit Monday is 25 May.
CAL = BusinessCalendar.from_policy({"timezone": "Europe/Berlin", "weekdays": ["mon", "tue", "wed", "thu", "fri"],
                                    "hours": "09:00-17:00", "holidays": ["2026-05-25", "2026-12-25"]})
SLA = SlaPolicy.default()


def names(key: str) -> str:
    """A regex for a PolicyError message that starts with exactly `key`."""
    return rf"^{re.escape(key)}(?![\w.\[])"


def local(*args) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize("t, expected", [
    (local(2026, 5, 19, 9, 0), True),            # Tuesday, opening time is inside
    (local(2026, 5, 19, 8, 59, 59), False),
    (local(2026, 5, 19, 16, 59, 59), True),
    (local(2026, 5, 19, 17, 0), False),          # closing time is outside
    (local(2026, 5, 23, 12, 0), False),          # Saturday
    (local(2026, 5, 25, 12, 0), False),          # Whit Monday, a holiday
    (utc(2026, 3, 30, 7, 0), True),              # 09:00 CEST, the Monday after DST starts
    (utc(2026, 3, 30, 6, 59), False),
    (utc(2026, 10, 26, 7, 30), False),           # 08:30 CET, the Monday after DST ends
])
def test_is_business_time(t, expected):
    assert CAL.is_business_time(t) is expected


@pytest.mark.parametrize("start, amount, expected", [
    (local(2026, 5, 19, 10, 0), timedelta(hours=2), local(2026, 5, 19, 12, 0)),
    (local(2026, 5, 19, 16, 0), timedelta(hours=2), local(2026, 5, 20, 10, 0)),   # over the night
    (local(2026, 5, 15, 16, 0), timedelta(hours=2), local(2026, 5, 18, 10, 0)),   # over a weekend
    (local(2026, 5, 23, 12, 0), timedelta(hours=1), local(2026, 5, 26, 10, 0)),  # weekend + holiday
    (local(2026, 5, 22, 16, 0), timedelta(hours=8), local(2026, 5, 26, 16, 0)),
    (local(2026, 5, 19, 9, 0), timedelta(hours=8), local(2026, 5, 19, 17, 0)),    # fills the day exactly
    (local(2026, 5, 19, 7, 0), timedelta(0), local(2026, 5, 19, 9, 0)),           # zero rolls to opening
    (local(2026, 3, 27, 16, 0), timedelta(hours=8), utc(2026, 3, 30, 14, 0)),      # DST: Mon 16:00 CEST
    (local(2026, 10, 23, 16, 0), timedelta(hours=8), utc(2026, 10, 26, 15, 0)),    # DST end: 16:00 CET
])
def test_add_business_time(start, amount, expected):
    due = CAL.add_business_time(start, amount)
    assert due == expected and due.tzinfo is UTC


@pytest.mark.parametrize("start, n, expected", [
    (local(2026, 5, 19, 10, 0), 1, local(2026, 5, 20, 17, 0)),
    (local(2026, 5, 19, 8, 0), 1, local(2026, 5, 20, 17, 0)),   # before hours still means tomorrow
    (local(2026, 5, 22, 16, 0), 1, local(2026, 5, 26, 17, 0)),   # Friday -> Tuesday over Whit Monday
    (local(2026, 5, 23, 12, 0), 1, local(2026, 5, 26, 17, 0)),   # Saturday
    (utc(2026, 5, 18, 23, 30), 1, local(2026, 5, 20, 17, 0)),    # already Tuesday in Berlin
    (local(2026, 5, 22, 16, 0), 5, local(2026, 6, 1, 17, 0)),
    (local(2026, 3, 27, 12, 0), 1, utc(2026, 3, 30, 15, 0)),     # 17:00 CEST
    (local(2026, 10, 23, 12, 0), 1, utc(2026, 10, 26, 16, 0)),   # 17:00 CET
])
def test_add_business_days(start, n, expected):
    assert CAL.add_business_days(start, n) == expected
    if n == 1:
        assert CAL.next_business_day_end(start) == expected


@pytest.mark.parametrize("call", [
    lambda: CAL.is_business_time(datetime(2026, 5, 19, 10)),
    lambda: CAL.add_business_time(datetime(2026, 5, 19, 10), timedelta(hours=1)),
    lambda: CAL.add_business_time(local(2026, 5, 19, 10), timedelta(hours=-1)),
    lambda: CAL.add_business_days(local(2026, 5, 19, 10), 0),
])
def test_caller_bugs_raise_value_error(call):
    with pytest.raises(ValueError):
        call()


OPENED = local(2026, 5, 19, 10, 0)  # Tuesday 08:00Z


@pytest.mark.parametrize("severity, response, resolution", [
    ("SEV-1", utc(2026, 5, 19, 8, 15), utc(2026, 5, 19, 9, 0)),
    ("SEV-2", utc(2026, 5, 19, 8, 30), utc(2026, 5, 19, 12, 0)),
    ("SEV-3", utc(2026, 5, 19, 10, 0), utc(2026, 5, 20, 8, 0)),
    ("SEV-4", local(2026, 5, 20, 17, 0), local(2026, 5, 27, 17, 0)),  # Whit Monday skipped
])
def test_sla_due_matches_the_runbook_table(severity, response, resolution):
    assert SLA.sla_due(severity, OPENED, CAL) == (response, resolution)


def test_sev4_over_a_weekend_and_a_holiday():
    response, resolution = SLA.sla_due("SEV-4", local(2026, 5, 22, 16, 0), CAL)  # Friday before Whit Monday
    assert response == local(2026, 5, 26, 17, 0) == utc(2026, 5, 26, 15, 0)
    assert resolution == local(2026, 6, 1, 17, 0)


@pytest.mark.parametrize("opened", [local(2026, 5, 23, 3, 0), utc(2026, 3, 29, 0, 30), utc(2026, 10, 25, 0, 30)])
def test_sev1_is_wall_clock_on_weekends_and_across_dst(opened):
    assert SLA.sla_due("SEV-1", opened, CAL) == (opened + timedelta(minutes=15), opened + timedelta(hours=1))


T0 = utc(2026, 5, 19, 8, 0)  # SEV-1: response due 08:15, resolution due 09:00


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.mark.parametrize("ack, resolved, now, response_breached, resolution_breached", [
    (None, None, at(10), False, False),
    (None, None, at(15), False, False),              # exactly at due is not a breach
    (None, None, at(15) + timedelta(seconds=1), True, False),
    (at(14), None, at(30), False, False),
    (at(20), None, at(30), True, False),              # met late stays breached
    (at(10), at(50), at(120), False, False),          # both clocks stopped in time
    (at(10), None, at(60) + timedelta(seconds=1), False, True),
    (at(10), at(90), at(120), False, True),
    (None, at(12), at(120), False, False),            # resolving also answers the page
])
def test_sla_status(ack, resolved, now, response_breached, resolution_breached):
    status = SLA.sla_status("SEV-1", T0, ack, resolved, now, CAL)
    assert status == {"response_due": "2026-05-19T08:15:00.000000Z", "resolution_due": "2026-05-19T09:00:00.000000Z",
                      "response_breached": response_breached, "resolution_breached": resolution_breached}


def sweep(ack, resolved, instants) -> list[tuple[datetime, str]]:
    seen, since = [], None
    for now in instants:
        seen += [(now, name) for name in SLA.breaches_between("SEV-1", T0, ack, resolved, since, now, CAL)]
        since = now
    return seen


def test_breaches_between_reports_each_breach_exactly_once():
    seen = sweep(None, None, [at(m) for m in range(0, 181)])
    assert seen == [(at(16), "response"), (at(61), "resolution")]


@pytest.mark.parametrize("ack, resolved, instants, expected", [
    (None, None, [at(5), at(15), at(200), at(400)], [(at(200), "response"), (at(200), "resolution")]),
    (at(20), None, [at(10), at(40), at(50)], [(at(40), "response")]),   # late ack before the sweep saw it
    (at(14), at(59), [at(10), at(40), at(120)], []),
    (at(14), None, [at(10), at(40), at(120), at(121)], [(at(120), "resolution")]),
])
def test_breaches_between_irregular_sweeps(ack, resolved, instants, expected):
    assert sweep(ack, resolved, instants) == expected


def test_breaches_between_empty_or_backwards_window():
    assert SLA.breaches_between("SEV-1", T0, None, None, at(30), at(30), CAL) == []
    assert SLA.breaches_between("SEV-1", T0, None, None, at(90), at(30), CAL) == []


@pytest.mark.parametrize("severity, resolved, expected", [
    ("SEV-1", local(2026, 5, 22, 16, 0), local(2026, 5, 24, 16, 0)),   # 48 h wall clock, weekend or not
    ("SEV-2", local(2026, 5, 22, 10, 0), local(2026, 6, 1, 17, 0)),    # 5 business days over Whit Monday
    ("SEV-3", local(2026, 5, 22, 10, 0), None),
    ("SEV-4", local(2026, 5, 22, 10, 0), None),
])
def test_pir_due(severity, resolved, expected):
    assert SLA.pir_due(severity, resolved, CAL) == expected


@pytest.mark.parametrize("text, start, expected", [
    ("90m", OPENED, OPENED + timedelta(minutes=90)),
    ("2d", OPENED, OPENED + timedelta(days=2)),
    ("8bh", local(2026, 5, 22, 16, 0), local(2026, 5, 26, 16, 0)),
    ("next-business-day", OPENED, local(2026, 5, 20, 17, 0)),
    ("1-business-day", OPENED, local(2026, 5, 20, 17, 0)),
    ("3-business-days", OPENED, local(2026, 5, 22, 17, 0)),
])
def test_target_notation(text, start, expected):
    assert Target.parse(text, "x").due(start, CAL) == expected


@pytest.mark.parametrize("raw, key", [
    ({"hours": "09:00-17:00"}, "calendar.timezone"),
    ({"timezone": "Mars/Olympus"}, "calendar.timezone"),
    ({"timezone": "UTC", "weekdays": []}, "calendar.weekdays"),
    ({"timezone": "UTC", "weekdays": ["mon", "funday"]}, "calendar.weekdays[1]"),
    ({"timezone": "UTC", "hours": "9-5"}, "calendar.hours"),
    ({"timezone": "UTC", "hours": "17:00-09:00"}, "calendar.hours"),
    ({"timezone": "UTC", "hours": "09:00-25:00"}, "calendar.hours"),
    ({"timezone": "UTC", "holidays": "2026-12-25"}, "calendar.holidays"),
    ({"timezone": "UTC", "holidays": ["2026-12-25", "2026-13-01"]}, "calendar.holidays[1]"),
])
def test_calendar_policy_errors_name_the_key(raw, key):
    with pytest.raises(PolicyError, match=names(key)):
        BusinessCalendar.from_policy(raw)


def test_calendar_defaults_and_toml_dates():
    import datetime as dt
    cal = BusinessCalendar.from_policy({"timezone": "UTC", "holidays": [dt.date(2026, 12, 25)]})
    assert cal.weekdays == frozenset(range(5)) and (cal.start, cal.end) == (dt.time(9), dt.time(17))
    assert dt.date(2026, 12, 25) in cal.holidays


def _sla(**row):
    return {**RUNBOOK_SLA, "SEV-2": row}


@pytest.mark.parametrize("raw, key", [
    (_sla(response="30 minutes", resolution="4h"), "sla.SEV-2.response"),
    (_sla(response="0m", resolution="4h"), "sla.SEV-2.response"),
    (_sla(response="30m"), "sla.SEV-2.resolution"),
    (_sla(response="30m", resolution=4), "sla.SEV-2.resolution"),
    (_sla(response="30m", resolution="4h", pir="soon"), "sla.SEV-2.pir"),
    (_sla(response="30m", resolution="4h", respnse="1h"), "sla.SEV-2.respnse"),
    ({**RUNBOOK_SLA, "SEV-2": "30m"}, "sla.SEV-2"),
    ({}, "sla"),
])
def test_sla_policy_errors_name_the_key(raw, key):
    with pytest.raises(PolicyError, match=names(key)):
        SlaPolicy.from_policy(raw)


def test_unknown_severity_is_a_policy_error():
    with pytest.raises(PolicyError, match=r"sla\.SEV-9"):
        SLA.sla_due("SEV-9", OPENED, CAL)


def test_docs_fragment_parses_to_the_runbook_table():
    doc = tomllib.loads(FRAGMENT.read_text())
    cal = BusinessCalendar.from_policy(doc["calendar"])
    assert cal.timezone == "Europe/Berlin" and len(cal.holidays) == 9
    assert SlaPolicy.from_policy(doc["sla"]) == SLA
