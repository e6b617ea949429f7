"""SLA targets and deadlines: response and resolution due times and breaches (runbook section 1),
post-incident review due dates (section 6), on the business calendar.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, Mapping

from shared.domain.calendar import BusinessCalendar, require_utc
from shared.domain.errors import PolicyError
from shared.domain.timeutil import iso

_TARGET = re.compile(r"^(\d+)(m|h|d|bh|-business-days?)$")
_WALL_UNITS = {"m": "minutes", "h": "hours", "d": "days"}

# The runbook's table, in this module's notation (what docs/oncall-policy.toml spells out).
RUNBOOK_SLA = {
    "SEV-1": {"response": "15m", "resolution": "1h", "pir": "48h"},
    "SEV-2": {"response": "30m", "resolution": "4h", "pir": "5-business-days"},
    "SEV-3": {"response": "2h", "resolution": "24h"},
    "SEV-4": {"response": "next-business-day", "resolution": "5-business-days"},
}


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
                   resolved_at: datetime | None, now: datetime, calendar: BusinessCalendar) -> dict[str, Any]:
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
    def _met(ack: datetime | None, res: datetime | None,
             now: datetime) -> tuple[datetime | None, datetime | None, datetime]:
        # (response met at, resolution met at, now) in UTC: resolving also answers the page.
        ack, res = (None if t is None else require_utc(t, "ack/resolved") for t in (ack, res))
        return min(filter(None, (ack, res)), default=None), res, require_utc(now, "now")
