"""Operator commands on an incident: declare, acknowledge, resolve, severity, status, note.

Each is one unit of work: load the incident, apply the domain change, save it with the events the
change raised (its timeline, its new schedule and its messages follow) in one ETag-conditional
commit, re-read and retried on a race.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from shared.domain import classification
from shared.domain.classification import norm_severity
from shared.domain.errors import ConcurrencyConflict, InvalidInput
from shared.domain.incident import PHASES, Incident
from shared.domain.policy import Runbook
from shared.domain.events import Event
from shared.ports import Clock, RecordStore
from shared.services import communications, escalation, remediation
from shared.services.escalation import Paging
from shared.services.queries import incident_view
from shared.services.schedule import derive
from shared.storage.uow import UnitOfWork



def _text(body: dict[str, Any], key: str, limit: int, required: bool = True) -> str:
    value = body.get(key, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise InvalidInput(f"$.{key}", "is required (a non-empty string)" if required else "must be a string")
    if len(value) > limit:
        raise InvalidInput(f"$.{key}", f"must be at most {limit} characters")
    return value.strip()


def _change(incident_id: str, apply: Callable[[Incident], Sequence[Event]], *, store: RecordStore, runbook: Runbook
            ) -> dict[str, Any]:
    def attempt(uow: UnitOfWork) -> dict[str, Any]:
        inc = uow.load(incident_id)
        uow.add(*apply(inc))
        uow.save(inc)
        uow.commit()
        return incident_view(inc)
    return UnitOfWork.run(store, attempt, f"incident {incident_id}", derive=derive(runbook), incident=incident_id)


def acknowledge(incident_id: str, body: dict[str, Any], actor: str, *, store: RecordStore, clock: Clock,
                runbook: Runbook, paging: Paging) -> dict[str, Any]:
    """Stops the "not acknowledged" steps. Raises NotFound, Conflict (resolved)."""
    message = _text(body, "message", 2000, required=False)

    def apply(inc: Incident) -> Sequence[Event]:
        now = clock.now()
        return escalation.stop_pages(inc, "acknowledge", now, paging) if inc.acknowledge(actor, now, message) else []
    return _change(incident_id, apply, store=store, runbook=runbook)


def resolve(incident_id: str, body: dict[str, Any], actor: str, *, store: RecordStore, clock: Clock,
            runbook: Runbook, paging: Paging) -> dict[str, Any]:
    """Stops every step; starts the post-incident-review clock. Raises NotFound."""
    message = _text(body, "message", 2000, required=False)

    def apply(inc: Incident) -> Sequence[Event]:
        now = clock.now()
        if not inc.resolve(actor, now, message, runbook=runbook):
            return []
        return escalation.stop_pages(inc, "resolve", now, paging)
    return _change(incident_id, apply, store=store, runbook=runbook)


def set_severity(incident_id: str, body: dict[str, Any], actor: str, *, store: RecordStore, clock: Clock,
                 runbook: Runbook, paging: Paging) -> dict[str, Any]:
    """Reclassify and re-plan the ladder. Raises InvalidInput, NotFound, Conflict (resolved)."""
    severity = norm_severity(body.get("severity", ""))
    if severity is None:
        raise InvalidInput("$.severity", "must be one of SEV-1, SEV-2, SEV-3, SEV-4")
    reason = _text(body, "reason", 2000)

    def apply(inc: Incident) -> Sequence[Event]:
        now = clock.now()
        if inc.set_severity(severity, reason, actor, now):
            escalation.replan(inc, runbook, now)
            return escalation.fire_due(inc, now, runbook, paging)  # overdue steps of the new ladder: now
        return []
    return _change(incident_id, apply, store=store, runbook=runbook)


def set_status(incident_id: str, body: dict[str, Any], actor: str, *, store: RecordStore, clock: Clock,
               runbook: Runbook, paging: Paging) -> dict[str, Any]:
    """Move the public phase and publish it (the self-hosted page, Statuspage when configured) with the
    runbook's template for the phase; `external: true` records customer impact (a SEV-2's customer
    drafts). Raises InvalidInput, NotFound, Conflict."""
    phase = body.get("phase", body.get("status"))
    if phase not in PHASES:
        raise InvalidInput("$.phase", f"must be one of {', '.join(PHASES)}")
    message = _text(body, "message", 4000, required=False)
    external = body.get("external", False)
    if not isinstance(external, bool):
        raise InvalidInput("$.external", "must be true or false")

    def apply(inc: Incident) -> Sequence[Event]:
        now = clock.now()
        ops: list[Event] = []
        if phase == "resolved":
            if inc.resolve(actor, now, message, runbook=runbook):
                ops += escalation.stop_pages(inc, "resolve", now, paging)
        else:
            inc.set_phase(phase, message, actor, now, runbook=runbook)
        if external:
            ops += communications.mark_external(inc, now, runbook, actor)
        if (inc.comms.get("public") or {}).get("phase") != "resolved":
            ops += communications.publish(inc, phase, message, actor, now, runbook)
        return ops
    return _change(incident_id, apply, store=store, runbook=runbook)


def decide_remediation(incident_id: str, rid: str, body: dict[str, Any], actor: str, *, store: RecordStore,
                       clock: Clock, runbook: Runbook) -> dict[str, Any]:
    """Approve (or reject) a remediation that waits for approval. Raises NotFound, Conflict, InvalidInput."""
    return _change(incident_id, lambda inc: remediation.decide(inc, rid, body, actor, clock.now()),
                   store=store, runbook=runbook)


def add_note(incident_id: str, body: dict[str, Any], actor: str, *, store: RecordStore, clock: Clock,
             runbook: Runbook) -> dict[str, Any]:
    text = _text(body, "text", 8000)

    def apply(inc: Incident) -> Sequence[Event]:
        inc.note(text, actor, clock.now())
        return []
    return _change(incident_id, apply, store=store, runbook=runbook)


def declare(body: dict[str, Any], actor: str, *, store: RecordStore, clock: Clock, runbook: Runbook,
            paging: Paging) -> dict[str, Any]:
    """Open an incident by hand: title, and severity or impact + scope. Raises InvalidInput."""
    title = _text(body, "title", 300)
    c = classification.from_request(body, actor=actor)
    external = body.get("external", False)
    if not isinstance(external, bool):
        raise InvalidInput("$.external", "must be true or false")
    def attempt(uow: UnitOfWork) -> dict[str, Any]:
        now = clock.now()
        incident_id = uow.incidents.allocate_id(now)
        inc = Incident.declare(incident_id, title=title, c=c, actor=actor, now=now)
        escalation.plan(inc, runbook, now)
        pages = escalation.fire_due(inc, now, runbook, paging)
        if external:   # a SEV-2 with customer impact gets its customer drafts now
            pages += communications.mark_external(inc, now, runbook, actor)
        uow.create(inc)
        uow.add(*pages)
        try:
            uow.commit()
        except ConcurrencyConflict:
            uow.incidents.heal_counter(now)  # a counter behind its incidents would collide on every retry
            raise
        return incident_view(inc)
    return UnitOfWork.run(store, attempt, "declare", derive=derive(runbook))
