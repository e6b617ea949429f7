"""Health of the automation itself: the store answers and the sweep ran within three ticks."""
from __future__ import annotations

from typing import Any

from shared.domain.timeutil import iso, parse_iso
from shared.ports import Clock, RecordStore
from shared.services.sweep import SWEEP_META

STALE_TICKS = 3


def tick_seconds(schedule: str) -> int:
    """The period of a six-field NCRONTAB schedule of the usual forms (*/N seconds, */N minutes, ...)."""
    fields = schedule.split()
    if len(fields) != 6:
        return 60
    for f, unit in zip(fields[:3], (1, 60, 3600)):
        if f.startswith("*/") and f[2:].isdigit():
            return int(f[2:]) * unit
        if f == "*":
            return unit
    return 86400


def health(*, store: RecordStore, clock: Clock, schedule: str) -> dict[str, Any]:
    """The last sweep time and `healthy`: False when the sweep is older than three ticks (or never ran).
    Raises StoreUnavailable when the store is down."""
    now = clock.now()
    rec = store.get(keys=[SWEEP_META]).get(SWEEP_META)
    last = parse_iso(rec.data["finished_at"]) if rec else None
    limit = STALE_TICKS * tick_seconds(schedule)
    age = (now - last).total_seconds() if last else None
    fresh = age is not None and age <= limit
    return {"status": "ok" if fresh else "stale", "healthy": fresh, "now": iso(now), "last_sweep": iso(last),
            "sweep_age_seconds": None if age is None else round(age, 1), "stale_after_seconds": limit}
