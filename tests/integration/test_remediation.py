"""Remediation end to end: alerts in, plans from real reads, actions through the real azure-mgmt
clients against a loopback ARM, verification, guardrails and audit, on an injected clock."""
from __future__ import annotations

import json
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
from tests.payloads import metric_alert

FIRED = "2026-11-27T03:00:00Z"


@pytest.fixture
def arm(clock):
    with FakeArm(now=clock.now) as fake:     # the fake's times (new revisions, health reports) on the test clock
        yield fake


class Env:
    def __init__(self, store, clock, arm: FakeArm, mode: str = "auto"):
        self.store, self.clock, self.arm = store, clock, arm
        self.core = {"api": arm.app_id.lower(), "postgres": arm.server_id.lower(), "redis": arm.cache_id.lower()}
        self.client = ArmResources(endpoint=arm.url, subscription_id=arm.subscription_id, poll_interval_s=0.001,
                                   retry_backoff_s=0)
        self.resources_built = 0
        self.remedy = Remedy(core=self.core, env_mode=mode, resources=self._resources)

    def _resources(self):
        self.resources_built += 1
        return self.client

    def alert(self, alert_id: str, **kw) -> dict:
        body = metric_alert(alert_id, fired=FIRED, **kw)
        return ingest_alert(body, store=self.store, clock=self.clock, runbook=RUNBOOK, core=self.core,
                            remedy=self.remedy).as_dict()

    def tick(self, seconds: float = 0):
        if seconds:
            self.clock.advance(seconds=seconds)
        return sweep(store=self.store, clock=self.clock, runbook=RUNBOOK,
                     paging=Paging(routable_roles=frozenset(KEYS)), remedy=self.remedy)

    def through_verification_window(self):
        """Verification passes only once every check held through the runbook's verification window
        (runbook step 4, "monitor ... to confirm stability"): a round every 30 s, the first clean one
        30 s after the action, then the window."""
        for _ in range(int(RUNBOOK.remediation.verify_after / timedelta(seconds=30)) + 1):
            self.tick(30)

    def show(self, inc_id: str) -> dict:
        return get_incident(inc_id, store=self.store)

    def rem(self, inc_id: str) -> dict:
        rems = [r for r in self.show(inc_id)["remediations"] if r["playbook"]]
        assert len(rems) == 1, rems
        return rems[0]

    def audit(self) -> list[dict]:
        return [r.data for r in self.store.scan(start="aud|", end="aud}").records]


@pytest.fixture
def env(memory_store, clock, arm):
    return Env(memory_store, clock, arm)


def api_5xx(env, alert_id="a1"):
    return env.alert(alert_id, target=env.arm.app_id, rule="api-5xx-rate", metric="Requests", severity="Sev1")


SECRET_ENV = [{"name": "DB_PASSWORD", "secretRef": "db-password"}]


def deployed_20_minutes_ago(arm: FakeArm, mode: str):
    """v1 three days old, v2 twenty minutes before the alert; both read a secret from the app."""
    from datetime import datetime, timezone
    t0 = datetime(2026, 11, 27, 3, tzinfo=timezone.utc)
    arm.set_app(mode=mode, secrets=["db-password"])
    arm.add_revision("ca-procgenie-api--v1", t0 - timedelta(days=3), active=mode == "Multiple",
                     traffic=0 if mode == "Multiple" else 0, env=SECRET_ENV)
    arm.add_revision("ca-procgenie-api--v2", t0 - timedelta(minutes=20), traffic=100 if mode == "Multiple" else 0,
                     env=SECRET_ENV)


def test_rollback_in_multiple_revision_mode_shifts_traffic_and_verifies(env, arm):
    deployed_20_minutes_ago(arm, "Multiple")
    inc = api_5xx(env)["incident_id"]
    env.tick()                      # diagnostics, plan (auto: approved)
    assert env.rem(inc)["status"] == "approved"
    assert arm.writes() == []
    env.tick(10)                    # execute
    [write] = arm.writes()
    assert (write.method, write.path, write.api_version) == ("PATCH", arm.app_id, "2026-07-01")
    assert write.body["properties"]["configuration"]["ingress"]["traffic"] == [
        {"revisionName": "ca-procgenie-api--v1", "weight": 100}]
    assert {k: v for k, v in arm.weights().items() if v} == {"ca-procgenie-api--v1": 100}
    rem = env.rem(inc)
    assert rem["status"] == "verifying" and rem["execution"]["request_id"]
    env.tick(30)
    assert env.rem(inc)["status"] == "verifying"     # healthy, but not yet through the stability window
    env.through_verification_window()
    rem = env.rem(inc)
    assert rem["status"] == "succeeded"
    events = [(a["event"], a["outcome"]) for a in env.audit()]
    assert events == [("plan", "approved"), ("execution", "started"), ("execution", "Succeeded"),
                      ("verification", "succeeded")]
    assert env.audit()[2]["request_id"] == rem["execution"]["request_id"]
    assert env.show(inc)["diagnostics"]["postgres"] == {"state": "Ready", "ha_mode": "ZoneRedundant",
                                                        "ha_state": "Healthy"}
    diag = next(e for e in env.show(inc)["timeline"] if e["kind"] == "diagnostics")["text"]
    assert "API container app: Running" in diag and "ca-procgenie-api--v2" in diag and "PostgreSQL: Ready" in diag


def test_rollback_in_single_revision_mode_redeploys_the_previous_template(env, arm):
    deployed_20_minutes_ago(arm, "Single")
    inc = api_5xx(env)["incident_id"]
    env.tick()
    env.tick(10)
    [write] = arm.writes()
    template = write.body["properties"]["template"]
    assert template["containers"][0]["image"] == "acr.io/api:ca-procgenie-api--v1"
    assert template["containers"][0]["env"] == SECRET_ENV       # the app's secret, not the revision's alias
    assert template["revisionSuffix"].startswith("rollback-")
    assert "single-revision mode" in env.rem(inc)["plan"]["reason"]
    env.through_verification_window()
    assert env.rem(inc)["status"] == "succeeded"


def test_no_rollback_when_the_deployment_is_old(env, arm):
    from datetime import datetime, timezone
    arm.set_app(mode="Multiple")
    arm.add_revision("ca-procgenie-api--v1", datetime(2026, 11, 20, tzinfo=timezone.utc), traffic=0)
    arm.add_revision("ca-procgenie-api--v2", datetime(2026, 11, 26, tzinfo=timezone.utc), traffic=100)
    inc = api_5xx(env)["incident_id"]
    env.tick()
    rem = env.rem(inc)
    assert rem["status"] == "refused" and "outside the 60 min window" in rem["plan"]["reason"]
    env.tick(60)
    assert arm.writes() == []


def test_scale_out_to_the_runbook_values(env, arm):
    arm.set_app(mode="Single", min_replicas=1, max_replicas=5)
    inc = env.alert("c1", target=arm.app_id, rule="api-cpu-high", metric="CpuPercentage", severity="Sev2")["incident_id"]
    env.tick()
    env.tick(10)
    [write] = arm.writes()
    assert write.body["properties"]["template"]["scale"] == {"minReplicas": 4, "maxReplicas": 20}
    env.through_verification_window()
    assert env.rem(inc)["status"] == "succeeded"


@pytest.mark.parametrize("ha_mode,failover", [("ZoneRedundant", True), ("Disabled", False)])
def test_postgres_restart_with_failover_only_when_ha_is_on(env, arm, ha_mode, failover):
    arm.set_postgres(ha_mode=ha_mode, ha_state="Healthy" if failover else "NotEnabled")
    inc = env.alert("p1", target=arm.server_id, rule="pg-alive", metric="is_db_alive", severity="Sev0")["incident_id"]
    assert env.show(inc)["severity"] == "SEV-1"
    env.tick()
    env.tick(10)
    [write] = arm.writes()
    assert write.method == "POST" and write.path == f"{arm.server_id}/restart"
    assert write.api_version == "2026-10-01"
    assert write.body == ({"restartWithFailover": True, "failoverMode": "ForcedFailover"} if failover else None)
    env.through_verification_window()
    assert env.rem(inc)["status"] == "succeeded"


def test_fifty_redis_alerts_reboot_it_once(env, arm):
    answers = [env.alert(f"r{i}", target=arm.cache_id, rule=f"redis-errors-{i % 3}", metric="errors",
                         severity="Sev1") for i in range(50)]
    assert len({a["incident_id"] for a in answers}) == 1
    for _ in range(6):
        env.tick(10)
    reboots = [w for w in arm.writes() if w.path.endswith("/forceReboot")]
    assert len(reboots) == 1 and reboots[0].body == {"rebootType": "AllNodes"}
    env.through_verification_window()
    rem = env.rem(answers[0]["incident_id"])
    assert rem["status"] == "succeeded"
    assert any("flush" in m.lower() for m in rem["plan"]["manual_steps"])


def test_cooldown_across_incidents_means_one_action(env, arm, clock):
    inc1 = env.alert("r1", target=arm.cache_id, rule="redis-errors", metric="errors", severity="Sev1")["incident_id"]
    env.tick()
    env.tick(10)
    env.tick(30)
    commands.resolve(inc1, {}, "ops", store=env.store, clock=clock, runbook=RUNBOOK, paging=Paging())
    clock.advance(minutes=5)
    inc2 = env.alert("r2", target=arm.cache_id, rule="redis-errors", metric="errors", severity="Sev1")["incident_id"]
    assert inc2 != inc1
    env.tick()
    rem = env.rem(inc2)
    assert rem["status"] == "refused" and "cooldown" in rem["plan"]["reason"]
    assert len([w for w in arm.writes() if w.path.endswith("/forceReboot")]) == 1


def test_dry_run_reads_but_never_writes(memory_store, clock, arm):
    env = Env(memory_store, clock, arm, mode="dry-run")
    deployed_20_minutes_ago(arm, "Multiple")
    inc = api_5xx(env)["incident_id"]
    for _ in range(5):
        env.tick(30)
    assert arm.writes() == [] and any(r.method == "GET" for r in arm.requests)
    rem = env.rem(inc)
    assert rem["status"] == "dry-run"
    assert any("Dry run" in e["text"] and "would" in e["text"] for e in env.show(inc)["timeline"])


def test_off_mode_plans_nothing(memory_store, clock, arm):
    env = Env(memory_store, clock, arm, mode="off")
    inc = api_5xx(env)["incident_id"]
    env.tick(10)
    assert env.rem(inc)["status"] == "off"
    assert arm.writes() == []


def test_approval_then_execution_with_the_approver_recorded(memory_store, clock, arm):
    env = Env(memory_store, clock, arm, mode="approval")
    inc = env.alert("r1", target=arm.cache_id, rule="redis-errors", metric="errors", severity="Sev1")["incident_id"]
    env.tick()
    assert env.rem(inc)["status"] == "awaiting-approval"
    env.tick(60)
    assert arm.writes() == []
    rid = env.rem(inc)["id"]
    commands.decide_remediation(inc, rid, {"reason": "cache is wedged"}, "alice", store=memory_store, clock=clock,
                                runbook=RUNBOOK)
    env.tick()
    assert len(arm.writes()) == 1
    rem = env.rem(inc)
    assert rem["approval"]["by"] == "alice" and rem["status"] == "verifying"
    assert [a["actor"] for a in env.audit() if a["event"] == "approval"] == ["alice"]


def test_approval_expires(memory_store, clock, arm):
    from shared.domain.errors import Conflict
    env = Env(memory_store, clock, arm, mode="approval")
    inc = env.alert("r1", target=arm.cache_id, rule="redis-errors", metric="errors", severity="Sev1")["incident_id"]
    env.tick()
    rid = env.rem(inc)["id"]
    env.tick(31 * 60)
    assert env.rem(inc)["status"] == "expired"
    with pytest.raises(Conflict):
        commands.decide_remediation(inc, rid, {}, "alice", store=memory_store, clock=clock, runbook=RUNBOOK)
    env.tick(60)
    assert arm.writes() == []


def test_rejection(memory_store, clock, arm):
    env = Env(memory_store, clock, arm, mode="approval")
    inc = env.alert("r1", target=arm.cache_id, rule="redis-errors", metric="errors", severity="Sev1")["incident_id"]
    env.tick()
    rid = env.rem(inc)["id"]
    commands.decide_remediation(inc, rid, {"decision": "reject", "reason": "customer demo running"}, "bob",
                                store=memory_store, clock=clock, runbook=RUNBOOK)
    env.tick(60)
    assert env.rem(inc)["status"] == "rejected" and arm.writes() == []


def test_verification_that_fails_escalates_at_once(env, arm):
    arm.set_postgres(ha_mode="Disabled", ha_state="NotEnabled")
    inc = env.alert("p1", target=arm.server_id, rule="pg-alive", metric="is_db_alive", severity="Sev0")["incident_id"]
    env.tick()
    env.tick(10)
    arm.set_postgres(state="Stopped", ha_mode="Disabled", ha_state="NotEnabled")  # the restart did not help
    for _ in range(21):
        env.tick(30)
    shown = env.show(inc)
    rem = env.rem(inc)
    assert rem["status"] == "failed"
    # failing at about 10.5 minutes escalated at once to the engineering lead (due at 15 on SEV-1)
    done = {d["step"]: d["at"] for d in shown["escalation"]["done"]}
    assert "engineering_lead" in done and done["engineering_lead"] < "2026-11-27T03:15:00"
    assert any("Escalating at once" in e["text"] for e in shown["timeline"])


def test_arm_500_on_the_write_fails_the_remediation_and_escalates(env, arm):
    env.arm.fail("POST", r"/forceReboot$", status=500, times=10)
    inc = env.alert("r1", target=arm.cache_id, rule="redis-errors", metric="errors", severity="Sev1")["incident_id"]
    env.tick()
    env.tick(10)
    rem = env.rem(inc)
    assert rem["status"] == "failed" and "500" in rem["execution"]["detail"]
    assert any("Escalating at once" in e["text"] for e in env.show(inc)["timeline"])


def test_arm_429_is_retried_and_the_action_succeeds(env, arm):
    env.arm.fail("POST", r"/forceReboot$", status=429, times=1)
    inc = env.alert("r1", target=arm.cache_id, rule="redis-errors", metric="errors", severity="Sev1")["incident_id"]
    env.tick()
    env.tick(10)
    env.through_verification_window()
    assert env.rem(inc)["status"] == "succeeded"
    assert len([r for r in arm.requests if r.method == "POST"]) == 2


def test_security_incident_never_reaches_arm(env, arm):
    inc = env.alert("s1", target=arm.cache_id, rule="redis-errors", metric="errors", severity="Sev1",
                    custom={"category": "security"})["incident_id"]
    for _ in range(5):
        env.tick(30)
    rems = env.show(inc)["remediations"]
    assert [r["status"] for r in rems] == ["refused"] and "do not destroy evidence" in rems[0]["reason"]
    assert not [r for r in arm.requests if r.method != "GET"]
    assert all("Microsoft.Cache" not in r.path for r in arm.requests if r.method != "GET")


def test_resources_not_named_in_settings_are_never_touched(memory_store, clock, arm):
    env = Env(memory_store, clock, arm)
    env.remedy = Remedy(core={"api": env.core["api"]}, env_mode="auto", resources=env._resources)
    inc = env.alert("r1", target=arm.cache_id, rule="redis-errors", metric="errors", severity="Sev1")["incident_id"]
    for _ in range(4):
        env.tick(30)
    assert [r for r in env.show(inc)["remediations"] if r["playbook"]] == []
    assert arm.writes() == []


def test_racing_sweeps_execute_once(table_store, clock, arm):
    import threading
    env = Env(table_store, clock, arm)
    inc = env.alert("r1", target=arm.cache_id, rule="redis-errors", metric="errors", severity="Sev1")["incident_id"]
    env.tick()
    clock.advance(seconds=10)
    barrier = threading.Barrier(4)

    def run():
        barrier.wait()
        env.tick()
    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len([w for w in arm.writes() if w.path.endswith("/forceReboot")]) == 1
    assert env.rem(inc)["status"] == "verifying"


def test_a_security_alert_joining_an_incident_withdraws_its_pending_remediation(memory_store, clock, arm):
    env = Env(memory_store, clock, arm, mode="approval")
    inc = env.alert("r1", target=arm.cache_id, rule="redis-errors", metric="errors", severity="Sev1")["incident_id"]
    env.tick()
    assert env.rem(inc)["status"] == "awaiting-approval"
    joined = env.alert("s1", target=arm.cache_id, rule="redis-key-exfiltration", metric="errors", severity="Sev3",
                       custom={"category": "security"})
    assert joined == {"incident_id": inc, "outcome": "correlated", "severity": "SEV-1"}
    shown = env.show(inc)
    assert shown["security"] is True
    assert [r["status"] for r in shown["remediations"]] == ["refused", "refused"]
    from shared.domain.errors import Conflict
    with pytest.raises(Conflict):
        commands.decide_remediation(inc, shown["remediations"][0]["id"], {}, "alice", store=memory_store,
                                    clock=clock, runbook=RUNBOOK)
    env.tick(60)
    assert arm.writes() == []


def test_one_action_in_flight_per_resource(env, arm):
    deployed_20_minutes_ago(arm, "Single")
    inc = api_5xx(env)["incident_id"]
    assert env.alert("c1", target=arm.app_id, rule="api-cpu-high", metric="CpuPercentage",
                     severity="Sev2")["incident_id"] == inc
    env.tick()
    rems = [r for r in env.show(inc)["remediations"] if r["playbook"]]
    assert sorted(r["playbook"] for r in rems) == ["rollback", "scale-out"]
    env.tick(10)
    rems = {r["playbook"]: r for r in env.show(inc)["remediations"] if r["playbook"]}
    assert len(arm.writes()) == 1
    ran = [r for r in rems.values() if r["status"] == "verifying"]
    held = [r for r in rems.values() if r["status"] == "refused"]
    assert len(ran) == 1 and len(held) == 1
    assert "already in flight" in json.dumps(env.show(inc)["timeline"])


def test_the_escalation_sweep_never_calls_arm_and_the_arm_sweep_never_pages(memory_store, clock, arm):
    from shared.services.sweep import ARM, ESC
    from tests.harness import RecordingPager
    from shared.services.outbox import deliver
    env = Env(memory_store, clock, arm)

    def no_arm():
        raise AssertionError("the escalation sweep called ARM")
    escalation_only = Remedy(core=env.core, env_mode="auto", resources=no_arm)
    inc = env.alert("p1", target=arm.server_id, rule="pg-alive", metric="is_db_alive", severity="Sev0")["incident_id"]
    clock.advance(minutes=11)
    sweep(store=memory_store, clock=clock, runbook=RUNBOOK, paging=Paging(routable_roles=frozenset(KEYS)),
          remedy=escalation_only, lane=ESC)
    pager = RecordingPager()
    deliver(store=memory_store, clock=clock, pager=pager, routing_keys=KEYS)
    assert f"{inc}.secondary" in pager.triggers() and arm.requests == []
    report = sweep(store=memory_store, clock=clock, runbook=RUNBOOK, paging=Paging(routable_roles=frozenset(KEYS)),
                   remedy=env.remedy, lane=ARM, record_health=False)
    assert {s.split(":", 1)[1].split(":")[0] for s in report.applied} <= {"diag", "rem"}
    assert arm.requests and memory_store.get(keys=["meta|sweep"])["meta|sweep"]  # health from the first only


def test_the_first_chat_message_carries_the_initial_assessment_and_the_diagnostics(env, arm):
    deployed_20_minutes_ago(arm, "Multiple")
    inc = api_5xx(env)["incident_id"]
    chats = lambda: [r.data["text"] for r in env.store.scan(start="out|", end="out}").records  # noqa: E731
                     if r.data["channel"] == "chat" and r.data.get("opener")]
    assert chats() == []                          # held until step 2 has run
    env.tick()
    [text] = chats()
    assert text.startswith("INCIDENT: ") and "SEVERITY: SEV-1" in text and "STATUS: Investigating" in text
    assert "Diagnostics:" in text and "API container app: Running" in text and "PostgreSQL: Ready" in text


def test_a_fix_deployed_while_the_rollback_waited_for_approval_keeps_its_traffic(memory_store, clock, arm):
    """Planned against v2; v3 (the fix) then took 100% of traffic; the approval must not undo it."""
    from datetime import datetime, timezone
    env = Env(memory_store, clock, arm, mode="approval")
    deployed_20_minutes_ago(arm, "Multiple")
    inc = api_5xx(env)["incident_id"]
    env.tick()
    rem = env.rem(inc)
    assert rem["status"] == "awaiting-approval" and rem["plan"]["params"]["weights"] == {"ca-procgenie-api--v1": 100}
    clock.advance(minutes=8)
    arm.add_revision("ca-procgenie-api--v3", datetime(2026, 11, 27, 3, 6, tzinfo=timezone.utc), env=SECRET_ENV)
    arm.set_app(mode="Multiple", secrets=["db-password"], traffic=[{"revisionName": "ca-procgenie-api--v3",
                                                                    "weight": 100}])
    commands.decide_remediation(inc, rem["id"], {"reason": "roll it back"}, "alice", store=memory_store, clock=clock,
                                runbook=RUNBOOK)
    env.tick()
    assert arm.writes() == []
    assert {k: v for k, v in arm.weights().items() if v} == {"ca-procgenie-api--v3": 100}
    rem = env.rem(inc)
    assert rem["status"] == "stood-down"
    assert "ca-procgenie-api--v3 (healthy, 100% of traffic) was deployed after the plan" in rem["execution"]["reason"]
    [audit] = [a for a in env.audit() if a["event"] == "execution"]
    assert audit["outcome"] == "stood-down" and "may be the fix" in json.loads(audit["detail"])["reason"]
    assert any("stood down" in e["text"] and "ca-procgenie-api--v3" in e["text"] for e in env.show(inc)["timeline"])
    env.tick(60)
    assert arm.writes() == [] and env.rem(inc)["status"] == "stood-down"


def test_a_redis_reboot_counts_only_when_resource_health_says_available(env, arm, monkeypatch):
    """forceReboot answered 200 and provisioningState says Succeeded, but the cache never came back."""
    from shared.services import remediation_run
    monkeypatch.setattr(remediation_run, "ACTION_TIMEOUT_S", 0.3)
    arm.lro_polls = None                                        # Resource Health: Unavailable from the reboot on
    inc = env.alert("r1", target=arm.cache_id, rule="redis-errors", metric="errors", severity="Sev1")["incident_id"]
    env.tick()
    env.tick(10)
    rem = env.rem(inc)
    assert rem["status"] == "verifying" and rem["execution"]["status"] == "TimedOut"
    assert arm.redis["state"] == "Succeeded" and arm.redis["reboots"] == 1
    for _ in range(21):
        env.tick(30)
    rem = env.rem(inc)
    assert rem["status"] == "failed"
    timeline = env.show(inc)["timeline"]
    assert any("failed: not healthy after" in e["text"] and "Resource Health Unavailable" in e["text"]
               for e in timeline)
    assert any("Escalating at once" in e["text"] for e in timeline)


def test_a_redis_reboot_is_verified_once_the_cache_is_available_again(env, arm):
    arm.lro_polls = 3
    inc = env.alert("r1", target=arm.cache_id, rule="redis-errors", metric="errors", severity="Sev1")["incident_id"]
    env.tick()
    env.tick(10)
    env.through_verification_window()
    rem = env.rem(inc)
    assert rem["status"] == "succeeded"
    assert "Resource Health Available" in [a for a in env.audit() if a["event"] == "verification"][0]["detail"]
