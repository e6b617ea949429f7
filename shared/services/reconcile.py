"""reconcile: no alert lost while the webhook was down.

When an action group's calls to the webhook keep failing, Azure Monitor retries a few times and then
stops calling that endpoint for 15 minutes; what fired meanwhile is never sent again (Microsoft Learn,
"Action groups", section "Webhook retry behavior":
https://learn.microsoft.com/azure/azure-monitor/alerts/action-groups#webhook-retry-behavior).
Azure Monitor still has those alerts, though. This timer reads the alerts that fired in the last
hours and are still New (Alerts Management API, through the AzureAlerts port) and hands each to the
same ingest_alert the webhook calls, so the same de-duplication by alertId applies: an alert the
webhook delivered answers "duplicate" with one read; one it never delivered opens (or joins) its
incident now.

Bounded, newest first: at most `limit` alerts ingested (not counting duplicates, which cost one read
each, so that a backlog larger than the limit still drains over the next runs), `max_read` alerts read
and `budget_s` seconds per run; the rest waits for the next run. Isolated: an alert that does not parse, or that fails to ingest, is logged with its id and
skipped; only the store being down stops the run (every other alert would fail the same way).

Runbook keys ([intake], read from Runbook.sections):
    reconcile_hours = 6            how far back to look (at most 720: the API's 30-day limit)
    reconcile_rules = ["ir-*"]     optional: only alerts whose rule name matches one of these globs
                                   (a subscription shared with rules routed elsewhere); default all
"""
from __future__ import annotations

import fnmatch
import logging
import re
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable, Mapping, Sequence

from shared.domain.errors import DependencyFailed, DomainError, InvalidInput, PolicyError, StoreUnavailable
from shared.domain.policy import Runbook
from shared.ports import AzureAlerts, Clock, RecordStore
from shared.services.escalation import Paging
from shared.services.intake import ingest_alert
from shared.services.remediation import Remedy

log = logging.getLogger(__name__)
MAX_ALERTS = 100          # ingested per run (a new alert: one intake, maybe pages)
MAX_READ = 2000           # read per run (a duplicate: one point read)
BUDGET_S = 30.0           # real seconds per run
DEFAULT_HOURS = 6
MAX_HOURS = 720           # customTimeRange: "within 30 days from query time" (the spec)
_SUBSCRIPTION = re.compile(r"^/subscriptions/([^/]+)/", re.IGNORECASE)


@dataclass
class ReconcileReport:
    listed: int = 0                                   # alerts read from Azure and handed to intake
    outcomes: dict[str, int] = field(default_factory=dict)   # ingest outcome -> count
    skipped: int = 0                                  # filtered out by reconcile_rules
    failed: int = 0                                   # alerts that did not parse or ingest
    truncated: bool = False                           # stopped at the limit or the time budget
    errors: list[str] = field(default_factory=list)   # subscriptions that could not be read

    @property
    def recovered(self) -> int:
        """Alerts the webhook never delivered, ingested now."""
        return sum(n for outcome, n in self.outcomes.items() if outcome != "duplicate")


def subscriptions(core: Mapping[str, str], subscription_id: str = "") -> list[str]:
    """The subscriptions to read: AZURE_SUBSCRIPTION_ID and those of the core resources' ids, once each."""
    from_ids = [m[1] for m in (_SUBSCRIPTION.match(v or "") for v in core.values()) if m]
    found: dict[str, str] = {}
    for sub in (subscription_id.strip(), *from_ids):
        if sub:
            found.setdefault(sub.lower(), sub)
    return list(found.values())


def settings(runbook: Runbook) -> tuple[timedelta, tuple[str, ...]]:
    """(window, rule globs) from the runbook's [intake] table. Raises PolicyError naming a bad key."""
    intake = runbook.sections.get("intake", {}) if isinstance(runbook.sections, Mapping) else {}
    hours = intake.get("reconcile_hours", DEFAULT_HOURS) if isinstance(intake, Mapping) else DEFAULT_HOURS
    if isinstance(hours, bool) or not isinstance(hours, (int, float)) or not 0 < hours <= MAX_HOURS:
        raise PolicyError(f"intake.reconcile_hours must be a number of hours above 0 and at most {MAX_HOURS}")
    rules = intake.get("reconcile_rules", []) if isinstance(intake, Mapping) else []
    if not isinstance(rules, list) or not all(isinstance(r, str) and r for r in rules):
        raise PolicyError("intake.reconcile_rules must be a list of alert rule name globs")
    return timedelta(hours=hours), tuple(rules)


def reconcile(*, alerts: AzureAlerts | None, subscription_ids: Sequence[str], store: RecordStore, clock: Clock,
              runbook: Runbook, core: dict[str, str], remedy: Remedy | None = None, paging: Paging | None = None,
              limit: int = MAX_ALERTS, max_read: int = MAX_READ, budget_s: float = BUDGET_S,
              monotonic: Callable[[], float] = time.monotonic) -> ReconcileReport:
    """Ingest every fired, still-New Azure alert of the window that the webhook never delivered.
    Raises PolicyError (bad runbook keys) and StoreUnavailable (nothing more can be ingested); a
    subscription that cannot be read is recorded in the report and the others go on."""
    report = ReconcileReport()
    if alerts is None or not subscription_ids:
        return report
    window, rules = settings(runbook)
    now, started = clock.now(), monotonic()
    for sub in subscription_ids:
        try:
            for payload in alerts.fired(subscription_id=sub, since=now - window, until=now):
                if report.recovered + report.failed >= limit or report.listed + report.skipped >= max_read \
                        or monotonic() - started > budget_s:
                    report.truncated = True
                    break
                _one(payload, rules, report, store=store, clock=clock, runbook=runbook, core=core, remedy=remedy,
                     paging=paging)
        except (DependencyFailed, ValueError) as e:
            report.errors.append(f"subscription {sub}: {e}")
            log.warning("reconcile: cannot list the alerts of subscription %s: %s", sub, e)
        if report.truncated:
            log.warning("reconcile: stopped after %d alerts read, %d ingested (limits %d, %d, %.0f s); the rest "
                        "waits for the next run", report.listed, report.recovered, max_read, limit, budget_s)
            break
    return report


def _one(payload: Mapping[str, Any], rules: tuple[str, ...], report: ReconcileReport, **deps: Any) -> None:
    """One alert, isolated: a failure is logged with the alert id and counted; the caller goes on."""
    alert_id = _alert_id(payload)
    if rules and not any(fnmatch.fnmatchcase(_rule(payload).lower(), r.lower()) for r in rules):
        report.skipped += 1
        return
    report.listed += 1
    try:
        result = ingest_alert(payload, **deps)
    except StoreUnavailable:
        raise
    except InvalidInput as e:
        report.failed += 1
        log.warning("reconcile: alert %s skipped: it does not parse: %s", alert_id, e)
        return
    except DomainError as e:
        report.failed += 1
        log.error("reconcile: alert %s not ingested (%s: %s); the next run tries again", alert_id,
                  type(e).__name__, e)
        return
    report.outcomes[result.outcome] = report.outcomes.get(result.outcome, 0) + 1
    if result.outcome != "duplicate":
        log.warning("reconcile: alert %s was never delivered by the webhook: %s %s", alert_id, result.outcome,
                    result.incident_id, extra={"incident_id": result.incident_id})


def _essentials(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    data = payload.get("data") if isinstance(payload, Mapping) else None
    ess = data.get("essentials") if isinstance(data, Mapping) else None
    return ess if isinstance(ess, Mapping) else {}


def _alert_id(payload: Mapping[str, Any]) -> str:
    return str(_essentials(payload).get("alertId") or "(no alertId)")[:300]


def _rule(payload: Mapping[str, Any]) -> str:
    rule = _essentials(payload).get("alertRule")
    return rule if isinstance(rule, str) else ""
