"""What every benchmark shares: statistics, the wire counter, the result rows, a store on Azurite."""
from __future__ import annotations

import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/__main__.py` as well as `python -m bench`
    sys.path.insert(0, str(ROOT))

from shared import bootstrap  # noqa: E402
from shared.adapters.tables.store import TableRecordStore  # noqa: E402

T0 = datetime(2026, 11, 27, 3, 0, tzinfo=timezone.utc)
ROLES = ("primary", "secondary", "engineering_lead", "vp_engineering", "security_lead",
         "customer_success_lead", "cto")
KEYS = {role: f"{i:02d}" + "k" * 30 for i, role in enumerate(ROLES)}  # 32 characters, like PagerDuty's


# ---- statistics --------------------------------------------------------------------------------

def ms(seconds: float) -> float:
    return seconds * 1000.0


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs)


def pct(xs: Sequence[float], q: int) -> float:
    """The q-th percentile, nearest rank (p99 of 50 samples is the largest)."""
    s = sorted(xs)
    return s[max(0, -(-q * len(s) // 100) - 1)]


def p95(xs: Sequence[float]) -> float:
    return pct(xs, 95)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def say(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Wire:
    """Counts the HTTP requests a TableClient sends (its raw_request_hook runs once per request on
    the wire, retries included, in whichever thread sends it)."""

    def __init__(self) -> None:
        self.n = 0
        self._lock = threading.Lock()

    def hook(self, request: Any) -> None:
        with self._lock:
            self.n += 1


class ShiftedClock:
    """Real time, shifted to start at `start`: the app's dates, the machine's pace (the timer benchmarks)."""

    def __init__(self, start: datetime):
        self._start, self._t0 = start, time.monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=time.monotonic() - self._t0)


# ---- results -----------------------------------------------------------------------------------

@dataclass
class Row:
    """A timing, with its baseline from the same run."""
    name: str
    ms: float
    p95: float | None = None
    base_name: str = ""
    base_ms: float | None = None
    target: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        return None if not self.base_ms else self.ms / self.base_ms

    @property
    def verdict(self) -> str:
        if self.target is None or self.ratio is None:
            return ""
        return "ok" if self.ratio <= self.target else "MISSED"


@dataclass
class Check:
    """One target of the roadmap: what was measured, the target, held or missed, and why."""
    figure: str
    measured: str
    target: str
    held: bool | None
    why: str = ""

    @property
    def verdict(self) -> str:
        return "" if self.held is None else "held" if self.held else "MISSED"


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    trips: list[tuple[str, dict[str, float], str]] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    facts: dict[str, float] = field(default_factory=dict)   # one benchmark's figures another one cites


# ---- the store -------------------------------------------------------------------------------

def new_store(az: Any, table: str, wire: Wire | None = None) -> TableRecordStore:
    hook = {"raw_request_hook": wire.hook} if wire is not None else {}
    return TableRecordStore.from_settings(connection_string=az.connection_string, endpoint="", table_name=table,
                                          **hook)


def runbook():
    return bootstrap.load_runbook(bootstrap.settings().runbook_file)
