"""The due index and the sweep's own rows.

    due|<iso>|<id>|<lane>   when an incident's next work of a lane falls due (esc: escalation steps, SLA
                            clocks, stability windows; arm: diagnostics and remediation): one row per
                            incident and lane, at the earliest due step of that lane, written with the
                            incident (repository.save_ops). Fields: incident_id, lane; while the row's
                            work fails also failures, retry_at, error, first_failed_at (a failing row
                            keeps its key, the moment it fell due: only rows due by now can be failing)
    meta|sweep              the last sweep: finished_at, due, failed (GET health reads its age)

A sweep reads only the rows due by now (a key range), so its cost follows the work due, not the number
of open incidents. A due row is moved or dropped in the same ETag-conditional batch as its incident's
change, so two sweeps at once apply each step once: one commits, the other finds the row gone.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Mapping

from shared.domain.errors import ConcurrencyConflict
from shared.domain.incident import Incident
from shared.domain.timeutil import iso, parse_iso
from shared.ports import Filter, Op, Record, RecordStore
from shared.storage.repository import IncidentRepository, due_key, lane_of
from shared.storage.uow import UnitOfWork

DUE = "due|"
SWEEP_META = "meta|sweep"
BATCH = 100


@dataclass(frozen=True)
class DueRow:
    """One row of the due index, as read (its ETag guards the write that moves, drops or marks it)."""
    key: str
    incident_id: str            # "" when the row lacks it (a row written by hand)
    lane: str
    due_at: str                 # ISO, as in the key
    etag: str
    failures: int = 0
    retry_at: str | None = None
    error: str = ""
    first_failed_at: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def complete(self) -> bool:
        return bool(self.incident_id and self.lane)

    @staticmethod
    def of(rec: Record) -> DueRow:
        data = rec.data
        parts = rec.key.split("|")
        retry_at = data.get("retry_at")
        try:
            failures = int(data.get("failures") or 0)
        except (TypeError, ValueError):
            failures = 0
        return DueRow(key=rec.key, incident_id=str(data.get("incident_id") or ""), lane=str(data.get("lane") or ""),
                      due_at=parts[1] if len(parts) > 1 else "", etag=rec.etag, failures=failures,
                      retry_at=retry_at if isinstance(retry_at, str) else None, error=str(data.get("error", "")),
                      first_failed_at=data.get("first_failed_at") or None, fields=dict(data))


@dataclass(frozen=True)
class SweepRun:
    """What a sweep leaves for GET health: when it finished, rows due, rows whose work failed."""
    finished_at: datetime
    due: int
    failed: int


# ---- reading ------------------------------------------------------------------------------------------

def due_rows(store: RecordStore, now: datetime, *, lane: str | None = None, limit: int = 500) -> list[DueRow]:
    """The rows due by `now` (of one lane, or all), earliest first, at most `limit` read: one range scan.
    Raises StoreUnavailable."""
    page = store.scan(start=DUE, end=f"{DUE}{iso(now)}~", limit=limit)
    return [DueRow.of(r) for r in page.records if lane is None or r.data.get("lane") == lane]


def reread(store: RecordStore, row: DueRow) -> DueRow | None:
    """The row again (after a lost race), or None when it is gone (another sweep applied it)."""
    rec = store.get(keys=[row.key]).get(row.key)
    return None if rec is None else DueRow.of(rec)


def failing(store: RecordStore, now: datetime, *, limit: int = 500) -> list[DueRow]:
    """Due rows whose work failed and is being retried (at most `limit`): one filtered range scan."""
    return [DueRow.of(r) for r in store.scan(start=DUE, end=f"{DUE}{iso(now)}~",
                                             filters=[Filter("failures", "gt", 0)], limit=limit).records]


def next_due(schedule: Mapping[str, datetime], lane: str) -> str | None:
    """Where a lane's due row belongs under this schedule (its earliest step), as in the key."""
    times = [t for step, t in schedule.items() if lane_of(step) == lane]
    return iso(min(times)) if times else None


# ---- writing ------------------------------------------------------------------------------------------

def settle(uow: UnitOfWork, row: DueRow) -> None:
    """In the batch applying the row's work: drop the row when the schedule the save derives moved its lane
    on (the save writes the new row), else clear its failure record. Under the ETag read: a row another
    sweep moved meanwhile makes the batch conflict."""
    def rows(schedule: Mapping[str, datetime] | None) -> list[Op]:
        if schedule is not None and next_due(schedule, row.lane) != row.due_at:
            return [Op("delete", row.key, etag=row.etag)]
        if row.failures:
            return [Op("replace", row.key, {"incident_id": row.incident_id, "lane": row.lane}, row.etag)]
        return []
    uow.when_scheduled(row.incident_id, rows)


def drop(store: RecordStore, row: DueRow) -> bool:
    """Delete a leftover row (not, or no longer, its incident's schedule). False when it changed or went
    meanwhile (another sweep rewrote it and will see it again)."""
    try:
        store.commit(ops=[Op("delete", row.key, etag=row.etag)])
        return True
    except ConcurrencyConflict:
        return False


def record_failure(store: RecordStore, row: DueRow, *, now: datetime, retry_at: datetime, error: str,
                   note: str | None) -> bool:
    """Mark the row failing once more (failures + 1, the error, the next attempt) and, when `note` is given,
    put it on the incident's timeline. False when the row changed meanwhile (another sweep handled it)."""
    data = {**row.fields, "failures": row.failures + 1, "retry_at": iso(retry_at), "error": error,
            "first_failed_at": row.first_failed_at or iso(now)}
    ops = [Op("replace", row.key, data, row.etag)]
    if note is not None and row.incident_id:
        ops.append(IncidentRepository.side_event(row.incident_id, now, "sweep-failure", "system", note,
                                                 lane=row.lane))
    try:
        store.commit(ops=ops)
        return True
    except ConcurrencyConflict:
        return False


def put_back(store: RecordStore, incidents: Iterable[Incident]) -> list[DueRow]:
    """Upsert the due rows these incidents count on but the index lost (a restore, a row deleted by hand),
    in batches of 100. Returns them. One range scan of the due index, however many incidents."""
    wanted = {due_key(due, inc.id, lane): (inc.id, lane, due) for inc in incidents for lane, due in inc.lanes.items()}
    if not wanted:
        return []
    found = _keys(store)
    missing = [DueRow(key=k, incident_id=i, lane=lane, due_at=due, etag="")
               for k, (i, lane, due) in wanted.items() if k not in found]
    ops = [Op("upsert", r.key, {"incident_id": r.incident_id, "lane": r.lane}) for r in missing]
    for i in range(0, len(ops), BATCH):
        store.commit(ops=ops[i:i + BATCH])
    return missing


def _keys(store: RecordStore) -> set[str]:
    found: set[str] = set()
    after = None
    while True:
        page = store.scan(start=DUE, end="due}", limit=1000, after=after)
        found.update(r.key for r in page.records)
        if page.continuation is None:
            return found
        after = page.continuation


# ---- the sweep's health row ------------------------------------------------------------------------------

def _sweep_op(run: SweepRun) -> Op:
    return Op("upsert", SWEEP_META, {"finished_at": iso(run.finished_at), "due": run.due, "failed": run.failed})


def record_sweep(store: RecordStore, run: SweepRun) -> None:
    """Write the sweep's health row on its own."""
    store.commit(ops=[_sweep_op(run)])


def carry_sweep(uow: UnitOfWork, run: SweepRun) -> None:
    """Write the sweep's health row in this unit's batch (a request saved when the sweep commits anyway)."""
    uow.include([_sweep_op(run)])


def last_sweep(store: RecordStore) -> datetime | None:
    """When the last sweep that recorded its health finished (None: never). One point read."""
    rec = store.get(keys=[SWEEP_META]).get(SWEEP_META)
    return parse_iso(rec.data["finished_at"]) if rec else None

