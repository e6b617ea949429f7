"""Remediations on an incident: select at intake, plan from read-only checks, wait for approval,
expire. Execution and verification are in remediation_run.py. Every step is on the due index.

An entry in `incident.remediations` moves: pending -> (refused | dry-run | awaiting-approval |
approved) ; awaiting-approval -> (approved | rejected | expired) ; approved -> executing ->
verifying -> (succeeded | failed). Every plan, approval, execution and verification is also an
append-only audit row:  aud|<ISO time>|<remediation id>|<n>
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping

from shared.domain.alerts import Alert
from shared.domain.errors import Conflict, DependencyFailed, Forbidden, InvalidInput, NotFound
from shared.domain.incident import AUTOMATION, Incident
from shared.domain.policy import Runbook
from shared.domain.remediation import SECURITY_REASON, AlertFacts, select_playbook
from shared.domain.remediation_entry import Approval, Remediation
from shared.domain.remediation_lifecycle import WITHDRAWABLE, RemediationStatus, initial, planned
from shared.domain.remediation_plans import (PastAction, Plan, check_budget, plan_postgres_failover,
                                             plan_redis_reboot, plan_rollback, plan_scale_out, refuse)
from shared.domain.timeutil import iso, parse_stored
from shared.domain.events import RemediationAudited
from shared.ports import CloudResources, actor_oid

PLAN, EXEC, EXPIRE, VERIFY = "rem:plan:", "rem:exec:", "rem:expire:", "rem:verify:"
VERIFY_EVERY = timedelta(seconds=30)
ACTION_TIMEOUT_S = 120.0


@dataclass
class Remedy:
    """What remediation steps need besides the incident: ARM (built only when a step runs), the core
    resources named in settings, and REMEDIATION_MODE."""
    core: Mapping[str, str]
    env_mode: str | None = None
    resources: Callable[[], CloudResources | None] = lambda: None


def audit(now: datetime, inc: Incident, entry: Remediation, event: str, actor: str, outcome: str,
          **detail: Any) -> RemediationAudited:
    data = {"incident_id": inc.id, "remediation_id": entry.id, "event": event, "actor": actor,
            "playbook": entry.playbook or "", "resource_id": entry.resource_id or "",
            "outcome": outcome, "request_id": detail.pop("request_id", None) or "", "at": iso(now),
            "detail": json.dumps(detail, default=str)}
    seq = inc.timeline_seq + len(inc.new_events)  # the timeline event it goes with: unique, ordered
    return RemediationAudited(now, entry.id, seq, data)


def find(inc: Incident, rid: str) -> Remediation:
    entry = next((r for r in inc.remediations if r.id == rid), None)
    if entry is None:
        raise NotFound(f"no remediation {rid!r} on {inc.id}")
    return entry


def on_alert(inc: Incident, alert: Alert, runbook: Runbook, remedy: Remedy, now: datetime) -> None:
    """Select a playbook for this alert (pure; no I/O). One remediation per playbook per incident."""
    security = inc.classification.security
    sel = select_playbook(runbook.remediation, AlertFacts.from_alert(alert), core=remedy.core, security=security,
                          env_mode=remedy.env_mode)
    if security:
        for r in inc.remediations:  # a security alert joined: nothing that has not run yet may run
            if r.status in WITHDRAWABLE:
                r.move(RemediationStatus.REFUSED, reason=SECURITY_REASON)
                inc.record(now, "remediation", AUTOMATION, f"Remediation {r.id} ({r.playbook}) withdrawn: "
                           f"{SECURITY_REASON}", remediation_id=r.id)
        if not any(r.status is RemediationStatus.REFUSED and r.playbook is None for r in inc.remediations):
            inc.remediations.append(Remediation(f"REM-{uuid.uuid4().hex[:6]}", None, None, "off",
                                                RemediationStatus.REFUSED, SECURITY_REASON, created_at=now))
            inc.record(now, "remediation", AUTOMATION, f"No automated remediation: {SECURITY_REASON}")
        return
    if sel.playbook is None or any(r.playbook == sel.playbook for r in inc.remediations):
        return
    entry = Remediation(f"REM-{uuid.uuid4().hex[:6]}", sel.playbook, sel.resource_id, sel.mode, initial(sel.mode),
                        sel.reason, created_at=now, alert_id=alert.alert_id, alert_fired_at=alert.fired_at)
    inc.remediations.append(entry)
    inc.record(now, "remediation", AUTOMATION, f"Remediation {entry.id}: playbook {sel.playbook} selected "
               f"({sel.reason})" + (": remediation is off" if sel.mode == "off" else ""))


def schedule(inc: Incident) -> dict[str, datetime]:
    due: dict[str, datetime] = {}
    for r in inc.remediations:
        if r.status is RemediationStatus.PENDING and inc.is_open:
            due[PLAN + r.id] = _required(r.created_at)
        elif r.status is RemediationStatus.AWAITING_APPROVAL:
            due[EXPIRE + r.id] = _expiry(r)
        elif r.status is RemediationStatus.APPROVED and inc.is_open:
            due[EXEC + r.id] = _required(r.approval.at if r.approval else None)
        elif r.status is RemediationStatus.VERIFYING:
            due[VERIFY + r.id] = _required(r.verification.next_at if r.verification else None)
        elif r.status is RemediationStatus.EXECUTING:  # the sender died between claim and result: verify later
            started = _required(r.execution.started_at if r.execution else None)
            due[VERIFY + r.id] = started + timedelta(seconds=ACTION_TIMEOUT_S * 2)
    return due


def _required(t: datetime | None) -> datetime:
    """A time the life cycle always sets by the status it is read in (a due time, an expiry)."""
    assert t is not None, "a time the remediation's life cycle always sets is blank"
    return t


def _expiry(entry: Remediation) -> datetime:
    return _required(entry.approval.expires_at if entry.approval else None)


def past_actions(ledger: Mapping[str, Any] | None) -> list[PastAction]:
    rows = json.loads(ledger["actions"]) if ledger else []
    return [PastAction(a["playbook"], a["resource_id"], parse_stored(a["at"])) for a in rows]


def make_plan(entry: Remediation, runbook: Runbook, resources: CloudResources) -> Plan:
    """Read-only checks, then the playbook's plan. Raises DependencyFailed when ARM cannot be read."""
    name, rid = entry.playbook or "", entry.resource_id or ""
    book = runbook.remediation.playbooks.get(name)
    if book is None:   # removed from the runbook file after it was selected
        return refuse(name, rid, f"playbook {name} is no longer in the runbook")
    if name == "rollback":
        return plan_rollback(book, resources.container_app(app_id=rid), resources.revisions(app_id=rid),
                             _required(entry.alert_fired_at))
    if name == "scale-out":
        return plan_scale_out(book, resources.container_app(app_id=rid))
    if name == "redis-reboot":
        return plan_redis_reboot(book, resources.redis(cache_id=rid))
    if name == "postgres-failover":
        return plan_postgres_failover(book, resources.postgres(server_id=rid))
    return refuse(name, rid, f"unknown playbook {name}")


def plan(inc: Incident, rid: str, now: datetime, runbook: Runbook, remedy: Remedy,
         ledger: Mapping[str, Any] | None) -> list[RemediationAudited] | None:
    """Run the pending remediation's plan step. Returns its audit ops, or None when not pending."""
    entry = find(inc, rid)
    if entry.status is not RemediationStatus.PENDING:
        return None
    resources = remedy.resources()
    try:
        if resources is None:
            raise DependencyFailed("AZURE_SUBSCRIPTION_ID is not set")
        p = check_budget(runbook.remediation, make_plan(entry, runbook, resources), past_actions(ledger), now)
    except DependencyFailed as e:
        p = refuse(entry.playbook or "", entry.resource_id or "", f"could not read the resource: {e}")
    entry.plan = p
    manual = "".join(f"\nRecommended manual step: {m}" for m in p.manual_steps)
    to = planned(entry.mode, p.refused)
    if to is RemediationStatus.REFUSED:
        entry.move(to)
        text = f"Remediation {rid} ({entry.playbook}) refused: {p.reason}"
    elif to is RemediationStatus.DRY_RUN:
        entry.move(to)
        text = f"Dry run of {rid} ({entry.playbook}): would {p.reason}"
    elif to is RemediationStatus.AWAITING_APPROVAL:
        expires = now + runbook.remediation.approval_ttl
        entry.move(to, approval=Approval(expires_at=expires))
        text = (f"Remediation {rid} ({entry.playbook}) waits for approval until {iso(expires)}: {p.reason}. "
                f"Approve with POST /api/incidents/{inc.id}/remediations/{rid}/approve")
    else:
        entry.move(to, approval=Approval(by=AUTOMATION, at=now, decision="auto"))
        text = f"Remediation {rid} ({entry.playbook}) planned, runs automatically: {p.reason}"
    inc.record(now, "remediation", AUTOMATION, text + manual, remediation_id=rid)
    return [audit(now, inc, entry, "plan", AUTOMATION, entry.status.value, plan=p.as_dict())]


def expire(inc: Incident, rid: str, now: datetime) -> list[RemediationAudited] | None:
    entry = find(inc, rid)
    if entry.status is not RemediationStatus.AWAITING_APPROVAL or now < _expiry(entry):
        return None
    entry.move(RemediationStatus.EXPIRED)
    inc.record(now, "remediation", AUTOMATION, f"Remediation {rid} ({entry.playbook}) expired without approval")
    return [audit(now, inc, entry, "approval", AUTOMATION, "expired")]


def decide(inc: Incident, rid: str, body: Mapping[str, Any], actor: str, now: datetime) -> list[RemediationAudited]:
    """Approve or reject a waiting remediation. Raises InvalidInput, NotFound, Conflict, Forbidden (approving
    one's own request)."""
    decision = body.get("decision", "approve")
    if decision not in ("approve", "reject"):
        raise InvalidInput("$.decision", "must be approve or reject")
    entry = find(inc, rid)
    waiting = entry.status is RemediationStatus.AWAITING_APPROVAL
    if waiting and now >= _expiry(entry):
        raise Conflict(f"remediation {rid} expired at {iso(_expiry(entry))}; it was not approved")
    if not waiting:
        raise Conflict(f"remediation {rid} is {entry.status.value}, not awaiting approval")
    if not inc.is_open:
        raise Conflict(f"incident {inc.id} is resolved")
    reason = body.get("reason", "")
    if not isinstance(reason, str) or len(reason) > 2000:
        raise InvalidInput("$.reason", "must be a string of at most 2000 characters")
    # Four eyes: a verified principal ("" when the name came from a body, without Entra ID) may not
    # approve what it requested. Today automation requests every remediation (no requested_by_oid), so
    # this holds the line for a human request to come; the approver's oid is recorded either way.
    oid = actor_oid(actor)
    if decision == "approve" and oid and oid == entry.requested_by_oid:
        raise Forbidden(f"remediation {rid} was requested by this principal (oid {oid}); someone else must approve it")
    entry.move(RemediationStatus.APPROVED if decision == "approve" else RemediationStatus.REJECTED,
               approval=(entry.approval or Approval()).decided(by=actor, by_oid=oid, at=now, decision=decision,
                                                               reason=reason))
    inc.record(now, "remediation", actor, f"Remediation {rid} ({entry.playbook}) {entry.status.value} by {actor}"
               + (f": {reason}" if reason else ""), remediation_id=rid)
    return [audit(now, inc, entry, "approval", actor, entry.status.value, reason=reason, approver_oid=oid)]
