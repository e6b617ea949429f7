"""The sweeps: run every due step of the due index, exactly once, whatever runs beside them.

Each incident has at most one due row per lane (esc: escalation steps, SLA clocks, stability
windows; arm: diagnostics and remediation), at the earliest due step of that lane. A sweep reads
only the rows due by now (a key range), so its cost follows the work due, not the number of open
incidents. An incident's due steps are applied in one ETag-conditional batch: two sweeps at once
both try; one commits, the other re-reads and finds the steps done. A crash after the commit
leaves outbox rows that the delivery sends later; a crash before it leaves the due row.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime

from shared.domain.errors import ConcurrencyConflict, NotFound
from shared.domain.incident import AUTOMATION, Incident
from shared.domain.policy import Runbook
from shared.domain.timeutil import iso, parse_iso
from shared.ports import Clock, Op, RecordStore
from shared.services import diagnostics, escalation, remediation, remediation_run
from shared.services.escalation import Paging
from shared.services.remediation import Remedy
from shared.services.repository import IncidentRepository, lane_of
from shared.services.schedule import STABILITY, schedule_for

log = logging.getLogger(__name__)
SWEEP_META = "meta|sweep"
MAX_DUE_PER_SWEEP = 500
BUDGET_S = 7.0   # real seconds: what is left over waits for the next tick instead of overrunning it
ESC, ARM = "esc", "arm"


@dataclass
class SweepReport:
    due: int = 0
    applied: list[str] = field(default_factory=list)
    skipped: int = 0
    deferred: int = 0
    finished_at: str | None = None


def sweep(*, store: RecordStore, clock: Clock, runbook: Runbook, paging: Paging | None = None,
          remedy: Remedy | None = None, lane: str | None = None, record_health: bool = True) -> SweepReport:
    """Apply every step due by now, of one lane (or all). Raises StoreUnavailable when the store is down.

    The timers run one sweep per lane, so a slow Resource Manager never holds a page back."""
    now = clock.now()
    repo = IncidentRepository(store)
    paging, remedy = paging or Paging(), remedy or Remedy(core={})
    page = store.scan(start="due|", end=f"due|{iso(now)}~", limit=MAX_DUE_PER_SWEEP)
    rows = [r for r in page.records if lane is None or r.data["lane"] == lane]
    report = SweepReport(due=len(rows))
    started = time.monotonic()
    for rec in rows:
        if time.monotonic() - started > BUDGET_S:
            report.deferred = report.due - len(report.applied) - report.skipped
            log.warning("sweep budget spent: %d due rows left for the next tick", report.deferred)
            break
        for _ in range(8):
            try:
                applied, executions = _apply(repo, rec.data["incident_id"], rec.data["lane"], rec.key, now,
                                             runbook, paging, remedy)
                break
            except ConcurrencyConflict:
                continue  # another writer changed the incident: re-read and decide again
        else:
            continue
        report.applied += [f"{rec.data['incident_id']}:{s}" for s in applied]
        report.skipped += not applied and not executions
        for rid in executions:  # claims, acts on ARM and records, in batches of its own
            if remediation_run.execute(repo=repo, incident_id=rec.data["incident_id"], rid=rid, runbook=runbook,
                                       remedy=remedy, clock=clock):
                report.applied.append(f"{rec.data['incident_id']}:{remediation.EXEC}{rid}")
    report.finished_at = iso(clock.now())
    if record_health:
        store.commit(ops=[Op("upsert", SWEEP_META, {"finished_at": report.finished_at, "due": report.due})])
    return report


def _apply(repo: IncidentRepository, incident_id: str, lane: str, key: str, now: datetime, runbook: Runbook,
           paging: Paging, remedy: Remedy) -> tuple[list[str], list[str]]:
    """Run the incident's steps of `lane` that are due. Returns (steps applied, remediations to execute)."""
    try:
        inc, etag = repo.load(incident_id)
    except NotFound:
        inc = None
    if inc is None or inc.lanes.get(lane) != key.split("|")[1]:
        # not (or no longer) the incident's schedule: a leftover; drop it if it is still there
        if repo.store.get(keys=[key]):
            repo.store.commit(ops=[Op("delete", key, etag="*")])
        return [], []
    due = [s for s, t in inc.scheduled.items() if lane_of(s) == lane and parse_iso(t) <= now]
    applied, executions, extra = [], [], []
    for step in due:
        if step.startswith(remediation.EXEC):
            executions.append(step[len(remediation.EXEC):])
            continue
        ops = run_step(inc, step, now, runbook, paging, remedy, repo)
        if ops is not None:
            applied.append(step)
            extra += ops
    # the new schedule no longer holds a step that ran; save_ops moves the lane's due row in the batch
    repo.store.commit(ops=repo.save_ops(inc, etag, schedule_for(inc, runbook)) + extra)
    return applied, executions


def run_step(inc: Incident, step: str, now: datetime, runbook: Runbook, paging: Paging, remedy: Remedy,
             repo: IncidentRepository) -> list[Op] | None:
    """Apply one due step to the incident. Returns the ops it causes (outbox, audit), or None when it
    no longer applies (the schedule is then recomputed without it)."""
    if step == STABILITY:
        if inc.stable_since(now, runbook.stability_window):
            inc.resolve(AUTOMATION, now, f"Resolved automatically: no alert fired again in the "
                        f"{int(runbook.stability_window.total_seconds() // 60)}-minute stability window")
            return escalation.stop_pages(inc, "resolve", now, paging)
        return None
    if step.startswith(escalation.STEP):
        return escalation.fire(inc, step[len(escalation.STEP):], now, runbook, paging)
    if step == diagnostics.DIAGNOSE:
        return diagnostics.record(inc, remedy.resources() if remedy.core else None, remedy.core, now)
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
