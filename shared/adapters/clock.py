"""Clock adapters. The only place in the app that reads the wall clock."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class ScaledClock:
    """Runs `scale` times faster than real time from the moment it is made (local host --time-scale)."""

    def __init__(self, scale: float = 1.0):
        if scale <= 0:
            raise ValueError("scale must be positive")
        self.scale = scale
        self._origin = datetime.now(timezone.utc)
        self._t0 = time.monotonic()

    def now(self) -> datetime:
        return self._origin + timedelta(seconds=(time.monotonic() - self._t0) * self.scale)


class FixedClock:
    """A clock that moves only when told to (tests, benchmarks)."""

    def __init__(self, start: datetime):
        if start.tzinfo is None:
            raise ValueError("start must be tz-aware")
        self._now = start.astimezone(timezone.utc)

    def now(self) -> datetime:
        return self._now

    def advance(self, **delta: float) -> datetime:
        self._now += timedelta(**delta)
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when.astimezone(timezone.utc)
