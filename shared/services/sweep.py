"""The sweeps: run every due step of the due index, exactly once, whatever runs beside them.

Each incident has at most one due row per lane (esc: escalation steps, SLA clocks, stability
windows; arm: diagnostics and remediation), at the earliest due step of that lane. A sweep reads
only the rows due by now (a key range), so its cost follows the work due, not the number of open
incidents. An incident's due steps are applied in one ETag-conditional batch: two sweeps at once
both try; one commits, the other re-reads and finds the steps done. A crash after the commit
leaves outbox rows that the delivery sends later; a crash before it leaves the due row.

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

from shared.domain.errors import ConcurrencyConflict, NotFound, StoreUnavailable
from shared.domain.incident import AUTOMATION, Incident
from shared.domain.policy import Runbook
from shared.domain.timeutil import iso, parse_stored
from shared.ports import Clock, Op, Record, RecordStore
from shared.services import communications, diagnostics, escalation, remediation, remediation_run, reminders
from shared.services.escalation import Paging
from shared.services.remediation import Remedy
from shared.services.repository import IncidentRepository, lane_of
from shared.services.retry import retrying
from shared.services.schedule import STABILITY, incident_ops

log = logging.getLogger(__name__)
SWEEP_META = "meta|sweep"
MAX_DUE_PER_SWEEP = 500
BUDGET_S = 7.0   # real seconds: what is left over waits for the next tick instead of overrunning it
ESC, ARM = "esc", "arm"
RETRY_FIRST = timedelta(seconds=30)     # a failing row is tried again after 30 s, 1 min, 2 min, ...
RETRY_MAX = timedelta(minutes=10)
AUDIT_EVERY = timedelta(minutes=10)     # how often a worker checks that no open incident lost its due rows


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


def sweep(*, store: RecordStore, clock: Clock, runbook: Runbook, paging: Paging | None = None,
          remedy: Remedy | None = None, lane: str | None = None, record_health: bool = True) -> SweepReport:
    """Apply every step due by now, of one lane (or all). Raises StoreUnavailable when the store is down.

    The timers run one sweep per lane, so a slow Resource Manager never holds a page back."""
    now = clock.now()
    repo = IncidentRepository(store)
    paging, remedy = paging or Paging(), remedy or Remedy(core={})
    page = store.scan(start="due|", end=f"due|{iso(now)}~", limit=MAX_DUE_PER_SWEEP)
    rows = [r for r in page.records if lane is None or r.data.get("lane") == lane]
    report = SweepReport(due=len(rows))
    started = time.monotonic()
    for n, rec in enumerate(rows):
        if time.monotonic() - started > BUDGET_S:
            report.deferred = len(rows) - n   # rows, not steps: one row may apply several steps
            log.warning("sweep budget spent: %d due rows left for the next tick", report.deferred)
            break
        retry_at = rec.data.get("retry_at")
        if isinstance(retry_at, str) and retry_at > iso(now):
            report.held += 1
            continue
        try:
            _run_row(repo, rec, now, runbook, paging, remedy, clock, report)
        except StoreUnavailable:
            raise  # the store is down: the whole tick fails and health goes stale, as it should
        except Exception as e:  # noqa: BLE001 - isolated: recorded on the row, the timeline and the log
            report.failed += 1
            _record_failure(repo, rec, e, now)
    if lane in (None, ARM) and _audits.due(store, now):  # on the ARM timer: never in front of a page
        report.repaired = repair_due_index(repo)
    report.finished_at = iso(clock.now())
    if record_health:
        store.commit(ops=[Op("upsert", SWEEP_META, {"finished_at": report.finished_at, "due": report.due,
                                                    "failed": report.failed})])
    return report


def _run_row(repo: IncidentRepository, rec: Record, now: datetime, runbook: Runbook, paging: Paging,
             remedy: Remedy, clock: Clock, report: SweepReport) -> None:
    incident_id, lane = rec.data["incident_id"], rec.data["lane"]
    row: list[Record] = [rec]

    def attempt() -> tuple[list[str], list[str]] | None:
        if row[0] is not rec:   # a retry: another writer changed the incident; read the row again
            fresh = repo.store.get(keys=[rec.key]).get(rec.key)
            if fresh is None:
                return None     # another sweep applied it (and moved the row)
            row[0] = fresh
        try:
            return _apply(repo, incident_id, lane, row[0], now, runbook, paging, remedy)
        except ConcurrencyConflict:
            row[0] = Record(rec.key, rec.data, "")   # marks "read again" for the next attempt
            raise
    try:
        done = retrying(attempt, f"{lane} work of {incident_id}", incident=incident_id)
    except ConcurrencyConflict:
        return
    if done is None:
        return
    applied, executions = done
    report.applied += [f"{incident_id}:{s}" for s in applied]
    report.skipped += not applied and not executions
    for rid in executions:  # claims, acts on ARM and records, in batches of its own
        if remediation_run.execute(repo=repo, incident_id=incident_id, rid=rid, runbook=runbook,
                                   remedy=remedy, clock=clock):
            report.applied.append(f"{incident_id}:{remediation.EXEC}{rid}")


def _apply(repo: IncidentRepository, incident_id: str, lane: str, rec: Record, now: datetime, runbook: Runbook,
           paging: Paging, remedy: Remedy) -> tuple[list[str], list[str]]:
    """Run the incident's steps of `lane` that are due. Returns (steps applied, remediations to execute)."""
    try:
        inc, etag = repo.load(incident_id)
    except NotFound:
        inc = None
    due_at = rec.key.split("|")[1]
    if inc is None or inc.lanes.get(lane) != due_at:
        # not (or no longer) the incident's schedule: a leftover; drop it if it is still there
        try:
            repo.store.commit(ops=[Op("delete", rec.key, etag=rec.etag)])
        except ConcurrencyConflict:
            pass  # already gone, or rewritten by another sweep that will see it again
        return [], []
    due = [s for s, t in inc.scheduled.items() if lane_of(s) == lane and parse_stored(t) <= now]
    applied, executions, extra = [], [], []
    for step in due:
        if step.startswith(remediation.EXEC):
            executions.append(step[len(remediation.EXEC):])
            continue
        ops = run_step(inc, step, now, runbook, paging, remedy, repo)
        if ops is not None:
            applied.append(step)
            extra += ops
    if rec.data.get("failures"):
        inc.record(now, "recovered", AUTOMATION, f"The sweep applied this incident's {lane} work again after "
                   f"{rec.data['failures']} failed attempts")
    ops = incident_ops(repo, inc, etag, runbook)
    if inc.lanes.get(lane) != due_at:  # this row moved on: drop it in the same batch (it exists: we read it)
        ops.append(Op("delete", rec.key, etag=rec.etag))
    elif rec.data.get("failures"):     # the row stays where it is: clear its failure record
        ops.append(Op("replace", rec.key, {"incident_id": incident_id, "lane": lane}, rec.etag))
    repo.store.commit(ops=ops + extra)
    return applied, executions


def _record_failure(repo: IncidentRepository, rec: Record, error: Exception, now: datetime) -> None:
    """Write the failure on the due row (attempts, reason, next attempt with backoff) and, on the first
    failure and every doubling after it, on the incident's timeline. Never raises but StoreUnavailable."""
    failures = int(rec.data.get("failures") or 0) + 1
    retry_at = now + min(RETRY_MAX, RETRY_FIRST * 2 ** min(failures - 1, 10))
    reason = f"{type(error).__name__}: {str(error)[:300]}"
    incident_id, lane = str(rec.data.get("incident_id", "?")), str(rec.data.get("lane", "?"))
    log.error("due work of %s (%s lane) failed %d time(s), next attempt %s: %s", incident_id, lane, failures,
              iso(retry_at), reason, exc_info=error, extra={"incident_id": incident_id})
    data = {**rec.data, "failures": failures, "retry_at": iso(retry_at), "error": reason,
            "first_failed_at": rec.data.get("first_failed_at") or iso(now)}
    ops = [Op("replace", rec.key, data, rec.etag)]
    if failures & (failures - 1) == 0 and rec.data.get("incident_id"):
        ops.append(IncidentRepository.side_event(
            incident_id, now, "sweep-failure", "system",
            f"The {lane} sweep could not apply this incident's due work ({reason}); attempt {failures}, "
            f"trying again at {iso(retry_at)}. Other incidents are not affected.", lane=lane))
    try:
        repo.store.commit(ops=ops)
    except ConcurrencyConflict:
        pass  # another sweep handled the row meanwhile


def repair_due_index(repo: IncidentRepository) -> int:
    """Put back the due rows that open incidents count on but the index lost (a restore, a row
    deleted by hand). Returns how many. Two range scans: the open incidents and the due index."""
    incidents = [inc for inc, _ in repo.open_incidents()]
    ops = repo.due_rows_missing(incidents)
    for i in range(0, len(ops), 100):
        repo.store.commit(ops=ops[i:i + 100])
    for op in ops:
        log.warning("due row %s was missing: put back", op.key, extra={"incident_id": op.data["incident_id"]})
    return len(ops)


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
             repo: IncidentRepository) -> list[Op] | None:
    """Apply one due step to the incident. Returns the ops it causes (outbox, audit), or None when it
    no longer applies (the schedule is then recomputed without it)."""
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
        ledger = repo.store.get(keys=[remediation.LEDGER]).get(remediation.LEDGER)
        return remediation.plan(inc, step[len(remediation.PLAN):], now, runbook, remedy,
                                ledger.data if ledger else None)
    if step.startswith(remediation.EXPIRE):
        return remediation.expire(inc, step[len(remediation.EXPIRE):], now)
    if step.startswith(remediation.VERIFY):
        return remediation_run.verify(inc, step[len(remediation.VERIFY):], now, remedy, repo)
    if step.startswith(escalation.SLA):
        return [] if escalation.check_sla(inc, step[len(escalation.SLA):], now) else None
    log.warning("unknown step %s on %s", step, inc.id, extra={"incident_id": inc.id})
    return None
