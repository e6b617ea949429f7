"""The sweeps: run every due step of the due index, exactly once, whatever runs beside them.

Each incident has at most one due row per lane (esc: escalation steps, SLA clocks, stability
windows; arm: diagnostics and remediation), at the earliest due step of that lane
(shared/storage/due_index.py). A sweep reads only the rows due by now, so its cost follows the work
due, not the number of open incidents. An incident's due steps are applied in one unit of work: two
sweeps at once both try; one commits, the other re-reads and finds the steps done. A crash after the
commit leaves outbox rows that the delivery sends later; a crash before it leaves the due row.

One bad row never stops the others: work that fails for any reason but the store being down (an
incident too large to save, a corrupt document, a step naming a playbook the runbook no longer
has) is recorded on the due row itself (how often, why, when to try again, with backoff), on the
incident's timeline and in the log, counted by GET health, and the sweep goes on with the rest.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, NamedTuple, Sequence

from shared.domain.errors import ConcurrencyConflict, NotFound, StoreUnavailable
from shared.domain.events import Event
from shared.domain.incident import AUTOMATION, Incident
from shared.domain.policy import Runbook
from shared.domain.timeutil import iso, parse_stored
from shared.ports import Clock, RecordStore
from shared.services import communications, diagnostics, escalation, remediation, remediation_run, reminders
from shared.services.escalation import Paging
from shared.services.remediation import Remedy
from shared.services.schedule import STABILITY, derive
from shared.storage import due_index, remediation_ledger
from shared.storage.due_index import DueRow, SweepRun
from shared.storage.repository import IncidentRepository, lane_of
from shared.storage.uow import UnitOfWork

log = logging.getLogger(__name__)
MAX_DUE_PER_SWEEP = 500
BUDGET_S = 7.0   # real seconds: what is left over waits for the next tick instead of overrunning it
ESC, ARM = "esc", "arm"
RETRY_FIRST = timedelta(seconds=30)     # a failing row is tried again after 30 s, 1 min, 2 min, ...
RETRY_MAX = timedelta(minutes=10)
AUDIT_EVERY = timedelta(minutes=10)     # how often a worker checks that no open incident lost its due rows
Health = Callable[[], SweepRun]          # the sweep's health row as of now


@dataclass
class SweepReport:
    due: int = 0
    applied: list[str] = field(default_factory=list)
    skipped: int = 0
    deferred: int = 0
    failed: int = 0                 # rows whose work failed this tick (recorded on the row)
    held: int = 0                   # failing rows waiting for their next attempt
    repaired: int = 0               # lost due rows put back by the audit
    finished_at: str | None = None


class _Applied(NamedTuple):
    steps: list[str]                # steps applied
    executions: list[str]           # remediations to execute (each in batches of its own)
    health: SweepRun | None         # the sweep's health row, when this batch carried it


def sweep(*, store: RecordStore, clock: Clock, runbook: Runbook, paging: Paging | None = None,
          remedy: Remedy | None = None, lane: str | None = None, record_health: bool = True) -> SweepReport:
    """Apply every step due by now, of one lane (or all). Raises StoreUnavailable when the store is down.

    The timers run one sweep per lane, so a slow Resource Manager never holds a page back. The health
    row rides in the last batch the sweep commits when nothing follows it; otherwise it is written alone."""
    now = clock.now()
    paging, remedy = paging or Paging(), remedy or Remedy(core={})
    rows = due_index.due_rows(store, now, lane=lane, limit=MAX_DUE_PER_SWEEP)
    report = SweepReport(due=len(rows))
    started = time.monotonic()
    health: Health | None = (lambda: SweepRun(clock.now(), report.due, report.failed)) if record_health else None
    carried: SweepRun | None = None      # the health row the last write carried, if nothing came after it
    for n, row in enumerate(rows):
        if time.monotonic() - started > BUDGET_S:
            report.deferred = len(rows) - n   # rows, not steps: one row may apply several steps
            log.warning("sweep budget spent: %d due rows left for the next tick", report.deferred)
            break
        if row.retry_at is not None and row.retry_at > iso(now):
            report.held += 1
            continue
        try:
            carried = _run_row(store, row, now, runbook, paging, remedy, clock, report, health)
        except StoreUnavailable:
            raise  # the store is down: the whole tick fails and health goes stale, as it should
        except Exception as e:  # noqa: BLE001 - isolated: recorded on the row, the timeline and the log
            report.failed += 1
            carried = None
            _record_failure(store, row, e, now)
    if lane in (None, ARM) and _audits.due(store, now):  # on the ARM timer: never in front of a page
        report.repaired = repair_due_index(store)
        carried = None
    finished = clock.now()
    report.finished_at = iso(finished)
    if record_health and (carried is None or (carried.due, carried.failed) != (report.due, report.failed)):
        due_index.record_sweep(store, SweepRun(finished, report.due, report.failed))
    return report


def _run_row(store: RecordStore, row: DueRow, now: datetime, runbook: Runbook, paging: Paging, remedy: Remedy,
             clock: Clock, report: SweepReport, health: Health | None) -> SweepRun | None:
    """Apply the row's due work (re-read on a lost race). Returns the health row its batch carried, when
    nothing was written after it."""
    if not row.complete:
        raise KeyError(f"due row {row.key!r} names no incident or lane")
    current: list[DueRow | None] = [row]

    def attempt(uow: UnitOfWork) -> _Applied | None:
        if current[0] is None:   # a retry: another writer changed the incident; read the row again
            current[0] = due_index.reread(store, row)
            if current[0] is None:
                return None      # another sweep applied it (and moved the row)
        try:
            return _apply(store, uow, current[0], now, runbook, paging, remedy, health)
        except ConcurrencyConflict:
            current[0] = None
            raise
    try:
        done = UnitOfWork.run(store, attempt, f"{row.lane} work of {row.incident_id}", derive=derive(runbook),
                              incident=row.incident_id)
    except ConcurrencyConflict:
        return None
    if done is None:
        return None
    report.applied += [f"{row.incident_id}:{s}" for s in done.steps]
    report.skipped += not done.steps and not done.executions
    for rid in done.executions:  # claims, acts on ARM and records, in batches of its own
        if remediation_run.execute(store=store, incident_id=row.incident_id, rid=rid, runbook=runbook,
                                   remedy=remedy, clock=clock):
            report.applied.append(f"{row.incident_id}:{remediation.EXEC}{rid}")
    return None if done.executions else done.health


def _apply(store: RecordStore, uow: UnitOfWork, row: DueRow, now: datetime, runbook: Runbook, paging: Paging,
           remedy: Remedy, health: Health | None) -> _Applied:
    """Run the incident's steps of the row's lane that are due, in this unit of work."""
    try:
        inc: Incident | None = uow.load(row.incident_id)
    except NotFound:
        inc = None
    if inc is None or inc.lanes.get(row.lane) != row.due_at:
        # not (or no longer) the incident's schedule: a leftover; drop it if it is still there
        due_index.drop(store, row)
        return _Applied([], [], None)
    due = [s for s, t in inc.scheduled.items() if lane_of(s) == row.lane and parse_stored(t) <= now]
    applied: list[str] = []
    executions: list[str] = []
    caused: list[Event] = []
    for step in due:
        if step.startswith(remediation.EXEC):
            executions.append(step[len(remediation.EXEC):])
            continue
        out = run_step(inc, step, now, runbook, paging, remedy, uow)
        if out is not None:
            applied.append(step)
            caused += out
    if row.failures:
        inc.record(now, "recovered", AUTOMATION, f"The sweep applied this incident's {row.lane} work again after "
                   f"{row.failures} failed attempts")
    uow.add(*caused)
    due_index.settle(uow, row)   # by the schedule this save derives
    uow.save(inc)
    run = health() if health is not None else None
    if run is not None:
        due_index.carry_sweep(uow, run)
    uow.commit()
    return _Applied(applied, executions, run)


def _record_failure(store: RecordStore, row: DueRow, error: Exception, now: datetime) -> None:
    """Write the failure on the due row (attempts, reason, next attempt with backoff) and, on the first
    failure and every doubling after it, on the incident's timeline. Never raises but StoreUnavailable."""
    failures = row.failures + 1
    retry_at = now + min(RETRY_MAX, RETRY_FIRST * 2 ** min(failures - 1, 10))
    reason = f"{type(error).__name__}: {str(error)[:300]}"
    incident_id, lane = row.incident_id or "?", row.lane or "?"
    log.error("due work of %s (%s lane) failed %d time(s), next attempt %s: %s", incident_id, lane, failures,
              iso(retry_at), reason, exc_info=error, extra={"incident_id": incident_id})
    note = None
    if failures & (failures - 1) == 0:
        note = (f"The {lane} sweep could not apply this incident's due work ({reason}); attempt {failures}, "
                f"trying again at {iso(retry_at)}. Other incidents are not affected.")
    due_index.record_failure(store, row, now=now, retry_at=retry_at, error=reason, note=note)


def repair_due_index(store: RecordStore) -> int:
    """Put back the due rows that open incidents count on but the index lost (a restore, a row
    deleted by hand). Returns how many. Two range scans: the open incidents and the due index."""
    back = due_index.put_back(store, [inc for inc, _ in IncidentRepository(store).open_incidents()])
    for row in back:
        log.warning("due row %s was missing: put back", row.key, extra={"incident_id": row.incident_id})
    return len(back)


class _Audits:
    """When this worker last audited the due index of a store: at its first sweep, then every AUDIT_EVERY."""

    def __init__(self) -> None:
        self._last: dict[int, datetime] = {}
        self._lock = threading.Lock()

    def due(self, store: RecordStore, now: datetime) -> bool:
        with self._lock:
            last = self._last.get(id(store))
            if last is not None and abs(now - last) < AUDIT_EVERY:
                return False
            self._last[id(store)] = now
            return True


_audits = _Audits()


def run_step(inc: Incident, step: str, now: datetime, runbook: Runbook, paging: Paging, remedy: Remedy,
             uow: UnitOfWork) -> Sequence[Event] | None:
    """Apply one due step to the incident. Returns the events it causes (messages, audit records), or
    None when it no longer applies (the schedule is then recomputed without it)."""
    if step == STABILITY:
        if inc.stable_since(now, runbook.stability_window):
            inc.resolve(AUTOMATION, now, f"Resolved automatically: no alert fired again in the "
                        f"{int(runbook.stability_window.total_seconds() // 60)}-minute stability window",
                        runbook=runbook)
            return escalation.stop_pages(inc, "resolve", now, paging)
        return None
    if step.startswith(escalation.STEP):
        return escalation.fire(inc, step[len(escalation.STEP):], now, runbook, paging)
    if step == diagnostics.DIAGNOSE:
        return diagnostics.record(inc, remedy.resources() if remedy.core else None, remedy.core, now, runbook)
    if step in (communications.REMIND, communications.OVERDUE):
        return communications.run(inc, step, now, runbook)
    if step.startswith(reminders.GDPR):
        return reminders.run(inc, step, now, runbook)
    if step.startswith(remediation.PLAN):
        return remediation.plan(inc, step[len(remediation.PLAN):], now, runbook, remedy, remediation_ledger.read(uow))
    if step.startswith(remediation.EXPIRE):
        return remediation.expire(inc, step[len(remediation.EXPIRE):], now)
    if step.startswith(remediation.VERIFY):
        return remediation_run.verify(inc, step[len(remediation.VERIFY):], now, remedy, uow)
    if step.startswith(escalation.SLA):
        return [] if escalation.check_sla(inc, step[len(escalation.SLA):], now) else None
    log.warning("unknown step %s on %s", step, inc.id, extra={"incident_id": inc.id})
    return None
