"""What an incident's change calls for, derived from its state and the runbook: the work it has
scheduled on the due index, and the follow-up its events ask for (chat updates, ticket comments, the
public status when it resolves, the review index).

The unit of work asks this of every incident it saves (`derive`), so the schedule and the due rows are
rewritten together in every save and the index never disagrees with the incident, and every path that
changes an incident (a responder, a timer, an alert) sends the same follow-up.
"""
from __future__ import annotations

from datetime import datetime
from typing import Mapping, Sequence

from shared.domain.events import Event
from shared.domain.incident import Incident
from shared.domain.policy import Runbook
from shared.services import communications, diagnostics, escalation, remediation, reminders
from shared.storage.uow import Derive

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


def derive(runbook: Runbook) -> Derive:
    """The unit of work's hook: a saved incident's schedule, and the events its change raises."""
    def derived(inc: Incident) -> tuple[Mapping[str, datetime], Sequence[Event]]:
        raised: list[Event] = list(communications.follow_up(inc, runbook))
        index = reminders.review_indexed(inc)
        if index is not None:
            raised.append(index)
        return schedule_for(inc, runbook), raised
    return derived

