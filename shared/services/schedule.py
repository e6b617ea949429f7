"""What an incident has scheduled on the due index, derived from its state and the runbook.

The incident's `scheduled` map and the due rows are rewritten together in every save, so the index
never disagrees with the incident.
"""
from __future__ import annotations

from datetime import datetime

from shared.domain.incident import Incident
from shared.domain.policy import Runbook
from shared.ports import Op
from shared.services import communications, diagnostics, escalation, remediation
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
    return due


def incident_ops(repo: IncidentRepository, inc: Incident, etag: str | None, runbook: Runbook) -> list[Op]:
    """Every row one change of `inc` writes, for one atomic batch: the incident (insert when etag is
    None), its timeline, its due rows, and the messages its events call for (chat updates, ticket
    comments, the public status when it resolves)."""
    messages = communications.follow_up(inc, runbook)
    return repo.save_ops(inc, etag, schedule_for(inc, runbook)) + messages
