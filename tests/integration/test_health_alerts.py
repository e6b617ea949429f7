"""Resource Health and Service Health end to end on Azurite (issue 13, points 2 and 3): the app's own
PostgreSQL restart, through the real azure-mgmt client against the loopback ARM, reported by Resource
Health as UserInitiated Unavailable and then Available; Service Health updates keyed by tracking id.
Payloads: Microsoft's samples via tests/payloads.py (resource_health, service_health)."""
from __future__ import annotations

from datetime import timedelta

import pytest

from shared.adapters.arm import ArmResources
from shared.services import commands
from shared.services.escalation import Paging
from shared.services.intake import ingest_alert
from shared.services.queries import get_incident
from shared.services.remediation import Remedy
from shared.services.sweep import sweep
from tests.fakes.arm import FakeArm
from tests.harness import KEYS, RUNBOOK
from tests.payloads import metric_alert, resolved, resource_health, service_health


@pytest.fixture
def arm(clock):
    with FakeArm(now=clock.now) as fake:
        yield fake


class Env:
    def __init__(self, store, clock, arm: FakeArm):
        self.store, self.clock, self.arm = store, clock, arm
        self.core = {"api": arm.app_id.lower(), "postgres": arm.server_id.lower(), "redis": arm.cache_id.lower()}
        client = ArmResources(endpoint=arm.url, subscription_id=arm.subscription_id, poll_interval_s=0.001,
                              retry_backoff_s=0)
        self.remedy = Remedy(core=self.core, env_mode="approval", resources=lambda: client)

    def now(self, minutes: float = 0) -> str:
        return (self.clock.now() + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def ingest(self, body: dict) -> dict:
        return ingest_alert(body, store=self.store, clock=self.clock, runbook=RUNBOOK, core=self.core,
                            remedy=self.remedy).as_dict()

    def tick(self, seconds: float = 0):
        self.clock.advance(seconds=seconds)
        return sweep(store=self.store, clock=self.clock, runbook=RUNBOOK,
                     paging=Paging(routable_roles=frozenset(KEYS)), remedy=self.remedy)

    def show(self, inc_id: str) -> dict:
        return get_incident(inc_id, store=self.store)

    def incidents(self) -> list:
        return self.store.scan(start="inc|", end="inc}").records


@pytest.fixture
def env(table_store, clock, arm):
    return Env(table_store, clock, arm)


def test_the_app_s_own_restart_joins_its_incident_and_its_available_resolves_it(env, arm):
    arm.set_postgres(ha_mode="Disabled", ha_state="NotEnabled")
    failing = metric_alert("m1", target=arm.server_id, rule="pg-connections-failed", metric="connections_failed",
                           severity="Sev1", fired=env.now(), custom={"impact": "degraded", "scope": "all"})
    opened = env.ingest(failing)
    assert opened["outcome"] == "created" and opened["severity"] == "SEV-2"
    inc = opened["incident_id"]
    env.tick()
    [rem] = [r for r in env.show(inc)["remediations"] if r["playbook"]]
    assert (rem["playbook"], rem["status"]) == ("postgres-failover", "awaiting-approval")
    env.clock.advance(minutes=20)                   # a human approves 20 minutes later: outside the window
    commands.decide_remediation(inc, rem["id"], {"reason": "restart it"}, "alice", store=env.store,
                                clock=env.clock, runbook=RUNBOOK)
    env.tick()
    assert [w.path for w in arm.writes()] == [f"{arm.server_id}/restart"]
    assert env.show(inc)["remediations"][0]["status"] == "verifying"

    # Resource Health reports the restart: Unavailable, caused by a user (the app)
    env.clock.advance(minutes=1)
    down = env.ingest(resource_health("rh1", target=arm.server_id, status="Unavailable", cause="UserInitiated",
                                      title="Restarted by user", fired=env.now(-0.5)))
    assert down == {"incident_id": inc, "outcome": "correlated", "severity": "SEV-2"}
    assert len(env.incidents()) == 1                # no new SEV-1 for what the app did itself
    assert any(e["kind"] == "alert-expected" and rem["id"] in e["text"] for e in env.show(inc)["timeline"])
    assert env.ingest(resource_health("rh1", target=arm.server_id, status="Unavailable", cause="UserInitiated",
                                      fired=env.now(-0.5)))["outcome"] == "duplicate"
    env.tick(30)                                    # verification goes on; the alert stays firing meanwhile
    assert env.show(inc)["alerts_firing"] == 2

    # back: Available, sent by the resource's one Resource Health rule, resolves that alert
    env.clock.advance(minutes=3)
    up = env.ingest(resource_health("rh2", target=arm.server_id, status="Available", previous="Unavailable",
                                    cause="UserInitiated", fired=env.now()))
    assert up == {"incident_id": inc, "outcome": "resolved", "severity": "SEV-2"}
    assert env.ingest(resolved(failing, at=env.now()))["outcome"] == "resolved"
    shown = env.show(inc)
    assert shown["alerts_firing"] == 0 and shown["phase"] == "monitoring"
    env.tick(15 * 60)
    assert env.show(inc)["state"] == "resolved" and len(env.incidents()) == 1


def test_resource_health_available_resolves_what_the_resource_opened_whatever_the_rule(env, arm):
    down = env.ingest(resource_health("rh1", target=arm.server_id, status="Unavailable",
                                      rule="ir-prod-postgres-health-unavailable", fired=env.now()))
    assert down["outcome"] == "created" and down["severity"] == "SEV-1"
    env.clock.advance(hours=1)
    up = env.ingest(resource_health("rh2", target=arm.server_id, status="Available", previous="Unavailable",
                                    rule="ir-prod-postgres-health", fired=env.now()))
    assert up == {**down, "outcome": "resolved"}
    assert env.show(down["incident_id"])["phase"] == "monitoring"


def test_service_health_updates_are_one_incident_per_tracking_id(env):
    a = env.ingest(service_health("s1", tracking_id="VT1L-1Z8", fired=env.now()))
    env.clock.advance(minutes=10)
    b = env.ingest(service_health("s2", tracking_id="QK2N-7A0", fired=env.now()))
    env.clock.advance(minutes=10)
    a_update = env.ingest(service_health("s3", tracking_id="VT1L-1Z8", fired=env.now()))
    assert b["outcome"] == "created" and b["incident_id"] != a["incident_id"]
    assert a_update == {**a, "outcome": "correlated"}
    env.clock.advance(minutes=10)
    assert env.ingest(service_health("s4", tracking_id="QK2N-7A0", stage="Resolved", fired=env.now())) == \
        {**b, "outcome": "resolved"}
    assert env.show(a["incident_id"])["alerts_firing"] == 2
    assert env.show(a["incident_id"])["phase"] == "investigating"
    assert env.ingest(service_health("s5", tracking_id="VT1L-1Z8", stage="Resolved", fired=env.now())) == \
        {**a, "outcome": "resolved"}
    assert env.show(a["incident_id"])["phase"] == "monitoring"
