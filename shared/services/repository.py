"""Incidents on the RecordStore port: the key layout and the (de)serialisation.

One partition holds every record, ordered by key:

    inc|<inv>               an incident (inv = its id inverted, so a scan is newest first)
    tl|<inv>|<seq>          its timeline, append-only: one row per change, holding that change's events
    alert|<h>|F / |R        alert id (hashed) + condition -> incident: de-duplication
    fp|<h>                  fingerprint (rule + targets) -> the incident it opened
    res|<h>                 core resource -> last incident and time: correlation window
    seq|<yyyymmdd>          the day's incident counter: the last id reserved; a worker reserves ids in
                            blocks (ID_BLOCK), so creating an incident writes no shared row; a hint,
                            never trusted (see heal_counter)
    due|<iso>|<id>|<lane>   the due index: when the incident's next work of a lane (esc: escalation,
                            SLA, stability; arm: diagnostics, remediation) falls due
    fail|<id>|<lane>        a due row whose work failed: when to try again, how often it failed, why

so a state change, its timeline, its index rows and its schedule commit in one atomic batch.

Guard rows can fall out of step with what they guard (a restore from backup, a row deleted by hand,
an emulator that lost its last writes). No write here depends on a guard row being exactly where
the incident says it is: the due rows of a save are upserted (a missing one comes back, a present
one is overwritten) and never deleted in the batch (the sweep drops a row the incident no longer
wants when it comes due), and a counter that is behind its incidents is moved past the newest.
"""
from __future__ import annotations

import hashlib
import json
import random
import re
import threading
import time
import uuid
import weakref
from datetime import datetime
from typing import Any, Mapping

from shared.domain.errors import ConcurrencyConflict, InvalidInput, NotFound
from shared.domain.incident import Incident
from shared.domain.timeutil import iso
from shared.ports import Filter, Op, Record, RecordStore

class DocumentTooLarge(ValueError):
    """A document over what one Table entity holds (a bug: the domain bounds what an incident keeps)."""


CHUNK = 30_000  # characters per string column: Table Storage allows 64 KiB (UTF-16) per property
MAX_CHUNKS = 15


def h(value: str) -> str:
    return hashlib.sha256(value.lower().encode()).hexdigest()[:32]


_INCIDENT_ID = re.compile(r"INC-([0-9]{8})-([0-9]{4,6})")


def inverted(incident_id: str) -> str:
    """INC-20261127-0042 -> '73738872' + '999957': ascending keys list newest first. Only that exact
    spelling (ASCII digits) names an incident; anything else raises NotFound."""
    m = _INCIDENT_ID.fullmatch(incident_id)
    if m is None:
        raise NotFound(f"no incident {incident_id[:80]!r}")
    return f"{99999999 - int(m[1]):08d}{999999 - int(m[2]):06d}"


def incident_key(incident_id: str) -> str:
    return f"inc|{inverted(incident_id)}"


def timeline_key(incident_id: str, seq: int) -> str:
    return f"tl|{inverted(incident_id)}|{seq:06d}"


def side_event_key(incident_id: str, at: datetime) -> str:
    """A timeline row written without the incident's ETag (a delivery, a failure of the sweep): it
    sorts after the numbered rows, and the reader orders every event by time."""
    return f"tl|{inverted(incident_id)}|x{iso(at)}|{uuid.uuid4().hex[:8]}"


def failure_key(incident_id: str, lane: str) -> str:
    return f"fail|{incident_id}|{lane}"


def alert_key(alert_id: str, condition: str) -> str:
    return f"alert|{h(alert_id)}|{condition[:1].upper()}"


def fingerprint_key(fp: str) -> str:
    return f"fp|{h(fp)}"


def resource_key(resource_id: str) -> str:
    return f"res|{h(resource_id)}"


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


def due_key(due_at: str, incident_id: str, lane: str) -> str:
    return f"due|{due_at}|{incident_id}|{lane}"


def lane_of(step: str) -> str:
    """Diagnostics and remediation steps call Azure Resource Manager ("arm"); the rest never do ("esc")."""
    return "arm" if step == "diag" or step.startswith("rem:") else "esc"


def encode_doc(doc: Any) -> dict[str, str]:
    text = json.dumps(doc, separators=(",", ":"), sort_keys=True, default=str)
    parts = [text[i:i + CHUNK] for i in range(0, len(text), CHUNK)] or [""]
    if len(parts) > MAX_CHUNKS:
        raise DocumentTooLarge(f"document of {len(text)} characters is too large for one entity")
    return {f"doc{i}": p for i, p in enumerate(parts)}


def decode_doc(data: Mapping[str, Any]) -> Any:
    parts = []
    i = 0
    while f"doc{i}" in data:
        parts.append(data[f"doc{i}"])
        i += 1
    return json.loads("".join(parts))


class IncidentRepository:
    def __init__(self, store: RecordStore):
        self.store = store

    @staticmethod
    def from_record(rec: Record) -> Incident:
        return Incident.from_doc(decode_doc(rec.data))

    def load(self, incident_id: str) -> tuple[Incident, str]:
        """The incident and its etag. Raises NotFound."""
        rec = self.store.get(keys=[incident_key(incident_id)]).get(incident_key(incident_id))
        if rec is None:
            raise NotFound(f"no incident {incident_id!r}")
        return self.from_record(rec), rec.etag

    # -- incident ids ----------------------------------------------------------------------------
    def allocate_id(self, now: datetime) -> str:
        """The day's next free incident id (INC-20261127-0042) for this worker: taken from the block it
        reserved, or a new block of ID_BLOCK reserved under the counter's ETag. Ids are unique under
        any concurrency (two workers never hold overlapping blocks; the incident's insert is the final
        guard) and ordered by day; within a day, workers' blocks interleave. Raises StoreUnavailable,
        ConcurrencyConflict when the counter stays contended."""
        day = now.strftime("%Y%m%d")
        n = _ids.take(self.store, day)
        if n is None:
            with _ids.reserving:  # one reservation at a time in this worker: the others wait and share it
                n = _ids.take(self.store, day)
                if n is None:
                    n = self._reserve(day)
        return f"INC-{day}-{n:04d}"

    def _reserve(self, day: str) -> int:
        ckey = counter_key(day)
        for attempt in range(8):
            counter = self.store.get(keys=[ckey]).get(ckey)
            start = _count(counter)
            data = {"n": start + ID_BLOCK}
            op = Op("replace", ckey, data, counter.etag) if counter else Op("insert", ckey, data)
            try:
                self.store.commit(ops=[op])
            except ConcurrencyConflict:
                time.sleep(random.uniform(0, 0.002 * 2 ** attempt))  # another worker took a block meanwhile
                continue
            _ids.put(self.store, day, start + 2, start + ID_BLOCK)
            return start + 1
        raise ConcurrencyConflict(f"the incident counter of {day} is too contended; retry")

    def heal_counter(self, now: datetime) -> bool:
        """After a create lost its batch: when the day's counter is behind the day's newest incident
        (a restore, a row deleted by hand, a store that lost its last writes), move it past that
        incident, so the next claim takes a free id instead of colliding for the rest of the day.
        Returns True when it moved the counter. Costs two requests; raises StoreUnavailable."""
        day = now.strftime("%Y%m%d")
        _ids.forget(self.store, day)  # this worker's block may lie behind the day's incidents too
        ckey = counter_key(day)
        counter = self.store.get(keys=[ckey]).get(ckey)
        start = f"inc|{99999999 - int(day):08d}"
        newest = self.store.scan(start=start, end=start + "~", limit=1).records  # newest first
        top = 999999 - int(newest[0].key[len(start):]) if newest else 0
        if top <= _count(counter):
            return False
        op = Op("replace", ckey, {"n": top}, counter.etag) if counter else Op("insert", ckey, {"n": top})
        try:
            self.store.commit(ops=[op])
        except ConcurrencyConflict:
            return False  # another writer moved it meanwhile: the next attempt re-reads it
        return True

    # -- the timeline --------------------------------------------------------------------------
    def timeline(self, incident_id: str, *, limit: int | None = None, after: str | None = None
                 ) -> tuple[list[dict[str, Any]], str | None]:
        """The incident's events in time order, at most `limit` (all when None) after the
        continuation token `after`. Returns (events, token for the next page or None)."""
        prefix = f"tl|{inverted(incident_id)}|"
        rows, cursor = [], None
        while True:
            page = self.store.scan(start=prefix, end=prefix + "~", limit=1000, after=cursor)
            rows.extend(page.records)
            if page.continuation is None:
                break
            cursor = page.continuation
        events = []
        for r in rows:
            try:
                events.extend({k: e[k] for k in ("at", "kind", "actor", "text")} for e in decode_doc(r.data))
            except (ValueError, KeyError, TypeError):  # one unreadable row never hides the rest
                events.append({"at": "", "kind": "unreadable", "actor": "system",
                               "text": f"timeline row {r.key[len(prefix):]} could not be read"})
        events.sort(key=lambda e: e["at"])  # stable: numbered rows keep their order
        start = _offset(after)
        if limit is None:
            return events[start:], None
        page_events = events[start:start + limit]
        return page_events, (str(start + limit) if start + limit < len(events) else None)

    @staticmethod
    def side_event(incident_id: str, at: datetime, kind: str, actor: str, text: str, **data: Any) -> Op:
        """A timeline event written without loading or rewriting the incident (no ETag needed)."""
        doc = [{"at": iso(at), "kind": kind, "actor": actor, "text": text, "data": data}]
        return Op("insert", side_event_key(incident_id, at), encode_doc(doc))

    # -- queries -------------------------------------------------------------------------------
    def list(self, *, status: str | None = None, severity: str | None = None, since: datetime | None = None,
             limit: int = 50, after: str | None = None) -> tuple[list[Incident], str | None]:
        filters = []
        if status:
            filters.append(Filter("state", "eq", status))
        if severity:
            filters.append(Filter("severity", "eq", severity))
        end = "inc}"
        if since is not None:
            filters.append(Filter("created_at", "ge", iso(since)))
            end = f"inc|{99999999 - int(since.strftime('%Y%m%d')):08d}~"  # nothing older than that day
        page = self.store.scan(start="inc|", end=end, filters=filters, limit=limit, after=after)
        return [self.from_record(r) for r in page.records], page.continuation

    def held_by(self, silence_id: str) -> list[tuple[Incident, str]]:
        """Open incidents whose ladder a silence holds (a filtered scan of the incident rows)."""
        return self.open_incidents([Filter("silence_id", "eq", silence_id)])

    def open_incidents(self, filters: list[Filter] | None = None) -> list[tuple[Incident, str]]:
        """Every open incident (with its etag) matching `filters`; unreadable rows are skipped."""
        found, after = [], None
        while True:
            page = self.store.scan(start="inc|", end="inc}", filters=[*(filters or []),
                                                                     Filter("state", "ne", "resolved")],
                                   limit=200, after=after)
            for r in page.records:
                try:
                    found.append((self.from_record(r), r.etag))
                except (ValueError, KeyError, TypeError):
                    continue  # a corrupt row: the sweep that owns it records and counts it
            if page.continuation is None:
                return found
            after = page.continuation

    # -- failing due rows ----------------------------------------------------------------------
    def failures(self) -> dict[str, Record]:
        """Every recorded failure of a due row, by its key (fail|<id>|<lane>)."""
        return {r.key: r for r in self.store.scan(start="fail|", end="fail}", limit=1000).records}

    def save_ops(self, inc: Incident, etag: str | None, schedule: Mapping[str, datetime] | None = None) -> list[Op]:
        """Ops writing the incident (insert when etag is None, else ETag-conditional replace), its new
        timeline events (one row), and, when `schedule` is given, its due-index rows: one per lane, at
        the earliest due step of that lane. Raises DocumentTooLarge for an incident over one entity."""
        ops: list[Op] = []
        if schedule is not None:
            inc.scheduled = {step: iso(t) for step, t in sorted(schedule.items(), key=lambda kv: kv[1])}
            wanted: dict[str, str] = {}
            for step, due in inc.scheduled.items():
                wanted.setdefault(lane_of(step), due)  # sorted: the first of a lane is its earliest
            for lane, due in wanted.items():
                if inc.lanes.get(lane) != due:  # upsert: a row already there (or lost) is no conflict
                    ops.append(Op("upsert", due_key(due, inc.id, lane), {"incident_id": inc.id, "lane": lane}))
            inc.lanes = wanted
        if inc.new_events:
            first = inc.timeline_seq + 1
            inc.timeline_seq += len(inc.new_events)
            events = [{**ev.as_dict(), "data": ev.data} for ev in inc.new_events]
            ops.append(Op("insert", timeline_key(inc.id, first), encode_doc(events)))
        inc.new_events = []
        row = {"id": inc.id, "state": inc.state, "phase": inc.phase, "severity": inc.severity,
               "created_at": iso(inc.created_at), "silence_id": (inc.silence or {}).get("id", ""),
               **encode_doc(inc.to_doc())}
        ops.insert(0, Op("insert", incident_key(inc.id), row) if etag is None
                   else Op("replace", incident_key(inc.id), row, etag))
        return ops

    def due_rows_missing(self, incidents: list[Incident]) -> list[Op]:
        """Upserts for the due rows these incidents count on but the index lost (one read)."""
        wanted = {due_key(due, inc.id, lane): {"incident_id": inc.id, "lane": lane}
                  for inc in incidents for lane, due in inc.lanes.items()}
        found = self.store.get(keys=list(wanted)) if wanted else {}
        return [Op("upsert", k, v) for k, v in wanted.items() if k not in found]


def _offset(token: str | None) -> int:
    if token is None:
        return 0
    if not (token.isascii() and token.isdigit()) or len(token) > 9:
        raise InvalidInput("timeline_continuation", "is not a token from a previous page")
    return int(token)
