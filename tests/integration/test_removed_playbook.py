"""A playbook removed from runbook.toml while a remediation of it is pending: the ARM sweep goes on
with every other incident, and the orphaned remediation is refused with a reason, not retried forever."""
from __future__ import annotations

import copy

import pytest

from shared.domain.policy import Runbook
from shared.services.escalation import Paging
from shared.services.sweep import ARM, sweep
from tests.fakes.arm import FakeArm
from tests.harness import KEYS, RUNBOOK
from tests.integration.test_remediation import Env, deployed_20_minutes_ago


@pytest.fixture
def arm(clock):
    with FakeArm(now=clock.now) as fake:
        yield fake


def without(playbook: str) -> Runbook:
    raw = copy.deepcopy(dict(RUNBOOK.sections))
    del raw["remediation"]["playbooks"][playbook]
    return Runbook.from_dict(raw)


def test_a_removed_playbook_never_stops_other_incidents_diagnostics(memory_store, clock, arm):
    env = Env(memory_store, clock, arm, mode="auto")
    deployed_20_minutes_ago(arm, "Multiple")
    first = env.alert("a1", target=arm.app_id, rule="api-5xx-rate", metric="Requests", severity="Sev1")
    first = first["incident_id"]
    edited = without("rollback")            # the operator removes the playbook before it was planned
    clock.advance(seconds=10)
    second = env.alert("b1", target=arm.cache_id, rule="redis-down", metric="errors", severity="Sev0")
    second = second["incident_id"]
    assert second != first
    report = sweep(store=memory_store, clock=clock, runbook=edited, paging=Paging(routable_roles=frozenset(KEYS)),
                   remedy=env.remedy, lane=ARM, record_health=False)
    assert report.failed == 0
    assert env.show(second)["diagnostics"].get("at"), "the other incident got its diagnostics"
    rem = next(r for r in env.show(first)["remediations"] if r["playbook"] == "rollback")
    assert rem["status"] == "refused" and "no longer in the runbook" in (rem["plan"] or {}).get("reason", "")
    assert arm.writes() == []
