"""Timer trigger: the sweep of the due index (escalation steps, SLA clocks, stability windows),
then delivery of the outbox (PagerDuty pages)."""
import logging

import azure.functions as func

from shared import bootstrap as b
from shared.services.outbox import deliver
from shared.services.sweep import sweep

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.timer_trigger(schedule="%ESCALATION_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=False)
def escalation_sweep(timer: func.TimerRequest) -> None:
    report = sweep(store=b.store(), clock=b.clock(), runbook=b.runbook(), paging=b.paging(), remedy=b.remedy())
    sent = deliver(store=b.store(), clock=b.clock(), pager=b.pager(),
                   routing_keys=b.settings().pagerduty_routing_keys, base_url=b.settings().public_base_url)
    if report.due or sent.details:
        log.info("sweep: %d due, %d applied; outbox: %d sent, %d failed", report.due, len(report.applied),
                 sent.sent, sent.failed)
