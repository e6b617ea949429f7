"""The record store port: a partition of ordered keys with atomic, ETag-conditional batches."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Protocol, Sequence


@dataclass(frozen=True)
class Record:
    key: str                      # the row key; ordering is by key
    data: Mapping[str, Any]       # flat: str, int, float, bool values only
    etag: str


@dataclass(frozen=True)
class Op:
    """One write in an atomic batch.

    kind: "insert" (fails if the key exists), "replace" (needs etag; fails if changed),
    "upsert" (unconditional), "delete" (needs etag, or etag "*" for unconditional).
    """
    kind: Literal["insert", "replace", "upsert", "delete"]
    key: str
    data: Mapping[str, Any] = field(default_factory=dict)
    etag: str | None = None


@dataclass(frozen=True)
class Filter:
    """A comparison on a data field, sent to the store as a parameterised query."""
    field: str
    op: Literal["eq", "ne", "ge", "gt", "le", "lt"]
    value: Any


@dataclass(frozen=True)
class Page:
    records: list[Record]
    continuation: str | None      # opaque; pass back as `after` for the next page


class RecordStore(Protocol):
    """One Table Storage partition seen as an ordered key space.

    Every method raises StoreUnavailable when the store cannot be reached; commit raises
    ConcurrencyConflict when a condition (insert of an existing key, stale etag) fails, in which
    case nothing of the batch was written.
    """

    def get(self, *, keys: Sequence[str]) -> dict[str, Record]:
        """The records that exist among `keys`, in one round trip."""

    def scan(self, *, start: str, end: str, filters: Sequence[Filter] = (), limit: int | None = None,
             after: str | None = None) -> Page:
        """Records with start <= key < end in key order, filtered in the store, one page of at most `limit`."""

    def commit(self, *, ops: Sequence[Op]) -> dict[str, str]:
        """Apply ops atomically (at most 100). Returns key -> new etag for written records."""
