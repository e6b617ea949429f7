"""What an incident has scheduled on the due index, derived from its state and the runbook.

The incident's `scheduled` map and the due rows are rewritten together in every save, so the index
never disagrees with the incident.
"""
from __future__ import annotations

from datetime import datetime
from typing import Mapping

from shared.domain.incident import Incident
from shared.domain.policy import Runbook
from shared.ports import Op, Record
from shared.services import communications, diagnostics, escalation, metrics_store, remediation, reminders
from shared.services.repository import IncidentRepository

STABILITY = "stability"


def schedule_for(inc: Incident, runbook: Runbook) -> dict[str, datetime]:
    """Step name -> due time of every piece of work this incident is waiting for."""
    due = escalation.schedule(inc)
    due.update(remediation.schedule(inc))
    diag = diagnostics.due(inc)
    if diag is not None:
        due[diagnostics.DIAGNOSE] = diag
    if inc.is_open and inc.phase == "monitoring" and inc.monitoring_since is not None:
        due[STABILITY] = inc.monitoring_since + runbook.stability_window
    due.update(communications.schedule(inc, runbook))
    due.update(reminders.schedule(inc))
    return due


def incident_ops(repo: IncidentRepository, inc: Incident, etag: str | None, runbook: Runbook,
                 known: Mapping[str, Record | None] | None = None) -> list[Op]:
    """Every row one change of `inc` writes, for one atomic batch: the incident (insert when etag is
    None), its timeline, its due rows, and the messages its events call for (chat updates, ticket
    comments, the public status when it resolves), and its metrics aggregate (`known`: rows the caller
    already read, not read again)."""
    messages = communications.follow_up(inc, runbook)
    index = reminders.index_op(inc)
    at = max((ev.at for ev in inc.new_events), default=inc.resolved_at or inc.created_at)   # the change's time
    counted = metrics_store.ops(repo.store, inc, at, known)   # before save_ops: it marks what the incident is counted as
    return repo.save_ops(inc, etag, schedule_for(inc, runbook)) + messages + ([index] if index else []) + counted
