"""Health of the automation itself: the store answers, the sweep ran within three ticks, no due row
keeps failing, and the settings are usable. Broken settings are named, never shown."""
from __future__ import annotations

from typing import Any, Sequence

from shared.domain.timeutil import iso
from shared.ports import Clock, RecordStore
from shared.storage import due_index, retention

STALE_TICKS = 3
LISTED = 20   # failing rows named in the answer (all are counted)


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


def health(*, store: RecordStore, clock: Clock, schedule: str, config_errors: Sequence[str] = ()) -> dict[str, Any]:
    """`healthy` is False (answered 503) when the sweep is older than three ticks, never ran, ran
    ahead of this clock, or a setting is broken; `status` is "degraded" (still 200) while due rows
    fail and are being retried, or while messages a receiver refused for good wait for people
    (`dead_letters`, up to 1,000 counted; they expire with the audit rows). Raises StoreUnavailable when the store is down."""
    now = clock.now()
    last = due_index.last_sweep(store)
    limit = STALE_TICKS * tick_seconds(schedule)
    age = (now - last).total_seconds() if last else None
    fresh = age is not None and -limit <= age <= limit  # a sweep "in the future" is another clock's
    # a failing row keeps the key of the moment it fell due: only rows due by now can be failing
    failing = due_index.failing(store, now, limit=500)
    dead = retention.dead_letters(store, limit=1000)   # refused for good: people act
    healthy = fresh and not config_errors
    status = "ok" if healthy and not failing and not dead else "degraded" if healthy else \
        "misconfigured" if config_errors else "stale"
    return {"status": status, "healthy": healthy, "now": iso(now), "last_sweep": iso(last),
            "sweep_age_seconds": None if age is None else round(age, 1), "stale_after_seconds": limit,
            "failing_rows": len(failing),
            "failing": [{"incident_id": r.incident_id or None, "lane": r.lane or None, "failures": r.failures,
                         "retry_at": r.retry_at,
                         # the kind of error only: health is anonymous; the timeline has the detail
                         "error": r.error.split(":", 1)[0]} for r in failing[:LISTED]],
            "dead_letters": dead, "configuration_errors": list(config_errors)}
