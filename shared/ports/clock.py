"""The clock port: time is an outside thing (no datetime.now() outside the clock adapter)."""
from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, UTC, tz-aware."""
