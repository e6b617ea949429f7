"""On-call roster (runbook section 2): a weekly rotation per role, with overrides on top.

A rotation hands off at a local weekday and time (DST-correct via zoneinfo); an override puts
someone else on call for [start, end). Instants in and out are tz-aware, returned in UTC.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from typing import Any, Iterable, Mapping
from zoneinfo import ZoneInfo

from shared.domain.calendar import WEEKDAYS, parse_clock, parse_date, parse_weekday, parse_zone, require_utc
from shared.domain.errors import InvalidInput, PolicyError
from shared.domain.timeutil import instant, iso, parse_iso

ROLES = ("primary", "secondary", "engineering_lead", "vp_engineering", "security_lead",
         "customer_success_lead", "cto")
_OVERRIDE_FIELDS = ("role", "person", "start", "end", "reason")
_MAX_NAME, _MAX_REASON = 200, 2000
_BEGINNING = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Rotation:
    """people[0] is on call from `start` at the hand-off time; each week the next one takes over."""

    role: str
    people: tuple[str, ...]
    handoff_weekday: int
    handoff_time: time
    timezone: str
    start: date

    @classmethod
    def from_policy(cls, role: str, raw: Any, where: str) -> Rotation:
        """Parse one [oncall.<role>] table. Raises PolicyError naming the key (`oncall.primary.handoff`)."""
        if not isinstance(raw, Mapping):
            raise PolicyError(f"{where} must be a table with people, handoff, timezone and start")
        people = raw.get("people")
        if (not isinstance(people, list) or not people
                or not all(isinstance(p, str) and p.strip() for p in people)):
            raise PolicyError(f"{where}.people must be a non-empty list of names")
        handoff = raw.get("handoff")
        parts = handoff.split() if isinstance(handoff, str) else []
        if len(parts) != 2:
            raise PolicyError(f"{where}.handoff must look like 'mon 09:00', got {handoff!r}")
        weekday = parse_weekday(parts[0], f"{where}.handoff")
        at = parse_clock(parts[1], f"{where}.handoff")
        zone = parse_zone(raw.get("timezone"), f"{where}.timezone")
        start = parse_date(raw.get("start"), f"{where}.start")
        if start.weekday() != weekday:
            raise PolicyError(f"{where}.start: {start} is a {WEEKDAYS[start.weekday()]}, "
                              f"not the hand-off day {WEEKDAYS[weekday]}")
        return cls(role, tuple(p.strip() for p in people), weekday, at, zone, start)

    def _handoff(self, week: int) -> datetime:
        day = self.start + timedelta(weeks=week)
        return datetime.combine(day, self.handoff_time, ZoneInfo(self.timezone)).astimezone(UTC)

    def week_of(self, at: datetime) -> int:
        """Shift number covering `at` (0 = the first; negative before `start`, extrapolated)."""
        at = require_utc(at, "at")
        week = (at.astimezone(ZoneInfo(self.timezone)).date() - self.start).days // 7
        return week - 1 if at < self._handoff(week) else week

    def person_at(self, at: datetime) -> str:
        return self.people[self.week_of(at) % len(self.people)]

    def next_handoff(self, at: datetime) -> datetime:
        """The first hand-off strictly after `at`, in UTC."""
        return self._handoff(self.week_of(at) + 1)


@dataclass(frozen=True)
class Override:
    """`person` is on call for `role` during [start, end). `created_at` orders overlapping ones."""

    id: str
    role: str
    person: str
    start: datetime
    end: datetime
    created_by: str
    reason: str = ""
    created_at: datetime | None = None

    def covers(self, at: datetime) -> bool:
        return self.start <= at < self.end

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "role": self.role, "person": self.person, "start": iso(self.start),
                "end": iso(self.end), "created_by": self.created_by, "reason": self.reason,
                "created_at": iso(self.created_at)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Override:
        """Rebuild a stored override (as written by to_dict; trusted data)."""
        start, end = parse_iso(d["start"]), parse_iso(d["end"])
        if start is None or end is None:
            raise ValueError(f"override {d.get('id')} has no start or end")
        return cls(d["id"], d["role"], d["person"], start, end,
                   d.get("created_by", ""), d.get("reason", ""), parse_iso(d.get("created_at")))


@dataclass(frozen=True)
class OnCall:
    person: str
    role: str
    source: str  # "rotation" | "override"
    override_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"person": self.person, "role": self.role, "source": self.source,
                "override_id": self.override_id}


@dataclass(frozen=True)
class Roster:
    """One rotation for each of ROLES."""

    rotations: Mapping[str, Rotation]

    @classmethod
    def from_policy(cls, raw: Mapping[str, Any], where: str = "oncall") -> Roster:
        """Parse the [oncall] table (one sub-table per role, all seven required).

        Raises PolicyError naming the key: `oncall.cto` missing, `oncall.primary.handoff` malformed.
        """
        if not isinstance(raw, Mapping):
            raise PolicyError(f"{where} must be a table of roles")
        for role in raw:
            if role not in ROLES:
                raise PolicyError(f"{where}.{role} is not a role (one of {', '.join(ROLES)})")
        for role in ROLES:
            if role not in raw:
                raise PolicyError(f"{where}.{role} is missing: every role needs a rotation")
        return cls(MappingProxyType(
            {role: Rotation.from_policy(role, raw[role], f"{where}.{role}") for role in ROLES}))

    def rotation(self, role: str) -> Rotation:
        """Raises PolicyError for a role the roster does not know."""
        try:
            return self.rotations[role]
        except KeyError:
            raise PolicyError(f"unknown on-call role {role!r} (one of {', '.join(ROLES)})") from None

    def on_call(self, role: str, at: datetime, overrides: Iterable[Override] = ()) -> OnCall:
        """Who is on call for `role` at `at`.

        Of the overrides for `role` covering `at`, the latest created wins (ties: the later in
        `overrides`); otherwise the rotation. Raises PolicyError for an unknown role.
        """
        rotation = self.rotation(role)
        at = require_utc(at, "at")
        best: tuple[tuple[datetime, int], Override] | None = None
        for i, o in enumerate(overrides):
            if o.role == role and o.covers(at):
                key = (o.created_at or _BEGINNING, i)
                if best is None or key > best[0]:
                    best = (key, o)
        if best is not None:
            return OnCall(best[1].person, role, "override", best[1].id)
        return OnCall(rotation.person_at(at), role, "rotation")

    def now_all(self, at: datetime, overrides: Iterable[Override] = ()) -> list[OnCall]:
        """Everyone on call at `at`, in ROLES order (GET /api/oncall)."""
        overrides = tuple(overrides)
        return [self.on_call(role, at, overrides) for role in ROLES]

    def next_handoff(self, role: str, at: datetime) -> datetime:
        """The rotation's next hand-off after `at` (UTC), ignoring overrides. Raises PolicyError."""
        return self.rotation(role).next_handoff(at)

    def holds_until(self, held: OnCall, at: datetime, overrides: Iterable[Override] = ()) -> datetime:
        """Until when `held` (from on_call at `at`) keeps the role: an override's holder until its
        end; the rotation's until its next hand-off or the start of a later override, whichever is
        first. Raises PolicyError for an unknown role."""
        overrides = tuple(o for o in overrides if o.role == held.role)
        if held.source == "override":
            return next(o.end for o in overrides if o.id == held.override_id)
        starts = [o.start for o in overrides if o.start > at]
        return min([self.next_handoff(held.role, at), *starts])


def _text(body: Mapping[str, Any], key: str, limit: int, required: bool = True) -> str:
    value = body.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise InvalidInput(f"$.{key}", "must be a non-empty string" if required else "must be a string")
    if len(value) > limit:
        raise InvalidInput(f"$.{key}", f"must be at most {limit} characters")
    return value.strip()


def validate_override(body: Any, now: datetime) -> dict[str, Any]:
    """Check a request to create an override; return it normalised (times as ISO-8601 UTC, Z).

    Fields: role (one of ROLES), person, start, end (ISO-8601; a Z or offset, naive means UTC),
    reason (optional). Requires start < end and end after `now`. The caller adds id, created_by
    and created_at. Raises InvalidInput with the JSON path of the first bad field.
    """
    now = require_utc(now, "now")
    if not isinstance(body, Mapping):
        raise InvalidInput("$", "must be a JSON object")
    for key in body:
        if key not in _OVERRIDE_FIELDS:
            raise InvalidInput(f"$.{key}", f"is not a known field ({', '.join(_OVERRIDE_FIELDS)})")
    role = body.get("role")
    if role not in ROLES:
        raise InvalidInput("$.role", f"must be one of {', '.join(ROLES)}")
    person = _text(body, "person", _MAX_NAME)
    start, end = instant(body.get("start"), "$.start"), instant(body.get("end"), "$.end")
    if not start < end:
        raise InvalidInput("$.end", "must be after $.start")
    if not end > now:
        raise InvalidInput("$.end", "must be in the future")
    reason = _text(body, "reason", _MAX_REASON, required=False)
    return {"role": role, "person": person, "start": iso(start), "end": iso(end), "reason": reason}

