"""Timer triggers: the sweep of the due index (escalation steps, stability windows, deliveries)."""
import logging

import azure.functions as func

from shared import bootstrap as b
from shared.services.sweep import sweep

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.timer_trigger(schedule="%ESCALATION_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=False)
def escalation_sweep(timer: func.TimerRequest) -> None:
    report = sweep(store=b.store(), clock=b.clock(), runbook=b.runbook())
    if report.due:
        log.info("sweep: %d due, %d applied, %d skipped", report.due, len(report.applied), report.skipped)
