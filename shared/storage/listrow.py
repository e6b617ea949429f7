"""A short list of time-bounded items (silences, on-call overrides): one index row that intake reads
with a point read, and one row per item with everything else.

    <kind>|index      compact entries of the items: what intake and paging need (id, what a silence
                      matches or who holds a role, start, end), read with intake's other point reads
    <kind>|<ID>       one row per item: the whole item (reason, who made it, when), written and deleted
                      in the same batch as its index entry; the list routes read the index and these
                      rows with one range scan of `<kind>|` (bounded: one row per index entry)

The kinds: SILENCES (`sil|index`, `sil|SIL-<hex>`: a silence's index entry holds its id, start, end,
the matched values hashed, fixed size whatever was matched, and the reason's first words) and
OVERRIDES (`ovr|index`, `ovr|OVR-<hex>`: an on-call override's entry holds its id, role, person,
start, end and created_at, all that resolving who is on call needs).

Nothing written here can outgrow Table Storage (1 MiB per entity, 64 KiB per string property, 255
properties): an entry's JSON is at most ENTRY_MAX characters, at most MAX_ACTIVE items may be active
(the next create is a Conflict that says so: end one first), and the index is written as JSON cut
into properties of CHUNK characters, each at most 2·CHUNK UTF-16 units = 60,000 bytes. So the index
row holds at most about MAX_ACTIVE·ENTRY_MAX = 100,000 characters: 7 properties, at most 420 KB.
Entries whose end has passed are pruned on every write, with their rows (PRUNE per batch; readers
skip ended entries, so any left for the next write are harmless). Rows written before per-item rows
existed hold full items in one `items` property; they are read as they are and moved to the new
layout by the next write (MIGRATE items per batch).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from shared.domain.errors import Conflict, ConcurrencyConflict, InvalidInput, NotFound
from shared.domain.timeutil import iso
from shared.ports import Op, Record, RecordStore
from shared.storage.retry import retrying
from shared.storage.repository import decode_doc, encode_doc

MAX_ACTIVE = 100
ENTRY_MAX = 1000     # characters of one entry's JSON
CHUNK = 15_000       # characters per index property: at most 30,000 UTF-16 units (64 KiB is 32,768)
PRUNE = 40           # rows of ended items deleted per write
MIGRATE = 40         # items of the old layout moved to their own rows per write
HAS_ROW = "d"        # set on entries whose item has its own row

Entry = dict[str, Any]

SILENCES = "sil"     # the kinds of list: shared/services/silences.py
OVERRIDES = "ovr"    # shared/services/oncall.py


def index_key(kind: str) -> str:
    return f"{kind}|index"


def entries(rec: Record | None) -> list[Entry]:
    """The entries held by an index row as stored, ended ones included (readers compare `end`)."""
    if rec is None:
        return []
    if "items" in rec.data:  # the old layout: full items in one property
        return json.loads(rec.data["items"])
    parts, n = [], 0
    while f"i{n}" in rec.data:
        parts.append(rec.data[f"i{n}"])
        n += 1
    return json.loads("".join(parts)) if parts else []


def _encode(items: list[Entry]) -> dict[str, str]:
    text = json.dumps(items, ensure_ascii=False, separators=(",", ":"))
    return {f"i{n}": text[at:at + CHUNK] for n, at in enumerate(range(0, len(text), CHUNK))}


@dataclass(frozen=True)
class ListRow:
    kind: str                            # key prefix: "sil", "ovr"
    noun: str                            # for messages: "silences", "overrides"
    compact: Callable[[Entry], Entry]    # a whole item -> its index entry (id, end and what readers need)

    @property
    def index(self) -> str:
        return index_key(self.kind)

    def row_key(self, item_id: str) -> str:
        return f"{self.kind}|{item_id}"

    def load(self, store: RecordStore) -> list[Entry]:
        """The index entries as stored (ended ones included): one point read."""
        return entries(store.get(keys=[self.index]).get(self.index))

    def read(self, store: RecordStore, now: datetime) -> list[Entry]:
        """The whole items not yet ended, oldest first: one range scan of the index and item rows."""
        records = store.scan(start=f"{self.kind}|", end=f"{self.kind}|~").records
        rows = {r.key: r for r in records}
        out = []
        for e in entries(rows.get(self.index)):
            if e["end"] <= iso(now):
                continue
            row = rows.get(self.row_key(e["id"])) if e.get(HAS_ROW) else None
            out.append(decode_doc(row.data) if row else e)  # old layout: the entry is the whole item
        return out

    def add(self, store: RecordStore, now: datetime, item: Entry) -> None:
        """Store `item` (with `id` and `end`). Raises Conflict when MAX_ACTIVE items are active,
        InvalidInput when its entry would be over ENTRY_MAX characters, ConcurrencyConflict."""
        entry = {**self.compact(item), HAS_ROW: 1}
        size = len(json.dumps(entry, ensure_ascii=False, separators=(",", ":")))
        if size > ENTRY_MAX:
            raise InvalidInput("$", f"too large to index ({size} characters; at most {ENTRY_MAX}): shorten "
                                    "the names in it")

        def edit(live: list[Entry]) -> tuple[list[Entry], list[Op]]:
            if len(live) >= MAX_ACTIVE:
                raise Conflict(f"at most {MAX_ACTIVE} {self.noun} may be active at once; end one first")
            return [*live, entry], [Op("insert", self.row_key(item["id"]), encode_doc(item))]
        self._change(store, now, edit)

    def remove(self, store: RecordStore, now: datetime, item_id: str) -> None:
        """End an active item now. Raises NotFound when no active item has that id."""
        def edit(live: list[Entry]) -> tuple[list[Entry], list[Op]]:
            hit = next((e for e in live if e["id"] == item_id), None)
            if hit is None:
                raise NotFound(f"no active {self.noun[:-1]} {item_id!r}")
            ops = [Op("delete", self.row_key(item_id), etag="*")] if hit.get(HAS_ROW) else []
            return [e for e in live if e is not hit], ops
        self._change(store, now, edit)

    def _change(self, store: RecordStore, now: datetime,
                edit: Callable[[list[Entry]], tuple[list[Entry], list[Op]]]) -> None:
        """Apply `edit` to the active entries under the index row's ETag, in one batch with the item rows
        it writes, the pruning of ended items and the move of old-layout items. Raises
        ConcurrencyConflict after bounded retries."""
        def attempt() -> None:
            rec = store.get(keys=[self.index]).get(self.index)
            stored = entries(rec)
            live = [e for e in stored if e["end"] > iso(now)]
            ended = [e for e in stored if e["end"] <= iso(now)]
            ops: list[Op] = []
            for i, e in enumerate(live):  # the old layout: give (some) items their own rows
                if not e.get(HAS_ROW) and len(ops) < MIGRATE:
                    ops.append(Op("upsert", self.row_key(e["id"]), encode_doc(e)))
                    live[i] = {**self.compact(e), HAS_ROW: 1}
            rowed = [e for e in ended if e.get(HAS_ROW)]
            ops += [Op("delete", self.row_key(e["id"]), etag="*") for e in rowed[:PRUNE]]
            kept, extra = edit(live)
            gone = {op.key for op in extra if op.kind == "delete"}
            if gone & {op.key for op in ops}:  # removing an item moved in this very batch: it needs no row
                extra = [op for op in extra if op.key not in {o.key for o in ops}]
                ops = [op for op in ops if op.key not in gone]
            data = _encode(kept + rowed[PRUNE:])
            index = Op("replace", self.index, data, rec.etag) if rec else Op("insert", self.index, data)
            store.commit(ops=[index, *extra, *ops])
        retrying(attempt, self.noun)
