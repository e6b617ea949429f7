"""The sweep: runs every due step of the due index, exactly once, whatever runs beside it.

A sweep reads only the rows due by now (a key range), so its cost follows the work due, not the
number of open incidents. Each step is applied by an ETag-conditional batch on its incident: two
sweeps at once both try; one commits, the other re-reads and finds the step done. A crash after
the commit leaves outbox rows that the delivery sends later; a crash before it leaves the due row.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from shared.domain.errors import ConcurrencyConflict, NotFound
from shared.domain.incident import AUTOMATION, Incident
from shared.domain.policy import Runbook
from shared.domain.timeutil import iso
from shared.ports import Clock, Op, RecordStore
from shared.services import diagnostics, escalation, remediation, remediation_run
from shared.services.escalation import Paging
from shared.services.remediation import Remedy
from shared.services.repository import IncidentRepository
from shared.services.schedule import STABILITY, schedule_for

log = logging.getLogger(__name__)
SWEEP_META = "meta|sweep"
MAX_DUE_PER_SWEEP = 500
BUDGET_S = 7.0   # real seconds: what is left over waits for the next tick instead of overrunning it


@dataclass
class SweepReport:
    due: int = 0
    applied: list[str] = field(default_factory=list)
    skipped: int = 0
    deferred: int = 0
    finished_at: str | None = None


def uses_arm(step: str) -> bool:
    """Diagnostics and remediation steps call Azure Resource Manager; the escalation steps never do."""
    return step == diagnostics.DIAGNOSE or step.startswith("rem:")


def sweep(*, store: RecordStore, clock: Clock, runbook: Runbook, paging: Paging | None = None,
          remedy: Remedy | None = None, only: Callable[[str], bool] | None = None,
          record_health: bool = True) -> SweepReport:
    """Apply every step due by now (those `only` accepts). Raises StoreUnavailable when the store is down.

    The timers run two sweeps: escalation (pages, SLA, stability) and ARM work (diagnostics,
    remediation), so a slow Resource Manager can never hold a page back."""
    now = clock.now()
    repo = IncidentRepository(store)
    paging = paging or Paging()
    remedy = remedy or Remedy(core={})
    page = store.scan(start="due|", end=f"due|{iso(now)}~", limit=MAX_DUE_PER_SWEEP)
    report = SweepReport(due=len(page.records))
    started = time.monotonic()
    for rec in page.records:
        if time.monotonic() - started > BUDGET_S:
            report.deferred = report.due - len(report.applied) - report.skipped
            log.warning("sweep budget spent: %d due steps left for the next tick", report.deferred)
            break
        incident_id, step = rec.data["incident_id"], rec.data["step"]
        if only is not None and not only(step):
            continue
        if step.startswith(remediation.EXEC):  # claims, acts on ARM and records in its own batches
            ran = remediation_run.execute(repo=repo, incident_id=incident_id, rid=step[len(remediation.EXEC):],
                                          runbook=runbook, remedy=remedy, clock=clock)
            if ran:
                report.applied.append(f"{incident_id}:{step}")
            continue
        for _ in range(8):
            try:
                if _apply(repo, incident_id, step, rec.key, now, runbook, paging, remedy):
                    report.applied.append(f"{incident_id}:{step}")
                else:
                    report.skipped += 1
                break
            except ConcurrencyConflict:
                continue  # another writer changed the incident: re-read and decide again
    report.finished_at = iso(clock.now())
    if record_health:
        store.commit(ops=[Op("upsert", SWEEP_META, {"finished_at": report.finished_at, "due": report.due})])
    return report


def _apply(repo: IncidentRepository, incident_id: str, step: str, key: str, now: datetime,
           runbook: Runbook, paging: Paging, remedy: Remedy) -> bool:
    try:
        inc, etag = repo.load(incident_id)
    except NotFound:
        inc = None
    if inc is None or key.split("|")[1] != inc.scheduled.get(step):
        # not (or no longer) in the incident's schedule: a leftover; drop it if it is still there
        if repo.store.get(keys=[key]):
            repo.store.commit(ops=[Op("delete", key, etag="*")])
        return False
    extra = run_step(inc, step, now, runbook, paging, remedy, repo)
    # the new schedule no longer holds a step that ran; save_ops deletes its due row in the same batch
    repo.store.commit(ops=repo.save_ops(inc, etag, schedule_for(inc, runbook)) + (extra or []))
    return extra is not None


def run_step(inc: Incident, step: str, now: datetime, runbook: Runbook, paging: Paging, remedy: Remedy,
             repo: IncidentRepository) -> list[Op] | None:
    """Apply one due step to the incident. Returns the outbox ops it causes, or None when it no
    longer applies (the schedule is then recomputed without it)."""
    if step == STABILITY:
        if inc.stable_since(now, runbook.stability_window):
            inc.resolve(AUTOMATION, now, f"Resolved automatically: no alert fired again in the "
                        f"{int(runbook.stability_window.total_seconds() // 60)}-minute stability window")
            return escalation.stop_pages(inc, "resolve", now, paging)
        return None
    if step.startswith(escalation.STEP):
        return escalation.fire(inc, step[len(escalation.STEP):], now, runbook, paging)
    if step == diagnostics.DIAGNOSE:
        diagnostics.record(inc, remedy.resources() if remedy.core else None, remedy.core, now)
        return []
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
