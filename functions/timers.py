"""Timer triggers on %ESCALATION_SCHEDULE%: the escalation sweep with outbox delivery (pages), and
the ARM sweep (diagnostics and remediation steps). Two functions, so Resource Manager latency never
delays a page."""
import logging

import azure.functions as func

from shared import bootstrap as b
from shared.services.outbox import deliver
from shared.services.sweep import ARM, ESC, sweep

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.timer_trigger(schedule="%ESCALATION_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=False)
def escalation_sweep(timer: func.TimerRequest) -> None:
    report = sweep(store=b.store(), clock=b.clock(), runbook=b.runbook(), paging=b.paging(),
                   lane=ESC)
    sent = deliver(store=b.store(), clock=b.clock(), pager=b.pager(),
                   routing_keys=b.settings().pagerduty_routing_keys, base_url=b.settings().public_base_url)
    if report.due or sent.details:
        log.info("sweep: %d due, %d applied; outbox: %d sent, %d failed", report.due, len(report.applied),
                 sent.sent, sent.failed)


@bp.timer_trigger(schedule="%ESCALATION_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=False)
def remediation_sweep(timer: func.TimerRequest) -> None:
    report = sweep(store=b.store(), clock=b.clock(), runbook=b.runbook(), paging=b.paging(), remedy=b.remedy(),
                   lane=ARM, record_health=False)
    if report.applied:
        log.info("remediation sweep: %d applied", len(report.applied))
