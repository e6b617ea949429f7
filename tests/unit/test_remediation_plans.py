"""Remediation policy parsing, playbook selection, and every plan and refusal. Pure: no I/O."""
from __future__ import annotations

import tomllib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from shared.domain.alerts import Alert
from shared.domain.errors import PolicyError
from shared.domain.remediation import SECURITY_REASON, AlertFacts, RemediationPolicy, select_playbook
from shared.domain.remediation_plans import (REDIS_FLUSH_STEP, PastAction, Plan, check_budget,
                                             plan_postgres_failover, plan_redis_reboot, plan_rollback, plan_scale_out)
from shared.domain.remediation_premise import premise_changed
from shared.domain.resources import ContainerAppStatus, PostgresStatus, RedisStatus, Revision

DOC = Path(__file__).resolve().parents[2] / "docs" / "remediation-policy.toml"
SUB = "/subscriptions/s/resourcegroups/rg-procgenie-prod/providers"
API = f"{SUB}/microsoft.app/containerapps/ca-procgenie-api"
PG = f"{SUB}/microsoft.dbforpostgresql/flexibleservers/psql-procgenie-prod"
REDIS = f"{SUB}/microsoft.cache/redis/redis-procgenie-prod"
CORE = {"api": API, "postgres": PG, "redis": REDIS}
FIRED = datetime(2026, 11, 27, 3, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def policy() -> RemediationPolicy:
    with open(DOC, "rb") as f:
        return RemediationPolicy.from_dict(tomllib.load(f)["remediation"])


def facts(**kw) -> AlertFacts:
    base = dict(target_ids=(API,), monitoring_service="Platform", signal_type="Metric", metric_names=("Requests",),
                alert_rule="api-5xx-rate", severity=1, custom_properties={}, fired_at=FIRED)
    return AlertFacts(**{**base, **kw})


def rev(name: str, minutes_before: float, *, active=True, traffic=0, health="Healthy",
        provisioning="Provisioned", running="Running") -> Revision:
    return Revision(f"ca-procgenie-api--{name}", FIRED - timedelta(minutes=minutes_before), active, traffic,
                    health, provisioning, running)


def app(mode="Multiple", latest="ca-procgenie-api--v3", min_r=1, max_r=10, traffic=(("ca-procgenie-api--v3", 100),)):
    return ContainerAppStatus(API, "Running", "Succeeded", mode, latest, latest, min_r, max_r, traffic)


# ---- policy ------------------------------------------------------------------------------------

def test_the_shipped_policy_document_parses(policy):
    assert list(policy.playbooks) == ["rollback", "scale-out", "redis-reboot", "postgres-failover"]
    assert (policy.default_mode, policy.cooldown, policy.max_actions_per_hour) == ("dry-run", timedelta(minutes=30), 6)
    assert (policy.approval_ttl, policy.verify_after) == (timedelta(minutes=30), timedelta(minutes=10))
    assert policy.playbooks["rollback"].options == {"window_minutes": 60}
    assert policy.playbooks["scale-out"].options == {"min_replicas": 4, "max_replicas": 20}


def test_an_absent_table_gives_defaults_and_no_playbooks():
    p = RemediationPolicy.from_dict(None)
    assert (p.default_mode, p.playbooks) == ("dry-run", {})
    assert RemediationPolicy.from_dict({"playbooks": {"rollback": {}}}).playbooks["rollback"].options == {
        "window_minutes": 60}


@pytest.mark.parametrize("raw, key", [
    ({"default_mode": "yolo"}, "remediation.default_mode"),
    ({"cooldown_minutes": -1}, "remediation.cooldown_minutes"),
    ({"max_actions_per_hour": 1.5}, "remediation.max_actions_per_hour"),
    ({"verify_minute": 10}, "remediation.verify_minute is not a known key"),
    ({"playbooks": []}, "remediation.playbooks must be a table"),
    ({"playbooks": {"restart-everything": {}}}, "remediation.playbooks.restart-everything is not a known playbook"),
    ({"playbooks": {"rollback": {"resource": "redis"}}}, "remediation.playbooks.rollback.resource must be 'api'"),
    ({"playbooks": {"rollback": {"mode": "sometimes"}}}, "remediation.playbooks.rollback.mode"),
    ({"playbooks": {"rollback": {"window_minutes": 0}}}, "remediation.playbooks.rollback.window_minutes"),
    ({"playbooks": {"rollback": {"min_replicas": 4}}}, "remediation.playbooks.rollback.min_replicas is not a known"),
    ({"playbooks": {"scale-out": {"min_replicas": 30}}}, "remediation.playbooks.scale-out.min_replicas must not"),
    ({"playbooks": {"rollback": {"when": {"target": "api"}}}}, "remediation.playbooks.rollback.when must be an array"),
    ({"playbooks": {"rollback": {"when": [{}]}}}, r"remediation.playbooks.rollback.when\[0\] must be a table"),
    ({"playbooks": {"rollback": {"when": [{"targets": "api"}]}}}, r"when\[0\].targets is not a known key"),
    ({"playbooks": {"rollback": {"when": [{"target": "web"}]}}}, r"when\[0\].target: 'web' is not one of"),
    ({"playbooks": {"rollback": {"when": [{"metric_names": []}]}}}, r"when\[0\].metric_names must be a non-empty"),
    ({"playbooks": {"rollback": {"when": [{"min_severity": 7}]}}}, r"when\[0\].min_severity must be an Azure"),
])
def test_policy_errors_name_the_key(raw, key):
    with pytest.raises(PolicyError, match=key):
        RemediationPolicy.from_dict(raw)


def test_mode_is_the_playbook_s_then_remediation_mode_then_default(policy):
    assert policy.mode_for("redis-reboot", "auto") == "approval"
    assert policy.mode_for("rollback", "auto") == "auto"
    assert policy.mode_for("rollback", None) == "dry-run"


# ---- selection ---------------------------------------------------------------------------------

def test_security_incident_gets_no_playbook_whatever_matches(policy):
    s = select_playbook(policy, facts(), core=CORE, security=True, env_mode="auto")
    assert (s.playbook, s.resource_id, s.reason) == (None, None, SECURITY_REASON)


def test_api_error_metric_selects_rollback_on_the_api_app(policy):
    s = select_playbook(policy, facts(), core=CORE, security=False, env_mode="auto")
    assert (s.playbook, s.resource_id, s.mode) == ("rollback", API, "auto")
    assert "remediation.playbooks.rollback.when[0]" in s.reason


@pytest.mark.parametrize("kw, playbook", [
    (dict(metric_names=("CpuPercentage",), alert_rule="api-cpu-high", severity=2), "scale-out"),
    (dict(metric_names=("cpupercentage",), alert_rule="API-CPU", severity=0), "scale-out"),     # any case
    (dict(target_ids=(REDIS,), metric_names=("serverLoad",), alert_rule="redis-load"), "redis-reboot"),
    (dict(target_ids=(PG,), monitoring_service="Resource Health", signal_type="Activity Log", metric_names=(),
          alert_rule="psql-unavailable", severity=4), "postgres-failover"),
    (dict(monitoring_service="Application Insights", signal_type="Log", metric_names=(),
          alert_rule="API failed requests spike"), "rollback"),
])
def test_selection_follows_the_policy(policy, kw, playbook):
    assert select_playbook(policy, facts(**kw), core=CORE, security=False).playbook == playbook


@pytest.mark.parametrize("kw", [
    dict(severity=2),                                          # rollback wants Sev1 or worse
    dict(severity=None),
    dict(target_ids=(f"{SUB}/microsoft.app/containerapps/other",)),
    dict(metric_names=("RxBytes",)),
    dict(alert_rule="api-requests-volume"),                    # no 5xx/error/... in the rule name
])
def test_no_playbook_when_a_condition_fails(policy, kw):
    s = select_playbook(policy, facts(**kw), core=CORE, security=False)
    assert (s.playbook, s.reason) == (None, "no remediation playbook matches this alert")


def test_first_matching_playbook_in_file_order_and_category_and_unconfigured_resource():
    raw = {"playbooks": {
        "postgres-failover": {"when": [{"category": ["database"]}]},
        "scale-out": {"when": [{"category": "database"}, {"alert_rule_contains": "cpu"}]},
    }}
    p = RemediationPolicy.from_dict(raw)
    db = facts(custom_properties={"category": "Database"})
    assert select_playbook(p, db, core=CORE, security=False).playbook == "postgres-failover"
    s = select_playbook(p, db, core={"api": API}, security=False)
    assert (s.playbook, s.resource_id) == ("scale-out", API)
    s = select_playbook(p, facts(custom_properties={"category": "database"}), core={}, security=False)
    assert s.playbook is None and "postgres resource is not configured" in s.reason


def test_alert_facts_from_an_alert():
    alert = Alert("a1", "Fired", "Platform", "Metric", 1, "api-5xx", None, (API,), ("microsoft.app/containerapps",),
                  FIRED, None, metric_names=("Requests",), custom_properties={"category": "api"})
    assert AlertFacts.from_alert(alert) == facts(alert_rule="api-5xx", custom_properties={"category": "api"})


# ---- rollback ----------------------------------------------------------------------------------

def test_rollback_multiple_mode_sends_all_traffic_to_the_previous_healthy_revision(policy):
    revs = [rev("v3", 20, traffic=100), rev("v2", 120, health="Unhealthy"), rev("v1b", 150, provisioning="Failed"),
            rev("v1", 300)]
    plan = plan_rollback(policy.playbooks["rollback"], app(), revs, FIRED)
    assert (plan.action, plan.params) == ("set_traffic", {"app_id": API, "weights": {"ca-procgenie-api--v1": 100}})
    assert "20 min before the alert fired" in plan.reason
    assert "skipped ca-procgenie-api--v2 (unhealthy), ca-procgenie-api--v1b (provisioning Failed)" in plan.reason


def test_rollback_single_mode_redeploys_the_previous_template(policy):
    revs = [rev("v2", 240, active=False, running="Degraded"), rev("v1", 300, active=False), rev("v3", 5)]
    plan = plan_rollback(policy.playbooks["rollback"], app(mode="Single", traffic=(("latest", 100),)), revs, FIRED)
    assert (plan.action, plan.params) == ("activate_revision_template",
                                          {"app_id": API, "revision_name": "ca-procgenie-api--v1"})
    assert "single-revision mode" in plan.reason and "v2 (running state Degraded)" in plan.reason


@pytest.mark.parametrize("revs, app_kw, words", [
    ([], {}, "no revisions"),
    ([rev("v3", 90, traffic=100), rev("v2", 300)], {}, "created 90 min before the alert fired, outside the 60 min"),
    ([rev("v3", -5, traffic=100), rev("v2", 300)], {}, "created 5 min after the alert fired"),
    ([rev("v3", 10, traffic=100), rev("v2", 300, health="Unhealthy")], {},
     "no previous healthy revision to roll back to; skipped ca-procgenie-api--v2 (unhealthy)"),
    ([rev("v3", 10, traffic=100)], {}, "no previous healthy revision"),
    ([rev("v3", 10, traffic=100), rev("v2", 300, active=False)], {}, "v2 is inactive: activate it by hand"),
    ([rev("v3", 10), rev("v2", 300, traffic=100)], {}, "v3 receives no traffic"),
    ([rev("rollback-1a2b3c4d", 10, traffic=100), rev("v3", 30)], {"latest": "ca-procgenie-api--rollback-1a2b3c4d"},
     "made by a rollback"),
    ([rev("scale-1a2b3c4d", 10, traffic=100), rev("v3", 30)], {"latest": "ca-procgenie-api--scale-1a2b3c4d"},
     "made by a scale-out"),
])
def test_rollback_refusals(policy, revs, app_kw, words):
    plan = plan_rollback(policy.playbooks["rollback"], app(**app_kw), revs, FIRED)
    assert plan.refused and plan.action is None and plan.params == {}
    assert words in plan.reason


def test_rollback_refused_when_the_previous_revision_already_serves_everything(policy):
    revs = [rev("v3", 10, traffic=0), rev("v2", 300, traffic=100)]
    plan = plan_rollback(policy.playbooks["rollback"], app(mode="Multiple"), revs, FIRED)
    assert plan.refused and "receives no traffic" in plan.reason
    revs = [rev("v3", 10, traffic=100), rev("v2", 300, traffic=100)]   # two rules, inconsistent but possible
    assert "already receives 100%" in plan_rollback(policy.playbooks["rollback"], app(), revs, FIRED).reason


def test_rollback_window_comes_from_policy():
    book = RemediationPolicy.from_dict({"playbooks": {"rollback": {"window_minutes": 120}}}).playbooks["rollback"]
    plan = plan_rollback(book, app(), [rev("v3", 90, traffic=100), rev("v2", 300)], FIRED)
    assert plan.action == "set_traffic"


# ---- scale-out ---------------------------------------------------------------------------------

def test_scale_out_to_the_policy_replicas(policy):
    plan = plan_scale_out(policy.playbooks["scale-out"], app(mode="Single", traffic=(("latest", 100),)))
    assert (plan.action, plan.params) == ("scale", {"app_id": API, "min_replicas": 4, "max_replicas": 20})
    assert "from min 1 / max 10 to min 4 / max 20" in plan.reason


def test_scale_out_never_lowers_and_refuses_when_already_there(policy):
    book = policy.playbooks["scale-out"]
    plan = plan_scale_out(book, app(mode="Single", min_r=6, max_r=10))
    assert plan.params == {"app_id": API, "min_replicas": 6, "max_replicas": 20}
    refused = plan_scale_out(book, app(mode="Single", min_r=4, max_r=30))
    assert refused.refused and "already at or above the target" in refused.reason


def test_scale_out_in_multiple_mode_needs_a_latest_revision_rule(policy):
    book = policy.playbooks["scale-out"]
    assert "scale by hand" in plan_scale_out(book, app(mode="Multiple")).reason
    assert plan_scale_out(book, app(mode="Multiple", traffic=(("latest", 100),))).action == "scale"


# ---- redis and postgres ------------------------------------------------------------------------

def test_redis_reboot_lists_the_flush_only_as_a_manual_step(policy):
    plan = plan_redis_reboot(policy.playbooks["redis-reboot"], RedisStatus(REDIS, "Succeeded"))
    assert (plan.action, plan.params, plan.manual_steps) == ("reboot_redis", {"cache_id": REDIS}, (REDIS_FLUSH_STEP,))
    assert "AllNodes" in plan.reason and "flush" not in str(plan.params).lower()
    busy = plan_redis_reboot(policy.playbooks["redis-reboot"], RedisStatus(REDIS, "Scaling"))
    assert busy.refused and "busy (provisioningState Scaling)" in busy.reason and busy.manual_steps


@pytest.mark.parametrize("status, failover, words", [
    (PostgresStatus(PG, "Ready", "ZoneRedundant", "Healthy"), True, "forced failover"),
    (PostgresStatus(PG, "Ready", "SameZone", "Healthy"), True, "forced failover"),
    (PostgresStatus(PG, "Ready", "Disabled", "NotEnabled"), False, "high availability disabled"),
    (PostgresStatus(PG, "Inaccessible", None, None), False, "high availability disabled"),
    (PostgresStatus(PG, "Ready", "ZoneRedundant", "ReplicatingData"), False, "HA ZoneRedundant, ReplicatingData"),
])
def test_postgres_failover_only_with_healthy_ha(policy, status, failover, words):
    plan = plan_postgres_failover(policy.playbooks["postgres-failover"], status)
    assert (plan.action, plan.params) == ("restart_postgres", {"server_id": PG, "failover": failover})
    assert words in plan.reason


@pytest.mark.parametrize("state, words", [("Restarting", "busy"), ("Updating", "busy"),
                                          ("Stopped", "start it by hand")])
def test_postgres_refused_when_busy_or_stopped(policy, state, words):
    plan = plan_postgres_failover(policy.playbooks["postgres-failover"], PostgresStatus(PG, state, "ZoneRedundant",
                                                                                        "Healthy"))
    assert plan.refused and words in plan.reason


# ---- budget ------------------------------------------------------------------------------------

def test_cooldown_and_hourly_cap(policy):
    plan = plan_redis_reboot(policy.playbooks["redis-reboot"], RedisStatus(REDIS, "Succeeded"))
    recent = [PastAction("redis-reboot", REDIS.upper(), FIRED - timedelta(minutes=10))]
    cooled = check_budget(policy, plan, recent, FIRED)
    assert cooled.refused and "cooldown: redis-reboot ran on this resource 10 min ago" in cooled.reason
    assert cooled.manual_steps == (REDIS_FLUSH_STEP,)
    old = [PastAction("redis-reboot", REDIS, FIRED - timedelta(minutes=45))]
    assert check_budget(policy, plan, old, FIRED) is plan
    busy = [PastAction("scale-out", API, FIRED - timedelta(minutes=m)) for m in range(6)]
    capped = check_budget(policy, plan, busy, FIRED)
    assert capped.refused and "6 remediations in the last hour (max 6)" in capped.reason
    refusal = plan_redis_reboot(policy.playbooks["redis-reboot"], RedisStatus(REDIS, "Creating"))
    assert check_budget(policy, refusal, busy, FIRED) is refusal


# ---- premise: act on what is true now ----------------------------------------------------------

def _v2_planned(policy):
    """The alert's story: v2 deployed 20 min before the alert with all traffic; v1 the healthy one."""
    revs = [rev("v2", 20, traffic=100), rev("v1", 300)]
    return plan_rollback(policy.playbooks["rollback"], app(latest="ca-procgenie-api--v2"), revs, FIRED), revs


def test_rollback_premise_holds_when_nothing_changed(policy):
    plan, revs = _v2_planned(policy)
    assert plan.premise == {"revisions_mode": "Multiple", "latest": "ca-procgenie-api--v2",
                            "revisions": ["ca-procgenie-api--v1", "ca-procgenie-api--v2"],
                            "serving": {"ca-procgenie-api--v2": 100}}
    assert premise_changed(plan, app=app(latest="ca-procgenie-api--v2"), revisions=revs) is None


def test_a_fix_deployed_after_the_plan_stands_the_rollback_down(policy):
    plan, _ = _v2_planned(policy)
    now = [rev("v3", -10, traffic=100), rev("v2", 20), rev("v1", 300)]
    why = premise_changed(plan, app=app(latest="ca-procgenie-api--v3"), revisions=now)
    assert why == ("revision ca-procgenie-api--v3 (healthy, 100% of traffic) was deployed after the plan was made "
                   "against ca-procgenie-api--v2: it may be the fix; not rolling back over it")


@pytest.mark.parametrize("now, app_kw, words", [
    ([rev("v2", 20, traffic=100), rev("v1", 300, health="Unhealthy")], {},
     "target ca-procgenie-api--v1 is now unhealthy"),
    ([rev("v2", 20, traffic=100), rev("v1", 300, active=False)], {}, "ca-procgenie-api--v1 is now inactive"),
    ([rev("v2", 20, traffic=100)], {}, "ca-procgenie-api--v1 no longer exists"),
    ([rev("v2", 20), rev("v1", 300, traffic=100)], {}, "already receives 100% of traffic"),
    ([rev("v2", 20, traffic=0), rev("v1", 300, traffic=0)], {}, "ca-procgenie-api--v2 no longer receives traffic"),
    ([rev("v2", 20, traffic=100), rev("v1", 300)], {"mode": "Single"}, "revisions mode is now Single"),
])
def test_rollback_premise_changes(policy, now, app_kw, words):
    plan, _ = _v2_planned(policy)
    assert words in premise_changed(plan, app=app(latest="ca-procgenie-api--v2", **app_kw), revisions=now)


def test_single_mode_rollback_stands_down_over_a_newer_revision(policy):
    revs = [rev("v2", 20), rev("v1", 300, active=False)]
    single = app(mode="Single", latest="ca-procgenie-api--v2", traffic=(("latest", 100),))
    plan = plan_rollback(policy.playbooks["rollback"], single, revs, FIRED)
    assert premise_changed(plan, app=single, revisions=revs) is None
    now = [rev("v3", -5), *revs]
    why = premise_changed(plan, app=app(mode="Single", latest="ca-procgenie-api--v3"), revisions=now)
    assert why.startswith("revision ca-procgenie-api--v3 (healthy) was deployed after the plan")


def test_a_plan_without_a_recorded_premise_still_checks_its_target(policy):
    plan, _ = _v2_planned(policy)
    legacy = Plan(plan.playbook, plan.resource_id, plan.action, plan.params, plan.reason)
    assert premise_changed(legacy, app=app(), revisions=[rev("v2", 20, traffic=100), rev("v1", 300)]) is None
    assert "unhealthy" in premise_changed(legacy, app=app(), revisions=[rev("v1", 300, health="Unhealthy")])


def test_postgres_premise(policy):
    book = policy.playbooks["postgres-failover"]
    planned = PostgresStatus(PG, "Ready", "ZoneRedundant", "Healthy", zone="1")
    plan = plan_postgres_failover(book, planned)
    assert plan.premise == {"state": "Ready", "ha_state": "Healthy", "zone": "1"}
    assert premise_changed(plan, server=planned) is None
    failed_over = PostgresStatus(PG, "Ready", "ZoneRedundant", "Healthy", zone="2")
    assert premise_changed(plan, server=failed_over) == (
        "a failover already happened: the primary is in zone 2 now (it was in zone 1 when the plan was made)")
    assert "already under way" in premise_changed(plan, server=PostgresStatus(PG, "Restarting", "ZoneRedundant",
                                                                              "FailingOver", zone="1"))
    assert "is Stopped now, not Ready" in premise_changed(plan, server=PostgresStatus(PG, "Stopped", "ZoneRedundant",
                                                                                      "Healthy", zone="1"))
    assert "needs a healthy standby" in premise_changed(plan, server=PostgresStatus(PG, "Ready", "ZoneRedundant",
                                                                                    "ReplicatingData", zone="1"))


def test_redis_and_scale_premises(policy):
    plan = plan_redis_reboot(policy.playbooks["redis-reboot"], RedisStatus(REDIS, "Succeeded"))
    assert premise_changed(plan, cache=RedisStatus(REDIS, "Succeeded")) is None
    assert "already under way" in premise_changed(plan, cache=RedisStatus(REDIS, "Updating"))
    scale = plan_scale_out(policy.playbooks["scale-out"], app(mode="Single", traffic=(("latest", 100),)))
    assert premise_changed(scale, app=app(mode="Single")) is None
    assert "already at min 4 / max 20" in premise_changed(scale, app=app(mode="Single", min_r=4, max_r=20))
    assert "could lower it" in premise_changed(scale, app=app(mode="Single", min_r=2, max_r=40))


def test_a_redis_reboot_counts_only_when_resource_health_says_available_after_it():
    from shared.domain.remediation_premise import redis_recovered
    after, before = FIRED + timedelta(minutes=1), FIRED - timedelta(minutes=1)
    assert redis_recovered(RedisStatus(REDIS, "Succeeded", "Available", after), FIRED) == (
        True, "Resource Health Available, provisioning state Succeeded")
    ok, seen = redis_recovered(RedisStatus(REDIS, "Succeeded", "Unavailable", after, "being rebooted"), FIRED)
    assert not ok and seen == "Resource Health Unavailable (being rebooted), provisioning state Succeeded"
    ok, seen = redis_recovered(RedisStatus(REDIS, "Succeeded", "Available", before), FIRED)
    assert not ok and "(before the reboot)" in seen
    assert not redis_recovered(RedisStatus(REDIS, "Succeeded", None, None, "HTTP 403 AuthorizationFailed"), FIRED)[0]


def test_a_clustered_redis_reboot_plans_every_shard_and_stands_down_if_resharded(policy):
    plan = plan_redis_reboot(policy.playbooks["redis-reboot"], RedisStatus(REDIS, "Succeeded", "Available",
                                                                           shard_count=3))
    assert plan.action == "reboot_redis" and "in each of its 3 shards" in plan.reason
    assert premise_changed(plan, cache=RedisStatus(REDIS, "Succeeded", shard_count=3)) is None
    assert "4 shards now, not 3" in premise_changed(plan, cache=RedisStatus(REDIS, "Succeeded", shard_count=4))
