"""One remediation on an incident (an entry of `incident.remediations`), typed, with its one codec.

A Remediation is what selection made (playbook, resource, mode, why), where it stands in its life cycle
(`status`, moved only by `move`: shared/domain/remediation_lifecycle.py has the table) and what each step
added: the plan (remediation_plans.Plan), the approval, the execution (ARM's answer, or why it stood
down) and the verification rounds. `to_doc` writes the stored and shown shape, `from_doc` reads every
shape stored so far (a plan without its premise, an approval without the approver's oid, the
refusal a security incident records with no playbook). Pure: no I/O, no clock.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Mapping

from shared.domain.remediation_lifecycle import IllegalTransition, RemediationStatus, allowed, status_of
from shared.domain.remediation_plans import Plan
from shared.domain.timeutil import iso, parse_iso


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class Approval:
    """Waiting (`expires_at`), decided by a responder (`by`, `by_oid`, `decision`, `reason`) or by
    automation (`by` "automation", `decision` "auto")."""
    expires_at: datetime | None = None
    by: str | None = None
    by_oid: str | None = None          # the approver's verified principal; "" when the name came from a body
    at: datetime | None = None
    decision: str | None = None        # "approve", "reject", "auto"
    reason: str | None = None

    def decided(self, *, by: str, by_oid: str, at: datetime, decision: str, reason: str) -> "Approval":
        return replace(self, by=by, by_oid=by_oid, at=at, decision=decision, reason=reason)

    def to_doc(self) -> dict[str, Any]:
        doc = {"expires_at": iso(self.expires_at), "by": self.by, "by_oid": self.by_oid, "at": iso(self.at),
               "decision": self.decision, "reason": self.reason}
        return {k: v for k, v in doc.items() if v is not None}

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> "Approval":
        return cls(parse_iso(doc.get("expires_at")), _text(doc.get("by")), _text(doc.get("by_oid")),
                   parse_iso(doc.get("at")), _text(doc.get("decision")), _text(doc.get("reason")))


@dataclass(frozen=True)
class Execution:
    """The claim (`started_at`, `action`), then ARM's answer (`status`, `request_id`, `detail`) or why
    the call failed (`error`); or, instead of all that, a stand-down before acting."""
    started_at: datetime | None = None
    action: str | None = None
    finished_at: datetime | None = None
    status: str | None = None                    # ARM's: "Succeeded", "Failed", "TimedOut"
    request_id: str | None = None                # x-ms-request-id of the write
    detail: Mapping[str, Any] = field(default_factory=dict)   # ARM's answer (e.g. accepted_at)
    error: str | None = None                     # no answer: why (stored as the detail text)
    stood_down_at: datetime | None = None
    reason: str | None = None                    # why it stood down

    @classmethod
    def started(cls, at: datetime, action: str | None) -> "Execution":
        return cls(started_at=at, action=action)

    @classmethod
    def stood_down(cls, at: datetime, reason: str) -> "Execution":
        return cls(stood_down_at=at, reason=reason)

    def answered(self, at: datetime, status: str, request_id: str | None, detail: Mapping[str, Any]) -> "Execution":
        return replace(self, finished_at=at, status=status, request_id=request_id, detail=dict(detail), error=None)

    def failed(self, at: datetime, error: str) -> "Execution":
        return replace(self, finished_at=at, status="Failed", error=error)

    def to_doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = {}
        if self.started_at is not None:
            doc.update(started_at=iso(self.started_at), action=self.action)
        if self.stood_down_at is not None:
            doc.update(stood_down_at=iso(self.stood_down_at), reason=self.reason)
        if self.finished_at is not None:
            doc.update(finished_at=iso(self.finished_at), status=self.status)
            if self.error is not None:
                doc["detail"] = self.error
            else:
                doc.update(request_id=self.request_id, detail=dict(self.detail))
        return doc

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> "Execution":
        detail = doc.get("detail")
        return cls(parse_iso(doc.get("started_at")), _text(doc.get("action")), parse_iso(doc.get("finished_at")),
                   _text(doc.get("status")), _text(doc.get("request_id")),
                   dict(detail) if isinstance(detail, Mapping) else {},
                   detail if isinstance(detail, str) else None,
                   parse_iso(doc.get("stood_down_at")), _text(doc.get("reason")))


@dataclass
class Verification:
    """The verification rounds so far (shared/domain/verification.py decides each): checked until
    `until` at the latest, next at `next_at`; `stable_since` is the first clean round."""
    until: datetime
    next_at: datetime
    checks: int = 0
    baseline_5xx_per_min: float | None = None    # read once, in the first round that can
    stable_since: datetime | None = None

    def to_doc(self, *, failed: bool) -> dict[str, Any]:
        doc: dict[str, Any] = {"until": iso(self.until), "next_at": iso(self.next_at), "checks": self.checks}
        if self.baseline_5xx_per_min is not None:
            doc["baseline_5xx_per_min"] = self.baseline_5xx_per_min
        # every round that did not fail writes stable_since (None while not yet clean); a failing round
        # ends the verification without it
        if self.stable_since is not None or self.checks > (1 if failed else 0):
            doc["stable_since"] = iso(self.stable_since)
        return doc

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> "Verification":
        until = parse_iso(doc.get("until"))
        if until is None:
            raise ValueError("a verification without its end")
        baseline = doc.get("baseline_5xx_per_min")
        return cls(until, parse_iso(doc.get("next_at")) or until, int(doc.get("checks") or 0),
                   None if baseline is None else float(baseline), parse_iso(doc.get("stable_since")))


_KNOWN = frozenset({"id", "playbook", "resource_id", "mode", "status", "reason", "alert_id", "alert_fired_at",
                    "created_at", "plan", "approval", "execution", "verification", "requested_by_oid"})


@dataclass
class Remediation:
    """One remediation. `playbook` None: no playbook may run (a security incident's refusal)."""
    id: str
    playbook: str | None
    resource_id: str | None
    mode: str
    status: RemediationStatus
    reason: str = ""
    created_at: datetime | None = None
    alert_id: str | None = None
    alert_fired_at: datetime | None = None
    plan: Plan | None = None
    approval: Approval | None = None
    execution: Execution | None = None
    verification: Verification | None = None
    requested_by_oid: str | None = None          # a human request's principal (four eyes); automation has none
    extra: dict[str, Any] = field(default_factory=dict)   # keys this version does not know, kept as stored

    def move(self, new: RemediationStatus, *, reason: str | None = None, approval: Approval | None = None,
             execution: Execution | None = None, verification: Verification | None = None) -> None:
        """Move to `new` and set what is given with it. Raises IllegalTransition when the life cycle
        forbids it; the remediation is then left as it was."""
        if not allowed(self.status, new):
            raise IllegalTransition(self.id, self.status.value, new.value)
        self.status = new
        if reason is not None:
            self.reason = reason
        if approval is not None:
            self.approval = approval
        if execution is not None:
            self.execution = execution
        if verification is not None:
            self.verification = verification

    def to_doc(self) -> dict[str, Any]:
        """The stored shape, which is also the API's (contract: "An incident as JSON")."""
        doc: dict[str, Any] = {"id": self.id, "playbook": self.playbook, "resource_id": self.resource_id,
                               "mode": self.mode, "status": self.status.value, "reason": self.reason}
        if self.playbook is not None:
            doc.update(alert_id=self.alert_id, alert_fired_at=iso(self.alert_fired_at))
        doc["created_at"] = iso(self.created_at)
        if self.playbook is not None:
            failed = self.status is RemediationStatus.FAILED
            doc.update(plan=self.plan.as_dict() if self.plan else None,
                       approval=self.approval.to_doc() if self.approval else None,
                       execution=self.execution.to_doc() if self.execution else None,
                       verification=self.verification.to_doc(failed=failed) if self.verification else None)
        if self.requested_by_oid is not None:
            doc["requested_by_oid"] = self.requested_by_oid
        return {**doc, **self.extra}

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> "Remediation":
        """Read a stored entry. Raises Conflict for a status the life cycle does not know."""
        plan, approval, execution, verification = (doc.get(k) for k in ("plan", "approval", "execution",
                                                                          "verification"))
        return cls(
            id=str(doc["id"]), playbook=_text(doc.get("playbook")), resource_id=_text(doc.get("resource_id")),
            mode=str(doc.get("mode") or ""), status=status_of(doc), reason=str(doc.get("reason") or ""),
            created_at=parse_iso(doc.get("created_at")), alert_id=_text(doc.get("alert_id")),
            alert_fired_at=parse_iso(doc.get("alert_fired_at")),
            plan=Plan.from_dict(plan) if plan else None,
            approval=Approval.from_doc(approval) if approval is not None else None,
            execution=Execution.from_doc(execution) if execution is not None else None,
            verification=Verification.from_doc(verification) if verification is not None else None,
            requested_by_oid=_text(doc.get("requested_by_oid")),
            extra={k: v for k, v in doc.items() if k not in _KNOWN})
