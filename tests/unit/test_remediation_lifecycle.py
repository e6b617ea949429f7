"""A remediation's status moves only along its life cycle; anything else is a Conflict and changes nothing."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from shared.domain.classification import declared
from shared.domain.errors import Conflict
from shared.domain.incident import Incident
from shared.domain.remediation_entry import Approval, Remediation
from shared.domain.remediation_lifecycle import (FINAL, TRANSITIONS, WITHDRAWABLE, IllegalTransition,
                                                 RemediationStatus as S, allowed, initial, planned, status_of)
from shared.services import remediation

T0 = datetime(2026, 11, 30, 3, 0, tzinfo=timezone.utc)

DOCUMENTED = {  # shared/services/remediation.py's docstring, with the guardrails' refusals and the stand-down
    ("pending", "refused"), ("pending", "dry-run"), ("pending", "awaiting-approval"), ("pending", "approved"),
    ("awaiting-approval", "approved"), ("awaiting-approval", "rejected"), ("awaiting-approval", "expired"),
    ("awaiting-approval", "refused"), ("approved", "executing"), ("approved", "stood-down"), ("approved", "refused"),
    ("executing", "verifying"), ("executing", "failed"), ("verifying", "succeeded"), ("verifying", "failed"),
}


def test_the_table_is_exactly_the_documented_life_cycle():
    table = {(a.value, b.value) for a, targets in TRANSITIONS.items() for b in targets}
    assert table == DOCUMENTED
    assert all(allowed(S(a), S(b)) == ((a, b) in DOCUMENTED) for a in S for b in S)
    assert FINAL == {S.OFF, S.REFUSED, S.DRY_RUN, S.REJECTED, S.EXPIRED, S.STOOD_DOWN, S.SUCCEEDED, S.FAILED}


def test_statuses_are_the_strings_stored_and_shown():
    assert S.AWAITING_APPROVAL == "awaiting-approval" and json.dumps(S.DRY_RUN) == '"dry-run"'
    entry = Remediation.from_doc({"id": "REM-1", "playbook": None, "status": "pending"})
    entry.move(S.APPROVED, approval=Approval(by="automation"))
    doc = entry.to_doc()
    assert (doc["status"], entry.status, entry.approval) == ("approved", S.APPROVED, Approval(by="automation"))
    assert type(doc["status"]) is str


@pytest.mark.parametrize("old, new", [("refused", "approved"), ("succeeded", "failed"), ("pending", "executing"),
                                      ("verifying", "approved"), ("off", "pending"), ("failed", "verifying")])
def test_a_forbidden_move_is_a_conflict_and_leaves_the_entry_as_it_was(old, new):
    entry = Remediation.from_doc({"id": "REM-2", "playbook": "rollback", "status": old, "reason": "r"})
    before = entry.to_doc()
    with pytest.raises(IllegalTransition) as e:
        entry.move(S(new), reason="x")
    assert isinstance(e.value, Conflict)
    assert str(e.value) == f"remediation REM-2 cannot go from {old} to {new}"
    assert entry.to_doc() == before and entry.status is S(old)


def test_an_unknown_stored_status_is_a_conflict():
    with pytest.raises(Conflict, match="unknown status 'exploded'"):
        status_of({"id": "REM-3", "status": "exploded"})


@pytest.mark.parametrize("mode, refused, status", [("auto", False, S.APPROVED), ("approval", False, S.AWAITING_APPROVAL),
                                                   ("dry-run", False, S.DRY_RUN), ("approval", True, S.REFUSED),
                                                   ("auto", True, S.REFUSED)])
def test_the_plan_step_goes_where_the_mode_says_unless_refused(mode, refused, status):
    assert planned(mode, refused) is status
    assert allowed(S.PENDING, status)


def test_a_new_remediation_starts_off_or_pending():
    assert (initial("off"), initial("approval"), initial("auto")) == (S.OFF, S.PENDING, S.PENDING)
    assert WITHDRAWABLE == {S.PENDING, S.AWAITING_APPROVAL, S.APPROVED}


def _incident_with(status: str, **entry) -> Incident:
    inc = Incident.declare("INC-20261130-0001", title="t", c=declared(actor="a", severity="SEV-2", impact=None,
                                                                      scope=None), actor="a", now=T0)
    inc.remediations.append(Remediation.from_doc({"id": "REM-9", "playbook": "rollback", "resource_id": "x",
                                                  "mode": "approval", "status": status, **entry}))
    return inc


def test_approving_a_waiting_remediation_goes_through_the_life_cycle():
    inc = _incident_with("awaiting-approval", approval={"expires_at": "2026-11-30T04:00:00.000000Z"})
    remediation.decide(inc, "REM-9", {"decision": "reject", "reason": "no"}, "carol", T0 + timedelta(minutes=5))
    assert inc.remediations[0].status is S.REJECTED and inc.remediations[0].approval.by == "carol"
    with pytest.raises(Conflict, match="is rejected, not awaiting approval"):
        remediation.decide(inc, "REM-9", {}, "carol", T0 + timedelta(minutes=6))


def test_an_expiry_moves_only_a_remediation_still_waiting():
    inc = _incident_with("awaiting-approval", approval={"expires_at": "2026-11-30T03:10:00.000000Z"})
    assert remediation.expire(inc, "REM-9", T0 + timedelta(minutes=5)) is None
    assert remediation.expire(inc, "REM-9", T0 + timedelta(minutes=10)) is not None
    assert inc.remediations[0].status is S.EXPIRED
    assert remediation.expire(inc, "REM-9", T0 + timedelta(minutes=20)) is None
