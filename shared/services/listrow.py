"""A small list kept in one row (silences, on-call overrides): read with a point read, changed
under the row's ETag, and pruned of entries whose `end` has passed on every write."""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Callable

from shared.domain.errors import ConcurrencyConflict
from shared.domain.timeutil import iso
from shared.ports import Op, Record, RecordStore


def items(rec: Record | None) -> list[dict[str, Any]]:
    return json.loads(rec.data["items"]) if rec else []


def change(store: RecordStore, key: str, now: datetime,
           edit: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> None:
    """Apply `edit` to the current (unexpired) items. Raises ConcurrencyConflict after bounded retries."""
    for _ in range(8):
        rec = store.get(keys=[key]).get(key)
        current = [i for i in items(rec) if i["end"] > iso(now)]
        data = {"items": json.dumps(edit(current))}
        try:
            store.commit(ops=[Op("replace", key, data, rec.etag) if rec else Op("insert", key, data)])
            return
        except ConcurrencyConflict:
            continue
    raise ConcurrencyConflict(f"{key.split('|')[0]} is changing too fast; retry")
