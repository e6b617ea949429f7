"""Operator commands on an incident: declare, acknowledge, resolve, severity, status, note.

Each loads the incident, applies the domain change, and saves it with its timeline, its new
schedule and its outbox messages in one ETag-conditional batch (re-read and retried on a race).
"""
from __future__ import annotations

from typing import Any, Callable

from shared.domain import classification
from shared.domain.classification import IMPACTS, SCOPES, norm_impact, norm_scope, norm_severity
from shared.domain.errors import ConcurrencyConflict, InvalidInput
from shared.domain.incident import PHASES, Incident
from shared.domain.policy import Runbook
from shared.ports import Clock, Op, RecordStore
from shared.services import communications, escalation, remediation
from shared.services.escalation import Paging
from shared.services.queries import incident_view
from shared.services.repository import IncidentRepository
from shared.services.retry import retrying
from shared.services.schedule import incident_ops



def _text(body: dict[str, Any], key: str, limit: int, required: bool = True) -> str:
    value = body.get(key, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise InvalidInput(f"$.{key}", "is required (a non-empty string)" if required else "must be a string")
    if len(value) > limit:
        raise InvalidInput(f"$.{key}", f"must be at most {limit} characters")
    return value.strip()


def _change(incident_id: str, apply: Callable[[Incident], list[Op]], *, store: RecordStore, runbook: Runbook
            ) -> dict[str, Any]:
    repo = IncidentRepository(store)

    def attempt() -> dict[str, Any]:
        inc, etag = repo.load(incident_id)
        extra = apply(inc)
        store.commit(ops=incident_ops(repo, inc, etag, runbook) + extra)
        return incident_view(inc)
    return retrying(attempt, f"incident {incident_id}", incident=incident_id)


def acknowledge(incident_id: str, body: dict[str, Any], actor: str, *, store: RecordStore, clock: Clock,
                runbook: Runbook, paging: Paging) -> dict[str, Any]:
    """Stops the "not acknowledged" steps. Raises NotFound, Conflict (resolved)."""
    message = _text(body, "message", 2000, required=False)

    def apply(inc: Incident) -> list[Op]:
        now = clock.now()
        return escalation.stop_pages(inc, "acknowledge", now, paging) if inc.acknowledge(actor, now, message) else []
    return _change(incident_id, apply, store=store, runbook=runbook)


def resolve(incident_id: str, body: dict[str, Any], actor: str, *, store: RecordStore, clock: Clock,
            runbook: Runbook, paging: Paging) -> dict[str, Any]:
    """Stops every step; starts the post-incident-review clock. Raises NotFound."""
    message = _text(body, "message", 2000, required=False)

    def apply(inc: Incident) -> list[Op]:
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

    def apply(inc: Incident) -> list[Op]:
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

    def apply(inc: Incident) -> list[Op]:
        now = clock.now()
        ops: list[Op] = []
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

    def apply(inc: Incident) -> list[Op]:
        inc.note(text, actor, clock.now())
        return []
    return _change(incident_id, apply, store=store, runbook=runbook)


def declare(body: dict[str, Any], actor: str, *, store: RecordStore, clock: Clock, runbook: Runbook,
            paging: Paging) -> dict[str, Any]:
    """Open an incident by hand: title, and severity or impact + scope. Raises InvalidInput."""
    title = _text(body, "title", 300)
    severity = norm_severity(body["severity"]) if "severity" in body else None
    if "severity" in body and severity is None:
        raise InvalidInput("$.severity", "must be one of SEV-1, SEV-2, SEV-3, SEV-4")
    impact, scope = norm_impact(body.get("impact", "")), norm_scope(body.get("scope", ""))
    if "impact" in body and impact is None:
        raise InvalidInput("$.impact", f"must be one of {', '.join(IMPACTS)}")
    if "scope" in body and scope is None:
        raise InvalidInput("$.scope", f"must be one of {', '.join(SCOPES)}")
    tenants = body.get("tenants", [])
    if not isinstance(tenants, list) or not all(isinstance(t, str) for t in tenants):
        raise InvalidInput("$.tenants", "must be a list of tenant names")
    security = body.get("security", False)
    if not isinstance(security, bool):
        raise InvalidInput("$.security", "must be true or false")
    external = body.get("external", False)
    if not isinstance(external, bool):
        raise InvalidInput("$.external", "must be true or false")
    if severity is None and not (impact and scope) and not security:
        raise InvalidInput("$.severity", "give severity, or impact and scope")
    c = classification.declared(actor=actor, severity=severity, impact=impact, scope=scope,
                                tenants=tuple(sorted(tenants)), security=security)
    repo = IncidentRepository(store)

    def attempt() -> dict[str, Any]:
        now = clock.now()
        incident_id = repo.allocate_id(now)
        inc = Incident.declare(incident_id, title=title, c=c, actor=actor, now=now)
        escalation.plan(inc, runbook, now)
        pages = escalation.fire_due(inc, now, runbook, paging)
        if external:   # a SEV-2 with customer impact gets its customer drafts now
            pages += communications.mark_external(inc, now, runbook, actor)
        try:
            store.commit(ops=incident_ops(repo, inc, None, runbook) + pages)
        except ConcurrencyConflict:
            repo.heal_counter(now)  # a counter behind its incidents would collide on every retry
            raise
        return incident_view(inc)
    return retrying(attempt, "declare")
