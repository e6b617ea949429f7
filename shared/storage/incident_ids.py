"""Incident ids without a hot row: INC-<yyyymmdd>-<n>, unique under any concurrency, ordered by day.

A worker reserves ids in blocks of ID_BLOCK on the day's counter row (seq|<yyyymmdd>) under its ETag
and hands them out from memory, so creating an incident writes no shared row; one create in
ID_BLOCK pays for the next block (a read and a write). Two workers never hold overlapping blocks, and
the incident's own insert is the final guard: when it collides (a counter behind its incidents after
a restore or a hand-deleted row), heal() moves the counter past the day's newest incident. Within a
day, the blocks of several workers interleave.
"""
from __future__ import annotations

import threading
import weakref
from datetime import datetime
from typing import Any

from shared.domain.errors import ConcurrencyConflict
from shared.ports import Op, Record, RecordStore
from shared.storage.retry import retrying


def counter_key(day: str) -> str:
    return f"seq|{day}"


ID_BLOCK = 10   # ids a worker reserves at a time: one write to the day's counter per ten incidents


class _IdBlocks:
    """The ids this worker has reserved and not used yet, per store and day (thread-safe)."""

    def __init__(self) -> None:
        self._blocks: weakref.WeakKeyDictionary[Any, dict[str, list[int]]] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        self.reserving = threading.Lock()

    def take(self, store: Any, day: str) -> int | None:
        with self._lock:
            block = self._blocks.get(store, {}).get(day)
            if not block or block[0] > block[1]:
                return None
            block[0] += 1
            return block[0] - 1

    def put(self, store: Any, day: str, first: int, last: int) -> None:
        with self._lock:
            self._blocks.setdefault(store, {})[day] = [first, last]  # a day's older block is used up

    def forget(self, store: Any, day: str) -> None:
        with self._lock:
            self._blocks.get(store, {}).pop(day, None)


_ids = _IdBlocks()


def _count(counter: Record | None) -> int:
    n = counter.data.get("n") if counter else 0
    return n if isinstance(n, int) and not isinstance(n, bool) and n >= 0 else 0


def allocate(store: RecordStore, now: datetime) -> str:
    """The day's next free incident id (INC-20261127-0042) for this worker: taken from the block it
    reserved, or a new block of ID_BLOCK reserved under the counter's ETag. Ids are unique under
    any concurrency (two workers never hold overlapping blocks; the incident's insert is the final
    guard) and ordered by day; within a day, workers' blocks interleave. Raises StoreUnavailable,
    ConcurrencyConflict when the counter stays contended."""
    day = now.strftime("%Y%m%d")
    n = _ids.take(store, day)
    if n is None:
        with _ids.reserving:  # one reservation at a time in this worker: the others wait and share it
            n = _ids.take(store, day)
            if n is None:
                n = _reserve(store, day)
    return f"INC-{day}-{n:04d}"

def _reserve(store: RecordStore, day: str) -> int:
    ckey = counter_key(day)

    def attempt() -> int:   # another worker may take a block meanwhile: read the counter again
        counter = store.get(keys=[ckey]).get(ckey)
        start = _count(counter)
        data = {"n": start + ID_BLOCK}
        store.commit(ops=[Op("replace", ckey, data, counter.etag) if counter else Op("insert", ckey, data)])
        _ids.put(store, day, start + 2, start + ID_BLOCK)
        return start + 1
    return retrying(attempt, f"the incident counter of {day}")


def heal(store: RecordStore, now: datetime) -> bool:
    """After a create lost its batch: when the day's counter is behind the day's newest incident
    (a restore, a row deleted by hand, a store that lost its last writes), move it past that
    incident, so the next claim takes a free id instead of colliding for the rest of the day.
    Returns True when it moved the counter. Costs two requests; raises StoreUnavailable."""
    day = now.strftime("%Y%m%d")
    _ids.forget(store, day)  # this worker's block may lie behind the day's incidents too
    ckey = counter_key(day)
    counter = store.get(keys=[ckey]).get(ckey)
    start = f"inc|{99999999 - int(day):08d}"
    newest = store.scan(start=start, end=start + "~", limit=1).records  # newest first
    top = 999999 - int(newest[0].key[len(start):]) if newest else 0
    if top <= _count(counter):
        return False
    op = Op("replace", ckey, {"n": top}, counter.etag) if counter else Op("insert", ckey, {"n": top})
    try:
        store.commit(ops=[op])
    except ConcurrencyConflict:
        return False  # another writer moved it meanwhile: the next attempt re-reads it
    return True
