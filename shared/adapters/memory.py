"""InMemoryRecordStore: the RecordStore port in a dict. For unit tests and benchmarks only.

It keeps the same semantics as the Table adapter (atomic batches, ETag conditions, key order), so
one contract test suite runs against both.
"""
from __future__ import annotations

import itertools
import threading
from typing import Any, Mapping, Sequence

from shared.domain.errors import ConcurrencyConflict, StoreUnavailable
from shared.ports import Filter, Op, Page, Record

_COMPARE = {
    "eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "ge": lambda a, b: a >= b,
    "gt": lambda a, b: a > b, "le": lambda a, b: a <= b, "lt": lambda a, b: a < b,
}


def matches(data: Mapping[str, Any], filters: Sequence[Filter]) -> bool:
    for f in filters:
        if f.field not in data:
            return False
        try:
            if not _COMPARE[f.op](data[f.field], f.value):
                return False
        except TypeError:
            return False
    return True


class InMemoryRecordStore:
    def __init__(self) -> None:
        self._rows: dict[str, tuple[dict[str, Any], str]] = {}
        self._lock = threading.Lock()
        self._etags = itertools.count(1)
        self.available = True      # tests flip this to simulate an outage
        self.round_trips = 0       # how many calls reached the store

    def _check(self) -> None:
        if not self.available:
            raise StoreUnavailable("in-memory store switched off")
        self.round_trips += 1

    def get(self, *, keys: Sequence[str]) -> dict[str, Record]:
        with self._lock:
            self._check()
            return {k: Record(k, dict(self._rows[k][0]), self._rows[k][1]) for k in keys if k in self._rows}

    def scan(self, *, start: str, end: str, filters: Sequence[Filter] = (), limit: int | None = None,
             after: str | None = None) -> Page:
        with self._lock:
            self._check()
            out: list[Record] = []
            for key in sorted(k for k in self._rows if start <= k < end and (after is None or k > after)):
                data, etag = self._rows[key]
                if matches(data, filters):
                    out.append(Record(key, dict(data), etag))
                    if limit is not None and len(out) >= limit:
                        return Page(out, key)
            return Page(out, None)

    def commit(self, *, ops: Sequence[Op]) -> dict[str, str]:
        if len(ops) > 100:
            raise ValueError("a batch holds at most 100 operations")
        if len({op.key for op in ops}) != len(ops):
            raise ValueError("a batch may touch each key once")
        with self._lock:
            self._check()
            for op in ops:
                row = self._rows.get(op.key)
                if op.kind == "insert" and row is not None:
                    raise ConcurrencyConflict(f"{op.key} exists")
                if op.kind in ("replace", "delete") and op.etag != "*":
                    if row is None or row[1] != op.etag:
                        raise ConcurrencyConflict(f"{op.key} changed")
                if op.kind == "delete" and row is None:
                    raise ConcurrencyConflict(f"{op.key} is gone")
            etags: dict[str, str] = {}
            for op in ops:
                if op.kind == "delete":
                    del self._rows[op.key]
                else:
                    etags[op.key] = f'W/"{next(self._etags)}"'
                    self._rows[op.key] = (dict(op.data), etags[op.key])
            return etags
