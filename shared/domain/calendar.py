"""Business calendar: working hours, holidays, business time and business days (the SLA
targets built on it are in sla.py).

Every instant in and out is a tz-aware datetime, returned in UTC; local wall time exists only in
here, via zoneinfo, so a DST change moves the UTC deadlines and never the working hours.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.domain.errors import PolicyError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


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
