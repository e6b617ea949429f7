"""Incidents on the RecordStore port: the key layout and the (de)serialisation.

One partition holds every record, ordered by key:

    inc|<inv>               an incident (inv = its id inverted, so a scan is newest first)
    tl|<inv>|<seq>          its timeline, append-only: one row per change, holding that change's events
    alert|<h>|F / |R        alert id (hashed) + condition -> incident: de-duplication
    fp|<h>                  fingerprint (rule + targets) -> the incident it opened
    res|<h>                 core resource -> last incident and time: correlation window
    seq|<yyyymmdd>          the day's incident counter
    due|<iso>|<id>|<lane>   the due index: when the incident's next work of a lane (esc: escalation,
                            SLA, stability; arm: diagnostics, remediation) falls due

so a state change, its timeline, its index rows and its schedule commit in one atomic batch.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, Mapping

from shared.domain.errors import NotFound
from shared.domain.incident import Incident
from shared.domain.timeutil import iso
from shared.ports import Filter, Op, Record, RecordStore

CHUNK = 30_000  # characters per string column: Table Storage allows 64 KiB (UTF-16) per property
MAX_CHUNKS = 15


def h(value: str) -> str:
    return hashlib.sha256(value.lower().encode()).hexdigest()[:32]


def inverted(incident_id: str) -> str:
    """INC-20261127-0042 -> '73738872' + '999957': ascending keys list newest first."""
    try:
        _, day, n = incident_id.split("-")
        return f"{99999999 - int(day):08d}{999999 - int(n):06d}"
    except ValueError as e:
        raise NotFound(f"no incident {incident_id!r}") from e


def incident_key(incident_id: str) -> str:
    return f"inc|{inverted(incident_id)}"


def timeline_key(incident_id: str, seq: int) -> str:
    return f"tl|{inverted(incident_id)}|{seq:06d}"


def alert_key(alert_id: str, condition: str) -> str:
    return f"alert|{h(alert_id)}|{condition[:1].upper()}"


def fingerprint_key(fp: str) -> str:
    return f"fp|{h(fp)}"


def resource_key(resource_id: str) -> str:
    return f"res|{h(resource_id)}"


def counter_key(day: str) -> str:
    return f"seq|{day}"


def next_id(counter: Record | None, now: datetime) -> tuple[str, Op]:
    """The day's next incident id (INC-20261127-0042) and the counter write that claims it: put it in
    the batch that inserts the incident, so two writers can never take the same id."""
    day = now.strftime("%Y%m%d")
    n = (counter.data["n"] if counter else 0) + 1
    op = Op("replace", counter.key, {"n": n}, counter.etag) if counter else Op("insert", counter_key(day), {"n": n})
    return f"INC-{day}-{n:04d}", op


def due_key(due_at: str, incident_id: str, lane: str) -> str:
    return f"due|{due_at}|{incident_id}|{lane}"


def lane_of(step: str) -> str:
    """Diagnostics and remediation steps call Azure Resource Manager ("arm"); the rest never do ("esc")."""
    return "arm" if step == "diag" or step.startswith("rem:") else "esc"


def encode_doc(doc: Any) -> dict[str, str]:
    text = json.dumps(doc, separators=(",", ":"), sort_keys=True, default=str)
    parts = [text[i:i + CHUNK] for i in range(0, len(text), CHUNK)] or [""]
    if len(parts) > MAX_CHUNKS:
        raise ValueError("document too large for one entity")
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

    def timeline(self, incident_id: str) -> list[dict[str, Any]]:
        prefix = f"tl|{inverted(incident_id)}|"
        out, after = [], None
        while True:
            page = self.store.scan(start=prefix, end=prefix + "~", limit=1000, after=after)
            for r in page.records:
                out.extend({k: e[k] for k in ("at", "kind", "actor", "text")} for e in decode_doc(r.data))
            if page.continuation is None:
                return out
            after = page.continuation

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
        found, after = [], None
        while True:
            page = self.store.scan(start="inc|", end="inc}", filters=[Filter("silence_id", "eq", silence_id),
                                                                     Filter("state", "ne", "resolved")],
                                   limit=200, after=after)
            found += [(self.from_record(r), r.etag) for r in page.records]
            if page.continuation is None:
                return found
            after = page.continuation

    def save_ops(self, inc: Incident, etag: str | None, schedule: Mapping[str, datetime] | None = None) -> list[Op]:
        """Ops writing the incident (insert when etag is None, else ETag-conditional replace), its new
        timeline events (one row), and, when `schedule` is given, its due-index rows: one per lane, at
        the earliest due step of that lane."""
        ops: list[Op] = []
        if schedule is not None:
            inc.scheduled = {step: iso(t) for step, t in sorted(schedule.items(), key=lambda kv: kv[1])}
            wanted: dict[str, str] = {}
            for step, due in inc.scheduled.items():
                wanted.setdefault(lane_of(step), due)  # sorted: the first of a lane is its earliest
            for lane, due in inc.lanes.items():
                if wanted.get(lane) != due:
                    ops.append(Op("delete", due_key(due, inc.id, lane), etag="*"))
            for lane, due in wanted.items():
                if inc.lanes.get(lane) != due:
                    ops.append(Op("insert", due_key(due, inc.id, lane), {"incident_id": inc.id, "lane": lane}))
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

