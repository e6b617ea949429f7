"""Escalation on an incident: plan the ladder when it opens, re-plan on a severity change, fire
due steps (pages through the outbox, recording who was on call), and keep the SLA clocks.

The decisions are the domain's (shared/domain/escalation.py: which step is due, who is paged); this
module records them on the incident and returns the events they raise (pages and messages). The
caller's unit of work commits them with the incident in one batch, so a step and its pages are
written together or not at all.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from shared.domain import escalation as ladder
from shared.domain.escalation import (SLA, STEP, PageRequested, Step, advance_now, end_pause,  # noqa: F401
                                      ladder_for, pause_until, schedule, step_due_at)
from shared.domain.incident import AUTOMATION, Incident
from shared.domain.policy import Runbook
from shared.domain.roster import Override
from shared.domain.timeutil import iso, parse_iso
from shared.domain.events import Event, MessageQueued
from shared.services import communications, diagnostics, outbox


@dataclass
class Paging:
    """What firing a step needs besides the incident: the roster's overrides (read lazily) and
    which roles have a PagerDuty routing key."""
    routable_roles: frozenset[str] = frozenset()
    load_overrides: Callable[[], list[Override]] = list
    _overrides: list[Override] | None = field(default=None, init=False, repr=False)

    @property
    def overrides(self) -> list[Override]:
        if self._overrides is None:
            self._overrides = self.load_overrides()
        return self._overrides


def plan(inc: Incident, runbook: Runbook, now: datetime) -> None:
    """Copy the ladder for the incident's severity onto it and start its SLA clocks."""
    steps = ladder_for(runbook.ladders, inc.severity, inc.classification.security)
    ladder.plan(inc, steps, now, runbook.pause.get(inc.severity))
    start_sla(inc, runbook)


def start_sla(inc: Incident, runbook: Runbook) -> None:
    status = runbook.sla.sla_status(inc.severity, inc.created_at, inc.acknowledged_at, inc.resolved_at,
                                    inc.created_at, runbook.calendar)
    inc.sla = {**status, "response_breached": inc.sla.get("response_breached", False),
               "resolution_breached": inc.sla.get("resolution_breached", False)}


def replan(inc: Incident, runbook: Runbook, now: datetime) -> None:
    """After a severity change: the new ladder, keeping what was done (steps never repeat)."""
    ladder.replan(inc, ladder_for(runbook.ladders, inc.severity, inc.classification.security), now)
    start_sla(inc, runbook)


def fire(inc: Incident, name: str, now: datetime, runbook: Runbook, paging: Paging) -> list[Event] | None:
    """Run the pending step `name` if it is due. Returns the events it raises (its pages and messages), or None when it no longer applies."""
    firing = ladder.decide_step(inc, name, now, roster=runbook.roster, overrides=lambda: paging.overrides,
                                routable_roles=paging.routable_roles)
    if firing is None:
        return None
    ladder.record(inc, firing)
    step = next(f.step for f in firing if isinstance(f, ladder.StepFired))
    ops: list[Event] = [outbox.message(now, inc, channel="pagerduty", action="trigger", role=f.role, person=f.person)
                        for f in firing if isinstance(f, PageRequested)]
    for channel in step.also:
        if channel == "chat" and diagnostics.due(inc) is not None:
            ladder.hold_chat(inc, step, now)   # runbook step 1's assessment goes out with step 2's diagnostics
            continue
        ops += communications.for_step(inc, channel, now, runbook)
    return ops



def fire_due(inc: Incident, now: datetime, runbook: Runbook, paging: Paging) -> list[Event]:
    """Fire at once every pending step already due (the 0-minute step when an incident opens; the
    overdue steps of a new ladder after a severity change)."""
    ops: list[Event] = []
    for step in inc.escalation.pending(inc.state):  # fire() decides each: one that fires ends the pause
        ops += fire(inc, step.name, now, runbook, paging) or []
    return ops


def check_sla(inc: Incident, which: str, now: datetime) -> bool:
    """Record a breach of the `which` clock once. Returns False when it was met in time."""
    due = parse_iso(inc.sla.get(f"{which}_due"))
    met = (inc.acknowledged_at or inc.resolved_at) if which == "response" else inc.resolved_at
    if due is None or inc.sla.get(f"{which}_breached") or now <= due or (met and met <= due):
        return False
    inc.sla[f"{which}_breached"] = True
    inc.record(now, "sla-breach", AUTOMATION, f"{which.capitalize()} SLA breached: {inc.severity} target was "
               f"{inc.sla[f'{which}_due']}", clock=which)
    return True


# An Azure Monitor alert's id as the Common Alert Schema sends it; other ids (budgets, classic
# activity-log alerts, hand-made test payloads) have no Alerts Management state to set.
_GUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
AZURE_ALERT_ID = re.compile(rf"/subscriptions/{_GUID}/providers/microsoft\.alertsmanagement/alerts/{_GUID}",
                            re.IGNORECASE)
AZURE_STATE = {"acknowledge": "Acknowledged", "resolve": "Closed"}


def stop_pages(inc: Incident, action: str, now: datetime, paging: Paging) -> list[MessageQueued]:
    """PagerDuty acknowledge/resolve for every role paged on this incident, and the same state on its
    Azure Monitor alerts (Acknowledged, Closed), so the portal and the app tell one story. Both go
    through the outbox: a receiver that is down never blocks the acknowledgment."""
    ops = [outbox.message(now, inc, channel="pagerduty", action=action, role=role, person=who.person)
           for role, who in inc.escalation.paged.items() if role in paging.routable_roles]
    ids = [aid for aid in inc.alerts if AZURE_ALERT_ID.fullmatch(aid)]
    if ids and action in AZURE_STATE:
        ops.append(outbox.message(now, inc, channel=outbox.AZURE_ALERT, action=AZURE_STATE[action],
                                  fields={"alert_ids": " ".join(ids)}))
    return ops


def view(inc: Incident) -> dict:
    """Steps done and the next due step, for the API."""
    esc = inc.escalation
    if esc.empty:
        return {}
    nxt = esc.pending(inc.state)
    step: Step | None = nxt[0] if nxt else None
    done = sorted(((k, iso(v)) for k, v in esc.done.items()), key=lambda kv: (kv[1], kv[0]))
    return {"severity": esc.severity, "done": [{"step": k, "at": v} for k, v in done],
            "next": None if step is None else {
                "step": step.name, "roles": list(step.roles),
                "due_at": iso(step_due_at(inc, step))},
            "paged": {role: p.to_doc() for role, p in esc.paged.items()},
            "steps": [s.as_dict() for s in esc.steps]}
