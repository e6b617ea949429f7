"""What an incident has scheduled on the due index, derived from its state and the runbook.

The incident's `scheduled` map and the due rows are rewritten together in every save, so the index
never disagrees with the incident.
"""
from __future__ import annotations

from datetime import datetime

from shared.domain.incident import Incident
from shared.domain.policy import Runbook
from shared.services import diagnostics, escalation, remediation

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
    return due
