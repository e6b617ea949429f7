"""The acceptance runs on the local host: the real function_app served by devhost over HTTP, on a
real Azurite, with loopback PagerDuty and ARM, and the clock running 120 times faster than real
time (a one-hour ladder in about 30 seconds). The host's clock is scaled wall-clock time by design,
so these tests wait for conditions (polling with a deadline) instead of driving a fake clock.
"""
from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
import requests

from devhost.server import serve
from shared import bootstrap
from shared.config import Settings
from tests.fakes.arm import FakeArm
from tests.fakes.pagerduty import FakePagerDuty
from tests.harness import KEYS
from tests.payloads import OTHER_ID, metric_alert

SCALE = 120
TICK = timedelta(seconds=10)


def poll_until(check, timeout: float, every: float = 0.05):
    """Wait in real time until check() is truthy (the host's clock is real time, scaled)."""
    deadline = datetime.now() + timedelta(seconds=timeout)
    stop = threading.Event()
    while datetime.now() < deadline:
        value = check()
        if value:
            return value
        stop.wait(every)
    raise AssertionError(f"condition not met within {timeout} s")


def at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class Local:
    def __init__(self, azurite, table: str, env: dict[str, str]):
        import function_app
        settings = Settings.from_env({"ESCALATION_SCHEDULE": "*/10 * * * * *", "TABLE_NAME": table,
                                      "TABLES_CONNECTION_STRING": azurite.connection_string, **env})
        bootstrap.override(settings=settings)
        self.host = serve(function_app.app, port=0, time_scale=SCALE, key="test-key",
                          environ={"ESCALATION_SCHEDULE": settings.escalation_schedule})
        self.api = f"{self.host.url}/api"

    def post(self, route: str, body: dict) -> dict:
        r = requests.post(f"{self.api}/{route}", json=body, headers={"x-functions-key": "test-key"}, timeout=10)
        assert r.status_code in (200, 201, 202), r.text
        return r.json()

    def get(self, route: str) -> dict:
        r = requests.get(f"{self.api}/{route}", headers={"x-functions-key": "test-key"}, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def stop(self):
        self.host.stop()


@pytest.fixture
def pd():
    with FakePagerDuty() as fake:
        yield fake


def lateness(incident: dict, role: str, offset_min: int) -> timedelta:
    page = next(e for e in incident["timeline"] if e["kind"] == "page" and f"Paging {role.replace('_', ' ')}" in e["text"])
    return at(page["at"]) - (at(incident["created_at"]) + timedelta(minutes=offset_min))


def test_escalation_ladder_on_the_local_host_at_120x(azurite, pd):
    import json
    local = Local(azurite, "accept3", {"PAGERDUTY_EVENTS_URL": pd.url, "PAGERDUTY_ROUTING_KEYS": json.dumps(KEYS)})
    try:
        alone = local.post("alerts", metric_alert("alone", target=OTHER_ID + "1", rule="checkout-down", severity="Sev0",
                                                  custom={"impact": "core", "scope": "all"}))["incident_id"]
        acked = local.post("alerts", metric_alert("acked", target=OTHER_ID + "2", rule="login-down", severity="Sev0",
                                                  custom={"impact": "core", "scope": "all"}))["incident_id"]
        sev2 = local.post("alerts", metric_alert("sev2", target=OTHER_ID + "3", rule="search-slow", severity="Sev2",
                                                 custom={"impact": "degraded", "scope": "all"}))["incident_id"]
        poll_until(lambda: pd.count("trigger", f"{acked}.primary"), 10)
        local.post(f"incidents/{acked}/acknowledge", {"actor": "alice"})       # about minute 0-1: before 10
        opened = at(local.get(f"incidents/{sev2}")["created_at"])
        poll_until(lambda: local.host.clock.now() - opened > timedelta(minutes=20), 20)
        local.post(f"incidents/{sev2}/resolve", {"actor": "bob"})              # at minute 20: before 30
        poll_until(lambda: pd.count("trigger", f"{alone}.cto"), 40)
        poll_until(lambda: local.host.clock.now() - opened > timedelta(minutes=35), 10)
    finally:
        local.stop()
    for role in ("primary", "secondary", "engineering_lead", "vp_engineering", "customer_success_lead", "cto"):
        assert pd.count("trigger", f"{alone}.{role}") == 1, role
    shown = {i: _incident(azurite, i) for i in (alone, acked, sev2)}
    for role, offset in (("primary", 0), ("secondary", 10), ("engineering_lead", 15), ("vp_engineering", 30),
                         ("customer_success_lead", 30), ("cto", 60)):
        late = lateness(shown[alone], role, offset)
        print(f"{role} paged {late.total_seconds():.1f} s (app time) after minute {offset}")
        assert timedelta(0) <= late <= TICK + timedelta(seconds=3), (role, late)  # at most one tick late
    assert pd.count("trigger", f"{acked}.secondary") == 0
    assert pd.count("acknowledge", f"{acked}.primary") == 1
    assert pd.count("trigger", f"{sev2}.primary") == 1 and pd.count("trigger", f"{sev2}.secondary") == 1
    assert pd.count("trigger", f"{sev2}.engineering_lead") == 0
    keys = [e["dedup_key"] for e in pd.triggers()]
    assert len(keys) == len(set(keys)) and pd.deduplicated == 0   # nobody was paged twice


def _incident(azurite, incident_id: str) -> dict:
    from shared.adapters.tables.store import TableRecordStore
    from shared.services.queries import get_incident
    store = TableRecordStore.from_settings(connection_string=azurite.connection_string, endpoint="",
                                           table_name="accept3")
    return get_incident(incident_id, store=store)


def remediation_env(arm: FakeArm, mode: str) -> dict[str, str]:
    return {"REMEDIATION_MODE": mode, "AZURE_ARM_ENDPOINT": arm.url, "AZURE_SUBSCRIPTION_ID": arm.subscription_id,
            "API_CONTAINER_APP_ID": arm.app_id, "POSTGRES_SERVER_ID": arm.server_id, "REDIS_CACHE_ID": arm.cache_id}


def outage_alerts(local: Local, arm: FakeArm, tag: str) -> dict[str, str]:
    """A Redis alert storm, a database outage, a 5xx alert just after a deployment, a security alert."""
    fired = local.host.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    storm = [local.post("alerts", metric_alert(f"{tag}-redis-{i}", target=arm.cache_id, rule="redis-errors",
                                                metric="errors", severity="Sev1", fired=fired))["incident_id"]
             for i in range(20)]
    db = local.post("alerts", metric_alert(f"{tag}-pg", target=arm.server_id, rule="pg-alive", metric="is_db_alive",
                                           severity="Sev0", fired=fired))["incident_id"]
    api = local.post("alerts", metric_alert(f"{tag}-api", target=arm.app_id, rule="api-5xx-rate", metric="Requests",
                                            severity="Sev1", fired=fired))["incident_id"]
    vault = arm.cache_id.split("/providers/")[0] + "/providers/Microsoft.KeyVault/vaults/kv-procgenie-prod"
    sec = local.post("alerts", metric_alert(f"{tag}-sec", target=vault, rule="key-listed", metric="errors",
                                            severity="Sev3", fired=fired,
                                            custom={"category": "security"}))["incident_id"]
    assert len(set(storm)) == 1
    return {"redis": storm[0], "db": db, "api": api, "security": sec}


def statuses(local: Local, inc: str) -> list[str]:
    return [r["status"] for r in local.get(f"incidents/{inc}")["remediations"]]


def deployment_five_minutes_ago(arm: FakeArm):
    t0 = datetime.now().astimezone()
    arm.set_app(mode="Multiple")
    arm.add_revision("ca-procgenie-api--v1", t0 - timedelta(days=2), traffic=0)
    arm.add_revision("ca-procgenie-api--v2", t0 - timedelta(minutes=5), traffic=100)


def run_outages(azurite, arm: FakeArm, env: dict[str, str], table: str, settled: str) -> dict[str, dict]:
    """Post the outage alerts to a local host, wait until each playbook reaches `settled` and five
    more app minutes pass (any stray action would have happened), and return the incidents."""
    local = Local(azurite, table, env)
    try:
        inc = outage_alerts(local, arm, table)
        for key in ("redis", "db", "api"):
            poll_until(lambda: settled in statuses(local, inc[key]), 30)
        opened = at(local.get(f"incidents/{inc['redis']}")["created_at"])
        poll_until(lambda: local.host.clock.now() - opened > timedelta(minutes=5), 10)
        return {key: local.get(f"incidents/{i}") for key, i in inc.items()}
    finally:
        local.stop()


def test_remediation_on_the_local_host_in_auto_mode(azurite):
    with FakeArm() as arm:
        deployment_five_minutes_ago(arm)
        incidents = run_outages(azurite, arm, remediation_env(arm, "auto"), "accept4auto", "succeeded")
        writes = arm.writes()
    assert len([w for w in writes if w.path.endswith("/forceReboot")]) == 1
    [restart] = [w for w in writes if w.path.endswith("/restart")]
    assert restart.body == {"restartWithFailover": True, "failoverMode": "ForcedFailover"}
    [patch] = [w for w in writes if w.method == "PATCH"]
    assert patch.body["properties"]["configuration"]["ingress"]["traffic"] == [
        {"revisionName": "ca-procgenie-api--v1", "weight": 100}]
    assert len(writes) == 3
    security = incidents["security"]["remediations"]
    assert [r["status"] for r in security] == ["refused"] and "do not destroy evidence" in security[0]["reason"]


def test_remediation_on_the_local_host_in_the_default_mode_writes_nothing(azurite):
    with FakeArm() as arm:
        deployment_five_minutes_ago(arm)
        env = remediation_env(arm, "")
        del env["REMEDIATION_MODE"]  # the default: dry-run
        run_outages(azurite, arm, env, "accept4dry", "dry-run")
        assert arm.writes() == []
        assert any(r.method == "GET" for r in arm.requests)
