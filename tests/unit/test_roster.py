"""On-call roster: weekly hand-offs (DST-correct), wrap-around, overrides, policy and input errors."""
from __future__ import annotations

import re
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.domain.errors import InvalidInput, PolicyError
from shared.domain.roster import ROLES, OnCall, Override, Roster, validate_override

FRAGMENT = Path(__file__).resolve().parents[2] / "docs" / "oncall-policy.toml"
SECOND = timedelta(seconds=1)


def rotation(**changes) -> dict:
    return {"people": ["alice", "bob", "carol"], "handoff": "mon 09:00", "timezone": "Europe/Berlin",
            "start": "2026-01-05", **changes}


def policy(**roles) -> dict:
    raw = {role: rotation(people=[f"{role}-1", f"{role}-2"]) for role in ROLES}
    raw["primary"] = rotation()
    raw["secondary"] = rotation(people=["dave", "erin"], handoff="wed 18:00", timezone="UTC", start="2026-01-07")
    return {**raw, **roles}


ROSTER = Roster.from_policy(policy())


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


# Berlin hand-off Mondays 09:00: CET (08:00Z) in winter, CEST (07:00Z) from 29 March to 25 October 2026.
@pytest.mark.parametrize("at, person", [
    (utc(2026, 1, 5, 8, 0), "alice"),                  # the first shift begins
    (utc(2026, 1, 12, 8, 0) - SECOND, "alice"),        # one second before the hand-off
    (utc(2026, 1, 12, 8, 0), "bob"),                   # at the instant
    (utc(2026, 1, 15, 23, 0), "bob"),
    (utc(2026, 1, 19, 8, 0), "carol"),
    (utc(2026, 1, 26, 8, 0) - SECOND, "carol"),
    (utc(2026, 1, 26, 8, 0), "alice"),                 # wrap-around
    (utc(2026, 3, 30, 7, 0) - SECOND, "carol"),        # week 11; first hand-off in CEST
    (utc(2026, 3, 30, 7, 0), "alice"),                 # week 12, 09:00 CEST
    (utc(2026, 3, 30, 7, 30), "alice"),                # a UTC-only rotation would still say carol
    (utc(2026, 10, 26, 8, 0) - SECOND, "carol"),       # week 41; first hand-off back in CET
    (utc(2026, 10, 26, 7, 30), "carol"),               # 08:30 CET: not yet
    (utc(2026, 10, 26, 8, 0), "alice"),                # week 42
    (utc(2026, 1, 5, 8, 0) - SECOND, "carol"),         # before start: extrapolated backwards
])
def test_rotation_hand_offs(at, person):
    assert ROSTER.on_call("primary", at) == OnCall(person, "primary", "rotation", None)


@pytest.mark.parametrize("at, person", [
    (utc(2026, 1, 7, 18, 0), "dave"),
    (utc(2026, 1, 14, 18, 0) - SECOND, "dave"),
    (utc(2026, 1, 14, 18, 0), "erin"),
    (utc(2026, 1, 21, 18, 0), "dave"),
])
def test_other_weekday_and_zone(at, person):
    assert ROSTER.on_call("secondary", at).person == person


@pytest.mark.parametrize("role, at, expected", [
    ("primary", utc(2026, 1, 12, 8, 0) - SECOND, utc(2026, 1, 12, 8, 0)),
    ("primary", utc(2026, 1, 12, 8, 0), utc(2026, 1, 19, 8, 0)),
    ("primary", utc(2026, 3, 25, 12, 0), utc(2026, 3, 30, 7, 0)),     # over the spring change
    ("primary", utc(2026, 10, 21, 12, 0), utc(2026, 10, 26, 8, 0)),   # over the autumn change
    ("secondary", utc(2026, 1, 10, 0, 0), utc(2026, 1, 14, 18, 0)),
])
def test_next_handoff(role, at, expected):
    assert ROSTER.next_handoff(role, at) == expected


# Week of 12 January: bob is on primary by rotation.
def ov(id_, person, start, end, created, role="primary"):
    return Override(id_, role, person, start, end, "lead", "swap", created)


DAVE = ov("ov-dave", "dave", utc(2026, 1, 13, 10), utc(2026, 1, 13, 18), utc(2026, 1, 10))
ERIN = ov("ov-erin", "erin", utc(2026, 1, 13, 12), utc(2026, 1, 13, 14), utc(2026, 1, 11))
FRANK = ov("ov-frank", "frank", utc(2026, 1, 13, 11), utc(2026, 1, 13, 15), utc(2026, 1, 9))   # created first
GRACE = ov("ov-grace", "grace", utc(2026, 1, 13, 0), utc(2026, 1, 14, 0), utc(2026, 1, 12), role="secondary")


@pytest.mark.parametrize("overrides, at, person, override_id", [
    ([DAVE], utc(2026, 1, 13, 10) - SECOND, "bob", None),
    ([DAVE], utc(2026, 1, 13, 10), "dave", "ov-dave"),             # start inclusive
    ([DAVE], utc(2026, 1, 13, 18) - SECOND, "dave", "ov-dave"),
    ([DAVE], utc(2026, 1, 13, 18), "bob", None),                   # end exclusive
    ([GRACE], utc(2026, 1, 13, 12), "bob", None),                  # another role's override
    ([DAVE, ERIN], utc(2026, 1, 13, 13), "erin", "ov-erin"),       # overlap: latest created wins
    ([ERIN, DAVE], utc(2026, 1, 13, 13), "erin", "ov-erin"),       # ... whatever the order
    ([DAVE, ERIN], utc(2026, 1, 13, 15), "dave", "ov-dave"),       # outside erin's window
    ([DAVE, FRANK, ERIN], utc(2026, 1, 13, 11, 30), "dave", "ov-dave"),
    ([FRANK, DAVE], utc(2026, 1, 13, 11, 30), "dave", "ov-dave"),
])
def test_overrides(overrides, at, person, override_id):
    got = ROSTER.on_call("primary", at, overrides)
    assert (got.person, got.source, got.override_id) == (person, "override" if override_id else "rotation", override_id)


def test_equal_creation_times_later_in_the_list_wins():
    a = ov("a", "x", utc(2026, 1, 13), utc(2026, 1, 14), None)
    b = ov("b", "y", utc(2026, 1, 13), utc(2026, 1, 14), None)
    assert ROSTER.on_call("primary", utc(2026, 1, 13, 12), [a, b]).person == "y"
    assert ROSTER.on_call("primary", utc(2026, 1, 13, 12), [b, a]).person == "x"


def test_now_all_lists_every_role_in_order():
    everyone = ROSTER.now_all(utc(2026, 1, 13, 12), [DAVE, GRACE])
    assert [c.role for c in everyone] == list(ROLES)
    assert everyone[0] == OnCall("dave", "primary", "override", "ov-dave")
    assert everyone[1] == OnCall("grace", "secondary", "override", "ov-grace")
    assert everyone[6] == OnCall("cto-2", "cto", "rotation", None)
    assert everyone[0].to_dict() == {"person": "dave", "role": "primary", "source": "override",
                                     "override_id": "ov-dave"}


def test_override_round_trips_through_a_dict():
    assert Override.from_dict(DAVE.to_dict()) == DAVE
    assert DAVE.to_dict()["start"] == "2026-01-13T10:00:00.000000Z"


def test_unknown_role_and_naive_time():
    with pytest.raises(PolicyError, match="janitor"):
        ROSTER.on_call("janitor", utc(2026, 1, 13))
    with pytest.raises(ValueError):
        ROSTER.on_call("primary", datetime(2026, 1, 13))


def names(key: str) -> str:
    return rf"^{re.escape(key)}(?![\w.\[])"


@pytest.mark.parametrize("raw, key", [
    (policy(primary=rotation(handoff="monday 9am")), "oncall.primary.handoff"),
    (policy(primary=rotation(handoff="funday 09:00")), "oncall.primary.handoff"),
    (policy(primary=rotation(handoff="mon 25:00")), "oncall.primary.handoff"),
    (policy(primary=rotation(handoff=None)), "oncall.primary.handoff"),
    (policy(primary=rotation(people=[])), "oncall.primary.people"),
    (policy(primary=rotation(people=["alice", 3])), "oncall.primary.people"),
    (policy(primary=rotation(people="alice")), "oncall.primary.people"),
    (policy(primary=rotation(timezone="Mars/Olympus")), "oncall.primary.timezone"),
    (policy(primary=rotation(start="2026-01-06")), "oncall.primary.start"),   # a Tuesday
    (policy(primary=rotation(start="soon")), "oncall.primary.start"),
    (policy(cto=rotation(timezone=None)), "oncall.cto.timezone"),
    (policy(primary="alice"), "oncall.primary"),
    (policy(janitor=rotation()), "oncall.janitor"),
    ({role: rotation() for role in ROLES if role != "cto"}, "oncall.cto"),
])
def test_policy_errors_name_the_key(raw, key):
    with pytest.raises(PolicyError, match=names(key)):
        Roster.from_policy(raw)


def test_toml_date_start_is_accepted():
    import datetime as dt
    roster = Roster.from_policy(policy(primary=rotation(start=dt.date(2026, 1, 5))))
    assert roster.on_call("primary", utc(2026, 1, 12, 8)).person == "bob"


def test_docs_fragment_parses():
    doc = tomllib.loads(FRAGMENT.read_text())
    roster = Roster.from_policy(doc["oncall"])
    assert set(roster.rotations) == set(ROLES)


NOW = utc(2026, 1, 13, 9, 0)
GOOD = {"role": "primary", "person": "dave", "start": "2026-01-13T10:00:00Z", "end": "2026-01-13T18:00:00+01:00",
        "reason": "swap with bob"}


@pytest.mark.parametrize("changes, field, value", [
    ({}, "start", "2026-01-13T10:00:00.000000Z"),
    ({}, "end", "2026-01-13T17:00:00.000000Z"),                    # offset converted to UTC
    ({"start": "2026-01-13T10:00:00"}, "start", "2026-01-13T10:00:00.000000Z"),  # naive means UTC
    ({"person": "  dave "}, "person", "dave"),
    ({"reason": None}, "reason", ""),
])
def test_validate_override_normalises(changes, field, value):
    body = {**GOOD, **changes}
    assert validate_override(body, NOW)[field] == value


def test_validate_override_result():
    assert validate_override({k: v for k, v in GOOD.items() if k != "reason"}, NOW) == {
        "role": "primary", "person": "dave", "start": "2026-01-13T10:00:00.000000Z",
        "end": "2026-01-13T17:00:00.000000Z", "reason": ""}


@pytest.mark.parametrize("body, path", [
    (["not", "an", "object"], "$"),
    ({**GOOD, "role": None}, "$.role"),
    ({k: v for k, v in GOOD.items() if k != "role"}, "$.role"),
    ({**GOOD, "role": "janitor"}, "$.role"),
    ({**GOOD, "person": ""}, "$.person"),
    ({**GOOD, "person": 5}, "$.person"),
    ({**GOOD, "person": "x" * 201}, "$.person"),
    ({**GOOD, "start": "yesterday"}, "$.start"),
    ({**GOOD, "start": 1768298400}, "$.start"),
    ({**GOOD, "start": "0001-01-01T00:00:00+01:00"}, "$.start"),    # out of range once in UTC
    ({k: v for k, v in GOOD.items() if k != "end"}, "$.end"),
    ({**GOOD, "end": GOOD["start"]}, "$.end"),                      # start == end
    ({**GOOD, "end": "2026-01-13T09:30:00Z"}, "$.end"),             # before start
    ({**GOOD, "start": "2026-01-12T00:00:00Z", "end": "2026-01-13T09:00:00Z"}, "$.end"),  # not in the future
    ({**GOOD, "reason": 5}, "$.reason"),
    ({**GOOD, "ends": "2026-01-14T00:00:00Z"}, "$.ends"),
])
def test_validate_override_errors_carry_the_json_path(body, path):
    with pytest.raises(InvalidInput) as e:
        validate_override(body, NOW)
    assert e.value.path == path
