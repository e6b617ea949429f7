"""The life cycle of one remediation on an incident (an entry of `incident.remediations`).

    (created) -> off | pending | refused
    pending -> refused | dry-run | awaiting-approval | approved        (the plan step)
    awaiting-approval -> approved | rejected | expired | refused       (a decision, the expiry, a security alert)
    approved -> executing | stood-down | refused                      (the claim; a security alert)
    executing -> verifying | failed                                   (ARM's answer; the executor died)
    verifying -> succeeded | failed                                   (the verification rounds)

Every other status is final. The statuses are strings on the stored entry and in the API, so the
enum is str-valued: `RemediationStatus.APPROVED == "approved"`. The entry itself, and `move` that
changes its status, are shared/domain/remediation_entry.py's `Remediation`.
"""
from __future__ import annotations

from enum import StrEnum
from typing import Any, Mapping

from shared.domain.errors import Conflict


class RemediationStatus(StrEnum):
    OFF = "off"                              # REMEDIATION_MODE or the playbook says off: selected, never run
    PENDING = "pending"                      # selected, waiting for its plan step
    REFUSED = "refused"                      # a guardrail, the budget, a security incident
    DRY_RUN = "dry-run"                      # planned and shown, never run
    AWAITING_APPROVAL = "awaiting-approval"
    APPROVED = "approved"                    # by a responder, or automatically
    REJECTED = "rejected"
    EXPIRED = "expired"                      # no decision before the approval's expiry
    STOOD_DOWN = "stood-down"                # the plan's premise changed before acting
    EXECUTING = "executing"                  # claimed; ARM called
    VERIFYING = "verifying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


S = RemediationStatus
INITIAL: frozenset[RemediationStatus] = frozenset({S.OFF, S.PENDING, S.REFUSED})
TRANSITIONS: Mapping[RemediationStatus, frozenset[RemediationStatus]] = {
    S.PENDING: frozenset({S.REFUSED, S.DRY_RUN, S.AWAITING_APPROVAL, S.APPROVED}),
    S.AWAITING_APPROVAL: frozenset({S.APPROVED, S.REJECTED, S.EXPIRED, S.REFUSED}),
    S.APPROVED: frozenset({S.EXECUTING, S.STOOD_DOWN, S.REFUSED}),
    S.EXECUTING: frozenset({S.VERIFYING, S.FAILED}),
    S.VERIFYING: frozenset({S.SUCCEEDED, S.FAILED}),
}
# not run yet: a security alert that joins withdraws these (refused)
WITHDRAWABLE: frozenset[RemediationStatus] = frozenset({S.PENDING, S.AWAITING_APPROVAL, S.APPROVED})
FINAL: frozenset[RemediationStatus] = frozenset(set(S) - set(TRANSITIONS))


class IllegalTransition(Conflict):
    """A remediation status change that its life cycle forbids (approving a refused one, ...)."""

    def __init__(self, rid: str, old: str, new: str):
        super().__init__(f"remediation {rid} cannot go from {old} to {new}")
        self.rid, self.old, self.new = rid, old, new


def status_of(entry: Mapping[str, Any]) -> RemediationStatus:
    """A stored entry's status. Raises Conflict for a status the life cycle does not know."""
    try:
        return RemediationStatus(entry["status"])
    except ValueError:
        raise Conflict(f"remediation {entry.get('id')} has an unknown status {entry['status']!r}") from None


def allowed(old: RemediationStatus, new: RemediationStatus) -> bool:
    return new in TRANSITIONS.get(old, frozenset())


def initial(mode: str) -> RemediationStatus:
    """A newly selected remediation: off when its mode is off, else waiting for its plan step."""
    return S.OFF if mode == "off" else S.PENDING


def planned(mode: str, refused: bool) -> RemediationStatus:
    """Where the plan step takes a pending remediation: refused by its plan, else by its mode."""
    if refused:
        return S.REFUSED
    return {"dry-run": S.DRY_RUN, "approval": S.AWAITING_APPROVAL}.get(mode, S.APPROVED)
