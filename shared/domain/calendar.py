"""Business calendar and deadlines: working time, SLA due times and breaches, PIR due dates.

Runbook sections 1 (response / resolution targets) and 6 (post-incident review deadlines).
Every instant in and out is a tz-aware datetime, returned in UTC; local wall time exists only in
here, via zoneinfo, so a DST change moves the UTC deadlines and never the working hours.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from typing import Any, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.domain.errors import PolicyError
from shared.domain.timeutil import iso

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_TARGET = re.compile(r"^(\d+)(m|h|d|bh|-business-days?)$")
_WALL_UNITS = {"m": "minutes", "h": "hours", "d": "days"}

# The runbook's table, in this module's notation (what docs/oncall-policy.toml spells out).
RUNBOOK_SLA = {
    "SEV-1": {"response": "15m", "resolution": "1h", "pir": "48h"},
    "SEV-2": {"response": "30m", "resolution": "4h", "pir": "5-business-days"},
    "SEV-3": {"response": "2h", "resolution": "24h"},
    "SEV-4": {"response": "next-business-day", "resolution": "5-business-days"},
}


# Policy parsing helpers, shared with roster.py.
def require_utc(t: Any, name: str) -> datetime:
    """`t` converted to UTC. Raises ValueError if it is not a tz-aware datetime (a caller's bug)."""
    if not isinstance(t, datetime) or t.utcoffset() is None:
        raise ValueError(f"{name} must be a tz-aware datetime, got {t!r}")
    return t.astimezone(UTC)


def parse_zone(value: Any, where: str) -> str:
    """An IANA zone name that zoneinfo knows. Raises PolicyError naming `where`."""
    if not isinstance(value, str) or not value:
        raise PolicyError(f"{where} must be an IANA time zone name such as 'Europe/Berlin'")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise PolicyError(f"{where}: unknown time zone {value!r}") from e
    return value


def parse_weekday(value: Any, where: str) -> int:
    """'mon'..'sun' (any case) or 0..6 -> 0..6. Raises PolicyError naming `where`."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 6:
        return value
    if isinstance(value, str) and value.strip().lower() in WEEKDAYS:
        return WEEKDAYS.index(value.strip().lower())
    raise PolicyError(f"{where}: {value!r} is not a weekday (one of {', '.join(WEEKDAYS)})")


def parse_clock(value: Any, where: str) -> time:
    """'HH:MM' (24 h) -> time. Raises PolicyError naming `where`."""
    if isinstance(value, time):
        return value
    m = _HHMM.match(value.strip()) if isinstance(value, str) else None
    if not m:
        raise PolicyError(f"{where}: {value!r} is not a 24-hour time 'HH:MM'")
    return time(int(m[1]), int(m[2]))


def parse_date(value: Any, where: str) -> date:
    """'YYYY-MM-DD' or a TOML date -> date. Raises PolicyError naming `where`."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError) as e:
        raise PolicyError(f"{where}: {value!r} is not a date 'YYYY-MM-DD'") from e


@dataclass(frozen=True)
class BusinessCalendar:
    """Working hours [start, end) local time on working weekdays (0=Mon) that are not holidays."""

    timezone: str = "UTC"
    weekdays: frozenset[int] = frozenset(range(5))
    start: time = time(9)
    end: time = time(17)
    holidays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        # Without these the searches below would never end.
        if not self.weekdays or not self.weekdays <= set(range(7)) or not self.start < self.end:
            raise ValueError("a business calendar needs a working weekday and start < end")

    @classmethod
    def from_policy(cls, raw: Mapping[str, Any], where: str = "calendar") -> BusinessCalendar:
        """Parse the [calendar] table. Raises PolicyError naming the bad key (e.g. `calendar.hours`)."""
        if not isinstance(raw, Mapping):
            raise PolicyError(f"{where} must be a table")
        zone = parse_zone(raw.get("timezone"), f"{where}.timezone")
        days = raw.get("weekdays", list(WEEKDAYS[:5]))
        if not isinstance(days, list) or not days:
            raise PolicyError(f"{where}.weekdays must be a non-empty list such as ['mon', 'tue']")
        weekdays = frozenset(parse_weekday(d, f"{where}.weekdays[{i}]") for i, d in enumerate(days))
        hours = raw.get("hours", "09:00-17:00")
        parts = hours.split("-") if isinstance(hours, str) else []
        if len(parts) != 2:
            raise PolicyError(f"{where}.hours must look like '09:00-17:00', got {hours!r}")
        start, end = (parse_clock(p, f"{where}.hours") for p in parts)
        if not start < end:
            raise PolicyError(f"{where}.hours: start must be before end (no overnight hours), got {hours!r}")
        listed = raw.get("holidays", [])
        if not isinstance(listed, list):
            raise PolicyError(f"{where}.holidays must be a list of dates 'YYYY-MM-DD'")
        holidays = frozenset(parse_date(d, f"{where}.holidays[{i}]") for i, d in enumerate(listed))
        return cls(zone, weekdays, start, end, holidays)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)  # zoneinfo caches instances per key

    def local_date(self, t: datetime) -> date:
        return require_utc(t, "t").astimezone(self.zone).date()

    def is_working_day(self, d: date) -> bool:
        return d.weekday() in self.weekdays and d not in self.holidays

    def window(self, d: date) -> tuple[datetime, datetime]:
        """Working hours of local date `d` as UTC instants (whether or not `d` is a working day)."""
        return (datetime.combine(d, self.start, self.zone).astimezone(UTC),
                datetime.combine(d, self.end, self.zone).astimezone(UTC))

    def is_business_time(self, t: datetime) -> bool:
        """True when `t` falls inside working hours. Raises ValueError for a naive datetime."""
        t = require_utc(t, "t")
        d = t.astimezone(self.zone).date()
        if not self.is_working_day(d):
            return False
        opens, closes = self.window(d)
        return opens <= t < closes

    def add_business_time(self, start: datetime, amount: timedelta) -> datetime:
        """The UTC instant at which `amount` of working time has elapsed since `start`.

        Time outside working hours does not count; a span that exactly fills a day ends at that
        day's closing time. Raises ValueError for a naive `start` or a negative `amount`.
        """
        cursor = require_utc(start, "start")
        if amount < timedelta(0):
            raise ValueError("amount must not be negative")
        remaining, d = amount, cursor.astimezone(self.zone).date()
        while True:
            if self.is_working_day(d):
                opens, closes = self.window(d)
                opens = max(opens, cursor)
                if opens < closes:
                    if remaining <= closes - opens:
                        return opens + remaining
                    remaining -= closes - opens
            d += timedelta(days=1)

    def add_business_days(self, start: datetime, n: int) -> datetime:
        """End of working hours (UTC) on the n-th working day after `start`'s local date.

        "Next business day" is n=1. Raises ValueError for n < 1 or a naive `start`.
        """
        if n < 1:
            raise ValueError("n must be at least 1")
        d = self.local_date(start)
        while n:
            d += timedelta(days=1)
            if self.is_working_day(d):
                n -= 1
        return self.window(d)[1]

    def next_business_day_end(self, start: datetime) -> datetime:
        """End of working hours (UTC) on the first working day after `start`'s local date."""
        return self.add_business_days(start, 1)


@dataclass(frozen=True)
class Target:
    """A deadline relative to a start instant, in runbook notation.

    "15m", "4h", "2d": wall clock.  "8bh": business hours.  "next-business-day" and
    "5-business-days": end of working hours on the n-th working day after the start's local date.
    """

    text: str
    wall: timedelta | None = None
    business_hours: timedelta | None = None
    business_days: int = 0

    @classmethod
    def parse(cls, value: Any, where: str) -> Target:
        """Raises PolicyError naming `where` for anything but a positive amount in the notation."""
        v = value.strip().lower() if isinstance(value, str) else ""
        m = _TARGET.match("1-business-day" if v == "next-business-day" else v)
        if not m or int(m[1]) == 0:
            raise PolicyError(f"{where}: {value!r} is not a target such as '15m', '4h', '8bh', "
                              "'next-business-day' or '5-business-days'")
        n, unit = int(m[1]), m[2]
        if unit in _WALL_UNITS:
            return cls(v, wall=timedelta(**{_WALL_UNITS[unit]: n}))
        if unit == "bh":
            return cls(v, business_hours=timedelta(hours=n))
        return cls(v, business_days=n)

    def due(self, start: datetime, calendar: BusinessCalendar) -> datetime:
        """The UTC due instant for a clock started at `start`."""
        if self.wall is not None:
            return require_utc(start, "start") + self.wall
        if self.business_hours is not None:
            return calendar.add_business_time(start, self.business_hours)
        return calendar.add_business_days(start, self.business_days)


@dataclass(frozen=True)
class SlaTargets:
    response: Target
    resolution: Target
    pir: Target | None = None  # post-incident review, counted from resolution; None = not required


def _breached(due: datetime, met_at: datetime | None, at: datetime) -> bool:
    # A clock stops when met: breached at `at` iff `at` is past due and it was not met by then.
    # Monotonic in `at`, which is what makes breaches_between report each breach once.
    return at > due and (met_at is None or met_at > due)


@dataclass(frozen=True)
class SlaPolicy:
    """Response / resolution / PIR targets per severity (runbook sections 1 and 6)."""

    targets: Mapping[str, SlaTargets]

    @classmethod
    def from_policy(cls, raw: Mapping[str, Any], where: str = "sla") -> SlaPolicy:
        """Parse the [sla] table, e.g. {"SEV-1": {"response": "15m", "resolution": "1h", "pir": "48h"}}.

        `pir` is optional (absent or "none": no review required). Raises PolicyError naming the key.
        """
        if not isinstance(raw, Mapping) or not raw:
            raise PolicyError(f"{where} must be a table of severities")
        targets = {}
        for sev, row in raw.items():
            at = f"{where}.{sev}"
            if not isinstance(row, Mapping):
                raise PolicyError(f"{at} must be a table with response and resolution")
            unknown = set(row) - {"response", "resolution", "pir"}
            if unknown:
                raise PolicyError(f"{at}.{sorted(unknown)[0]} is not a known key (response, resolution, pir)")
            missing = [k for k in ("response", "resolution") if k not in row]
            if missing:
                raise PolicyError(f"{at}.{missing[0]} is missing")
            pir = row.get("pir", "none")
            targets[sev] = SlaTargets(
                Target.parse(row["response"], f"{at}.response"),
                Target.parse(row["resolution"], f"{at}.resolution"),
                None if pir == "none" else Target.parse(pir, f"{at}.pir"))
        return cls(MappingProxyType(targets))

    @classmethod
    def default(cls) -> SlaPolicy:
        """The runbook's own table."""
        return cls.from_policy(RUNBOOK_SLA)

    def for_severity(self, severity: str) -> SlaTargets:
        """Raises PolicyError when the policy has no row for `severity`."""
        try:
            return self.targets[severity]
        except KeyError:
            raise PolicyError(f"sla.{severity} is not defined") from None

    def sla_due(self, severity: str, opened_at: datetime,
                calendar: BusinessCalendar) -> tuple[datetime, datetime]:
        """(response_due, resolution_due) in UTC. Raises PolicyError for an unknown severity."""
        t = self.for_severity(severity)
        return t.response.due(opened_at, calendar), t.resolution.due(opened_at, calendar)

    def sla_status(self, severity: str, opened_at: datetime, acknowledged_at: datetime | None,
                   resolved_at: datetime | None, now: datetime, calendar: BusinessCalendar) -> dict:
        """Due times (ISO-8601 UTC, Z) and whether each clock is breached as of `now`.

        The response clock stops at acknowledgement or resolution, whichever is first; the
        resolution clock at resolution. Breached: met after due, or still running past due
        (exactly at due is not a breach). Raises PolicyError for an unknown severity.
        """
        response_due, resolution_due = self.sla_due(severity, opened_at, calendar)
        responded, resolved, now = self._met(acknowledged_at, resolved_at, now)
        return {"response_due": iso(response_due), "resolution_due": iso(resolution_due),
                "response_breached": _breached(response_due, responded, now),
                "resolution_breached": _breached(resolution_due, resolved, now)}

    def breaches_between(self, severity: str, opened_at: datetime, acknowledged_at: datetime | None,
                         resolved_at: datetime | None, since: datetime | None, now: datetime,
                         calendar: BusinessCalendar) -> list[str]:
        """Clocks ("response", "resolution") that became breached in (since, now].

        Sweeps over back-to-back windows report each breach exactly once, even when a late
        acknowledgement lands before the sweep sees it. `since=None` means the incident's opening.
        Raises PolicyError for an unknown severity.
        """
        since = require_utc(opened_at if since is None else since, "since")
        dues = self.sla_due(severity, opened_at, calendar)
        responded, resolved, now = self._met(acknowledged_at, resolved_at, now)
        return [name for name, due, met in zip(("response", "resolution"), dues, (responded, resolved))
                if _breached(due, met, now) and not _breached(due, met, since)]

    def pir_due(self, severity: str, resolved_at: datetime, calendar: BusinessCalendar) -> datetime | None:
        """PIR due (UTC) counted from resolution, or None if not required. Raises PolicyError."""
        pir = self.for_severity(severity).pir
        return None if pir is None else pir.due(resolved_at, calendar)

    @staticmethod
    def _met(ack: datetime | None, res: datetime | None, now: datetime) -> tuple:
        # (response met at, resolution met at, now) in UTC: resolving also answers the page.
        ack, res = (None if t is None else require_utc(t, "ack/resolved") for t in (ack, res))
        return min(filter(None, (ack, res)), default=None), res, require_utc(now, "now")
