"""Incidents on the RecordStore port: the key layout and the (de)serialisation.

One partition holds every record, ordered by key:

    inc|<inv>               an incident (inv = its id inverted, so a scan is newest first)
    tl|<inv>|<seq>          its timeline, append-only: one row per change, holding that change's events
    alert|<h>|F / |R        alert id (hashed) + condition -> incident: de-duplication
    fp|<h>                  fingerprint (rule + targets) -> the incident it opened
    res|<h>                 core resource -> last incident and time: correlation window
                            (alert|, fp|, res|: shared/storage/alert_index.py)
    seq|<yyyymmdd>          the day's incident counter: the last id reserved; a worker reserves ids in
                            blocks (ID_BLOCK), so creating an incident writes no shared row; a hint,
                            never trusted (see heal_counter)
    due|<iso>|<id>|<lane>   the due index: when the incident's next work of a lane (esc: escalation,
                            SLA, stability; arm: diagnostics, remediation) falls due (shared/storage/due_index.py)
    pub|<inv>               what the public status page shows of an incident (only what was published)
    ref|<inv>|<receiver>    a receiver's reference for an incident: its Slack thread, Jira key,
                            Statuspage incident (shared/storage/refs.py: never with the incident's ETag)
    dead|<lane>|<iso>|<msg> an outbound message a receiver refused for good (shared/storage/outbox_rows.py)
    met|<YYYY-MM>|<sev>|<n> incident metrics of one month and severity, shard n of 8 (shared/storage/metrics_store.py)
    rev|<inv>               the review index: a required review's status, deadlines and open action items

so a state change, its timeline, its index rows and its schedule commit in one atomic batch.

Guard rows can fall out of step with what they guard (a restore from backup, a row deleted by hand,
an emulator that lost its last writes). No write here depends on a guard row being exactly where
the incident says it is: the due rows of a save are upserted (a missing one comes back, a present
one is overwritten) and never deleted in the batch (the sweep drops a row the incident no longer
wants when it comes due), and a counter that is behind its incidents is moved past the newest.
"""
from __future__ import annotations

import builtins
import hashlib
import json
import re
import uuid
from datetime import datetime
from typing import Any, Mapping

from shared.domain.errors import InvalidInput, NotFound
from shared.domain.incident import Incident
from shared.domain.timeutil import iso
from shared.ports import Filter, Op, Record, RecordStore
from shared.storage import incident_ids
from shared.storage.incident_ids import counter_key  # noqa: F401  (the key layout is read here too)

class DocumentTooLarge(ValueError):
    """A document over what one Table entity holds (a bug: the domain bounds what an incident keeps)."""


PUBLIC_UPDATES = 30  # updates kept on a public status row
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


def public_key(incident_id: str) -> str:
    """The incident's public status row (newest first, like incidents). Its fields: title, phase,
    impact, services (JSON list of public names), started_at, resolved_at ("" while open), updated_at,
    updates (JSON list of {"at", "phase", "title", "text"}, oldest first, the latest PUBLIC_UPDATES)."""
    return f"pub|{inverted(incident_id)}"


def review_key(incident_id: str) -> str:
    """The review index: one row per required review (status, deadlines, open action items)."""
    return f"rev|{inverted(incident_id)}"


def ref_key(incident_id: str, receiver: str) -> str:
    return f"ref|{inverted(incident_id)}|{receiver}"


def alert_key(alert_id: str, condition: str) -> str:
    return f"alert|{h(alert_id)}|{condition[:1].upper()}"


def fingerprint_key(fp: str) -> str:
    return f"fp|{h(fp)}"


def resource_key(resource_id: str) -> str:
    return f"res|{h(resource_id)}"



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

    def exists(self, incident_id: str) -> bool:
        """Whether an incident holds this id (one point read)."""
        return bool(self.store.get(keys=[incident_key(incident_id)]))

    # -- incident ids (shared/storage/incident_ids.py) -------------------------------------
    def allocate_id(self, now: datetime) -> str:
        """The day's next free incident id for this worker (see incident_ids.allocate)."""
        return incident_ids.allocate(self.store, now)

    def heal_counter(self, now: datetime) -> bool:
        """Move a day's counter that is behind its incidents past the newest (see incident_ids.heal)."""
        return incident_ids.heal(self.store, now)

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
        events: list[dict[str, Any]] = []
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

    @staticmethod
    def public_op(incident_id: str, data: Mapping[str, Any]) -> Op:
        """The incident's public status row (written with the incident, under its ETag)."""
        return Op("upsert", public_key(incident_id), dict(data))

    # -- queries -------------------------------------------------------------------------------
    # `list` below is this method in the class body: the signatures after it say builtins.list
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

    def held_by(self, silence_id: str) -> builtins.list[tuple[Incident, str]]:
        """Open incidents whose ladder a silence holds (a filtered scan of the incident rows)."""
        return self.open_incidents([Filter("silence_id", "eq", silence_id)])

    def open_incidents(self, filters: builtins.list[Filter] | None = None) -> builtins.list[tuple[Incident, str]]:
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

    def save_ops(self, inc: Incident, etag: str | None, schedule: Mapping[str, datetime] | None = None
                 ) -> builtins.list[Op]:
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


def _offset(token: str | None) -> int:
    if token is None:
        return 0
    if not (token.isascii() and token.isdigit()) or len(token) > 9:
        raise InvalidInput("timeline_continuation", "is not a token from a previous page")
    return int(token)
