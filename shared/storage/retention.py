"""The rows that expire (shared/services/retention.py decides when) and the dead letters' count:

    alert|<h>|F / R          de-duplication rows, by the day of the incident they point at (its id carries it)
    aud|<ISO>|...            audit rows, by their own time (the key starts with it)
    dead|<lane>|<ISO>|<msg>  messages a receiver refused for good, by when they were written (created_at)

Deletes are ETag-conditional, in batches of 100 (one page each), at most `limit` per call; a batch that
lost a race is left for the next run.
"""
from __future__ import annotations

from datetime import datetime

from shared.domain.errors import ConcurrencyConflict
from shared.domain.timeutil import iso
from shared.ports import Filter, Op, RecordStore
from shared.storage.outbox_rows import DEAD

PAGE = 100


def expire_alert_index(store: RecordStore, *, before_day: datetime, limit: int) -> int:
    """Delete the de-duplication rows of incidents opened before `before_day` (its date). Returns how many."""
    cutoff = before_day.strftime("%Y%m%d")
    return _delete(store, "alert|", "alert}", [Filter("incident_id", "lt", f"INC-{cutoff}")], limit)


def expire_audit(store: RecordStore, *, before: datetime, limit: int) -> int:
    """Delete the audit rows written before `before`. Returns how many."""
    return _delete(store, "aud|", f"aud|{iso(before)}", [], limit)


def expire_dead_letters(store: RecordStore, *, before: datetime, limit: int) -> int:
    """Delete the dead letters written before `before`. Returns how many."""
    return _delete(store, DEAD, DEAD[:-1] + "}", [Filter("created_at", "lt", iso(before))], limit)


def dead_letters(store: RecordStore, *, limit: int = 1000) -> int:
    """How many dead letters wait for people (counted up to `limit`). One range scan."""
    return len(store.scan(start=DEAD, end=DEAD[:-1] + "}", limit=limit).records)


def _delete(store: RecordStore, start: str, end: str, filters: list[Filter], limit: int) -> int:
    deleted, after = 0, None
    while deleted < limit:
        page = store.scan(start=start, end=end, filters=filters, limit=PAGE, after=after)
        if page.records:
            try:
                store.commit(ops=[Op("delete", r.key, etag=r.etag) for r in page.records])
                deleted += len(page.records)
            except ConcurrencyConflict:
                pass  # a row changed or went meanwhile: the next run sees it again
        if page.continuation is None:
            return deleted
        after = page.continuation
    return deleted
