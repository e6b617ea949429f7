"""A remediation entry is a typed Remediation with one codec: every shape stored today reads back and is
written (and shown) exactly as it was; older shapes load; the life cycle refuses an illegal move."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from shared.domain.classification import declared
from shared.domain.errors import Conflict
from shared.domain.incident import Incident
from shared.domain.remediation_entry import Approval, Execution, Remediation, Verification
from shared.domain.remediation_lifecycle import IllegalTransition, RemediationStatus as S
from shared.domain.remediation_plans import Plan
from shared.services import remediation

T0 = datetime(2026, 11, 30, 3, 0, tzinfo=timezone.utc)
APP = "/subscriptions/0/resourcegroups/rg/providers/microsoft.app/containerapps/ca-api"
PLAN = {"playbook": "rollback", "resource_id": APP, "action": "set_traffic",
        "params": {"app_id": APP, "weights": {"ca-api--v1": 100}}, "reason": "latest revision v2 was created 5 min "
        "before the alert fired", "refused": False, "manual_steps": [],
        "premise": {"revisions_mode": "Multiple", "latest": "ca-api--v2", "revisions": ["ca-api--v1", "ca-api--v2"],
                    "serving": {"ca-api--v2": 100}}}
SELECTED = {"id": "REM-1a2b3c", "playbook": "rollback", "resource_id": APP, "mode": "approval", "status": "pending",
            "reason": "alert 'api-5xx' matches remediation.playbooks.rollback.when[0]; mode approval",
            "alert_id": "a1", "alert_fired_at": "2026-11-30T02:59:00.000000Z",
            "created_at": "2026-11-30T03:00:00.000000Z",
            "plan": None, "approval": None, "execution": None, "verification": None}
STARTED = {"started_at": "2026-11-30T03:20:00.000000Z", "action": "set_traffic"}
ANSWERED = {**STARTED, "finished_at": "2026-11-30T03:20:05.000000Z", "status": "Succeeded", "request_id": None,
            "detail": {"accepted_at": "2026-11-30T03:20:04.000000Z"}}
DECIDED = {"expires_at": "2026-11-30T03:30:00.000000Z", "by": "alice", "by_oid": "",
           "at": "2026-11-30T03:19:00.000000Z", "decision": "approve", "reason": ""}
ROUNDS = {"until": "2026-11-30T03:30:05.000000Z", "next_at": "2026-11-30T03:21:05.000000Z", "checks": 2,
          "baseline_5xx_per_min": 0.0, "stable_since": "2026-11-30T03:20:35.000000Z"}

SHAPES = {   # each as today's services write it, key order included
    "selected": SELECTED,
    "security refusal": {"id": "REM-000001", "playbook": None, "resource_id": None, "mode": "off",
                         "status": "refused", "reason": "security incident: no automated remediation",
                         "created_at": "2026-11-30T03:00:00.000000Z"},
    "waiting": {**SELECTED, "status": "awaiting-approval", "plan": PLAN,
                "approval": {"expires_at": "2026-11-30T03:30:00.000000Z"}},
    "automatic": {**SELECTED, "mode": "auto", "status": "approved", "plan": PLAN,
                  "approval": {"by": "automation", "at": "2026-11-30T03:00:00.000000Z", "decision": "auto"}},
    "executing": {**SELECTED, "status": "executing", "plan": PLAN, "approval": DECIDED, "execution": STARTED},
    "verifying, no round yet": {**SELECTED, "status": "verifying", "plan": PLAN, "approval": DECIDED,
                                "execution": ANSWERED,
                                "verification": {"until": "2026-11-30T03:30:05.000000Z",
                                                 "next_at": "2026-11-30T03:20:35.000000Z", "checks": 0}},
    "verifying, not clean yet": {**SELECTED, "status": "verifying", "plan": PLAN, "approval": DECIDED,
                                 "execution": ANSWERED,
                                 "verification": {**ROUNDS, "checks": 1, "stable_since": None}},
    "succeeded": {**SELECTED, "status": "succeeded", "plan": PLAN, "approval": DECIDED,
                  "execution": {**ANSWERED, "request_id": "req-1"}, "verification": ROUNDS},
    "failed in its first round": {**SELECTED, "status": "failed", "plan": PLAN, "approval": DECIDED,
                                  "execution": ANSWERED,
                                  "verification": {"until": "2026-11-30T03:30:05.000000Z",
                                                   "next_at": "2026-11-30T03:20:35.000000Z", "checks": 1}},
    "relapsed": {**SELECTED, "status": "failed", "plan": PLAN, "approval": DECIDED, "execution": ANSWERED,
                 "verification": ROUNDS},
    "ARM refused": {**SELECTED, "status": "failed", "plan": PLAN, "approval": DECIDED,
                    "execution": {**STARTED, "finished_at": "2026-11-30T03:20:05.000000Z", "status": "Failed",
                                  "detail": "HTTP 500 from ARM"}},
    "stood down": {**SELECTED, "status": "stood-down", "plan": PLAN, "approval": DECIDED,
                   "execution": {"stood_down_at": "2026-11-30T03:20:00.000000Z", "reason": "v3 was deployed"}},
}


@pytest.mark.parametrize("shape", SHAPES)
def test_every_stored_shape_reads_back_and_is_written_exactly_as_it_was(shape):
    doc = json.loads(json.dumps(SHAPES[shape]))          # as it comes out of the store
    entry = Remediation.from_doc(doc)
    assert isinstance(entry.status, S)
    assert json.dumps(entry.to_doc()) == json.dumps(doc)   # same keys, same values, same order


def test_the_fields_are_typed():
    entry = Remediation.from_doc(SHAPES["succeeded"])
    assert entry.status is S.SUCCEEDED and entry.created_at == T0
    assert entry.plan == Plan("rollback", APP, "set_traffic", PLAN["params"], PLAN["reason"], (), PLAN["premise"])
    assert entry.approval == Approval(T0 + timedelta(minutes=30), "alice", "", T0 + timedelta(minutes=19),
                                      "approve", "")
    assert entry.execution is not None and entry.execution.request_id == "req-1"
    assert entry.execution.detail == {"accepted_at": "2026-11-30T03:20:04.000000Z"} and entry.execution.error is None
    assert entry.verification == Verification(T0 + timedelta(minutes=30, seconds=5),
                                              T0 + timedelta(minutes=21, seconds=5), 2, 0.0,
                                              T0 + timedelta(minutes=20, seconds=35))
    refused = Remediation.from_doc(SHAPES["ARM refused"]).execution
    assert refused == Execution(T0 + timedelta(minutes=20), "set_traffic", T0 + timedelta(minutes=20, seconds=5),
                                "Failed", error="HTTP 500 from ARM")


def test_an_older_stored_shape_loads():
    """A plan from before premises were recorded, an approval without the approver's oid, a verification
    from before stability windows, and a key this version does not know."""
    old_plan = {k: v for k, v in PLAN.items() if k != "premise"}
    doc = {**SELECTED, "status": "verifying", "plan": old_plan, "legacy": {"kept": True},
           "approval": {"expires_at": "2026-11-30T03:30:00.000000Z", "by": "alice",
                        "at": "2026-11-30T03:19:00.000000Z", "decision": "approve", "reason": "go"},
           "execution": ANSWERED, "verification": {"until": "2026-11-30T03:30:05.000000Z",
                                                   "next_at": "2026-11-30T03:20:35.000000Z", "checks": 0}}
    entry = Remediation.from_doc(doc)
    assert entry.plan is not None and entry.plan.premise == {} and entry.plan.action == "set_traffic"
    assert entry.approval is not None and entry.approval.by_oid is None and entry.approval.by == "alice"
    assert entry.verification is not None and entry.verification.stable_since is None
    written = entry.to_doc()
    assert written["legacy"] == {"kept": True} and "by_oid" not in written["approval"]
    assert written["plan"] == {**old_plan, "premise": {}}
    inc = _incident(doc)
    assert remediation.schedule(inc) == {"rem:verify:REM-1a2b3c": T0 + timedelta(minutes=20, seconds=35)}


def test_the_incident_stores_and_shows_its_remediations_through_the_codec():
    inc = _incident(SHAPES["waiting"], SHAPES["security refusal"])
    assert all(isinstance(r, Remediation) for r in inc.remediations)
    doc = inc.to_doc()
    assert doc["remediations"] == [SHAPES["waiting"], SHAPES["security refusal"]]
    again = Incident.from_doc(json.loads(json.dumps(doc)))
    assert again.remediations == inc.remediations


def test_an_illegal_transition_is_refused_and_changes_nothing():
    entry = Remediation.from_doc(SHAPES["waiting"])
    before = entry.to_doc()
    with pytest.raises(IllegalTransition, match="cannot go from awaiting-approval to executing"):
        entry.move(S.EXECUTING, execution=Execution.started(T0, "set_traffic"))
    assert entry.to_doc() == before and entry.execution is None
    entry.move(S.APPROVED, approval=entry.approval.decided(by="bob", by_oid="", at=T0, decision="approve",
                                                           reason=""))
    assert entry.status is S.APPROVED and entry.approval.expires_at == T0 + timedelta(minutes=30)


def test_an_unknown_stored_status_is_a_conflict():
    with pytest.raises(Conflict, match="unknown status 'exploded'"):
        Remediation.from_doc({**SELECTED, "status": "exploded"})


def _incident(*entries: dict) -> Incident:
    inc = Incident.declare("INC-20261130-0001", title="t", c=declared(actor="a", severity="SEV-2", impact=None,
                                                                      scope=None), actor="a", now=T0)
    doc = inc.to_doc()
    doc["remediations"] = [json.loads(json.dumps(e)) for e in entries]
    return Incident.from_doc(doc)
