"""Retention: alert index rows and the remediation audit trail are not kept forever.

A daily timer expires what is older than the runbook's `[retention]` periods (the audit trail is
kept longer than the rest): the alert de-duplication rows, by the day of the incident they point at;
the remediation audit rows and the dead letters (messages refused for good), by when they were
written (the rows: shared/storage/retention.py).

Azure Monitor redelivers an alert for minutes, not months, so an expired de-duplication row cannot
let a redelivery open a second incident. Deletes are ETag-conditional, in batches of 100, bounded
per run; what is left waits for the next day.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Mapping

from shared.domain.errors import PolicyError
from shared.ports import Clock, RecordStore
from shared.storage import retention as rows

log = logging.getLogger(__name__)
DEFAULTS = {"alert_index_days": 90, "audit_days": 400}
MAX_PER_RUN = 20_000


@dataclass
class RetentionReport:
    alerts: int = 0
    audit: int = 0


def periods(sections: Mapping[str, Any]) -> tuple[timedelta, timedelta]:
    """(alert index, audit) retention from runbook.toml's [retention]. Raises PolicyError naming the key."""
    raw = sections.get("retention", {})
    if not isinstance(raw, dict):
        raise PolicyError("retention must be a table")
    out = []
    for key, default in DEFAULTS.items():
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise PolicyError(f"retention.{key} must be a whole number of days, at least 1")
        out.append(timedelta(days=value))
    alerts, audit = out
    if audit < alerts:
        raise PolicyError("retention.audit_days must be at least retention.alert_index_days: the audit "
                          "trail is kept longer than the rest")
    return alerts, audit


def expire(*, store: RecordStore, clock: Clock, sections: Mapping[str, Any]) -> RetentionReport:
    """Delete expired alert index and audit rows. Raises StoreUnavailable, PolicyError."""
    keep_alerts, keep_audit = periods(sections)
    now = clock.now()
    report = RetentionReport()
    report.alerts = rows.expire_alert_index(store, before_day=now - keep_alerts, limit=MAX_PER_RUN)
    report.audit = rows.expire_audit(store, before=now - keep_audit, limit=MAX_PER_RUN)
    # dead letters (refused messages) are kept like the audit trail, by when they were written
    report.audit += rows.expire_dead_letters(store, before=now - keep_audit, limit=MAX_PER_RUN)
    if report.alerts or report.audit:
        log.info("retention: %d alert index rows and %d audit rows expired", report.alerts, report.audit)
    return report

