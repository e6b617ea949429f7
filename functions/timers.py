"""Timer triggers. On %ESCALATION_SCHEDULE%: the escalation sweep with outbox delivery (pages), and the
ARM sweep (diagnostics and remediation steps, Azure alert states). On %RECONCILE_SCHEDULE%: the alert
reconciliation (alerts the webhook never delivered). Resource Manager work has timers of its own, so
its latency never delays a page."""
import logging

import azure.functions as func

from shared import bootstrap as b
from shared.services.outbox import ARM_LANES, NOT_ARM_LANES, deliver
from shared.services.reconcile import reconcile, subscriptions
from shared.services.retention import expire
from shared.services.sweep import ARM, ESC, sweep

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.timer_trigger(schedule="%ESCALATION_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=False)
def escalation_sweep(timer: func.TimerRequest) -> None:
    report = sweep(store=b.store(), clock=b.clock(), runbook=b.runbook(), paging=b.paging(),
                   lane=ESC)
    sent = deliver(store=b.store(), clock=b.clock(), pager=b.pager(), lanes=NOT_ARM_LANES, receivers=b.receivers(),
                   routing_keys=b.settings().pagerduty_routing_keys, base_url=b.settings().public_base_url)
    if report.due or sent.details:
        log.info("sweep: %d due, %d applied; outbox: %d sent, %d failed", report.due, len(report.applied),
                 sent.sent, sent.failed)


@bp.timer_trigger(schedule="%ESCALATION_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=False)
def remediation_sweep(timer: func.TimerRequest) -> None:
    report = sweep(store=b.store(), clock=b.clock(), runbook=b.runbook(), paging=b.paging(), remedy=b.remedy(),
                   lane=ARM, record_health=False)
    states = deliver(store=b.store(), clock=b.clock(), pager=None, routing_keys={}, lanes=ARM_LANES,
                     alerts=b.alerts())
    if report.applied or states.details:
        log.info("remediation sweep: %d applied; Azure alert states: %d set, %d failed", len(report.applied),
                 states.sent, states.failed)


@bp.timer_trigger(schedule="%RECONCILE_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=False)
def alert_reconciliation(timer: func.TimerRequest) -> None:
    s = b.settings()
    report = reconcile(alerts=b.alerts(), subscription_ids=subscriptions(b.core(), s.azure_subscription_id),
                       store=b.store(), clock=b.clock(), runbook=b.runbook(), core=b.core(), remedy=b.remedy(),
                       paging=b.paging())
    if report.recovered or report.failed or report.errors:
        log.warning("reconcile: %d alerts read, %d never delivered and ingested now, %d failed, %d unreadable "
                    "subscriptions", report.listed, report.recovered, report.failed, len(report.errors))


@bp.timer_trigger(schedule="0 15 3 * * *", arg_name="timer", run_on_startup=False, use_monitor=False)
def retention(timer: func.TimerRequest) -> None:
    """Daily at 03:15 UTC: expire alert index and audit rows past runbook.toml's [retention]."""
    expire(store=b.store(), clock=b.clock(), sections=b.runbook().sections)


@bp.timer_trigger(schedule="%REVIEW_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=False)
def review_reminders(timer: func.TimerRequest) -> None:
    """The daily digest of reviews and action items due or overdue (09:00 calendar time, working days)."""
    from shared.services.reminders import daily
    text = daily(store=b.store(), clock=b.clock(), runbook=b.runbook(), tickets=b.receivers().tickets)
    if text:
        log.info("review digest posted: %d lines", text.count("\n") + 1)
