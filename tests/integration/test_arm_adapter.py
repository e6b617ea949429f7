"""ArmResources through the real Azure management SDK clients against FakeArm on 127.0.0.1."""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from shared.adapters.arm import ArmResources, parse_arm_id
from shared.adapters.arm.credentials import DEV_TOKEN
from shared.domain.errors import DependencyFailed
from shared.domain.remediation import PlaybookPolicy
from shared.domain.remediation_plans import plan_rollback
from tests.fakes.arm import FakeArm

APPS, PG, REDIS = "2026-07-01", "2026-10-01", "2024-11-01"
T0 = datetime(2026, 11, 27, 2, 0, tzinfo=timezone.utc)
V1, V2, V3 = "ca-procgenie-api--v1", "ca-procgenie-api--v2", "ca-procgenie-api--v3"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake():
    with FakeArm() as f:
        yield f


def arm_for(fake: FakeArm, **kw) -> ArmResources:
    kw.setdefault("poll_interval_s", 0.001)
    kw.setdefault("retry_backoff_s", 0)
    return ArmResources(endpoint=fake.url, subscription_id=fake.subscription_id, **kw)


def two_revisions(fake: FakeArm, mode: str) -> None:
    fake.set_app(mode=mode)
    fake.add_revision(V1, T0 - timedelta(days=2), active=mode == "Multiple", traffic=0)
    fake.add_revision(V2, T0 - timedelta(minutes=20), traffic=100 if mode == "Multiple" else 0)


def only(fake: FakeArm, method: str):
    found = [r for r in fake.requests if r.method == method]
    assert len(found) == 1, found
    return found[0]


# ---- reads -------------------------------------------------------------------------------------

def test_container_app_read_maps_status_with_one_get(fake):
    two_revisions(fake, "Multiple")
    status = arm_for(fake).container_app(app_id=fake.app_id)
    assert (status.revisions_mode, status.running_status, status.provisioning_state) == (
        "Multiple", "Running", "Succeeded")
    assert (status.latest_revision_name, status.latest_ready_revision_name) == (V2, V2)
    assert (status.min_replicas, status.max_replicas, status.traffic) == (1, 10, ((V2, 100),))
    r = only(fake, "GET")
    assert (r.path, r.api_version, r.body) == (fake.app_id, APPS, None)
    assert r.headers["Authorization"] == "Bearer ***"


def test_single_mode_traffic_reads_as_latest(fake):
    two_revisions(fake, "Single")
    status = arm_for(fake).container_app(app_id=fake.app_id)
    assert (status.revisions_mode, status.traffic) == ("Single", (("latest", 100),))


def test_revisions_newest_first_across_pages():
    with FakeArm(page_size=2) as fake:
        fake.add_revision(V2, T0 - timedelta(hours=1), traffic=100, health="Unhealthy", running="Degraded")
        fake.add_revision(V1, T0 - timedelta(days=1), active=False)
        fake.add_revision(V3, T0)
        revs = arm_for(fake).revisions(app_id=fake.app_id)
        assert [r.name for r in revs] == [V3, V2, V1]
        assert (revs[1].health_state, revs[1].running_state, revs[1].traffic_weight) == ("Unhealthy", "Degraded", 100)
        assert (revs[2].active, revs[2].provisioning_state, revs[0].created_at) == (False, "Provisioned", T0)
        assert [(r.path, r.api_version, r.query.get("$skiptoken")) for r in fake.requests] == [
            (fake.app_id + "/revisions", APPS, None), (fake.app_id + "/revisions", APPS, "2")]


def test_postgres_and_redis_reads(fake):
    fake.set_postgres(state="Ready", ha_mode="ZoneRedundant", ha_state="Healthy")
    fake.set_redis(provisioning_state="Succeeded")
    arm = arm_for(fake)
    pg, cache = arm.postgres(server_id=fake.server_id), arm.redis(cache_id=fake.cache_id)
    assert (pg.state, pg.ha_mode, pg.ha_state, pg.server_id) == ("Ready", "ZoneRedundant", "Healthy", fake.server_id)
    assert (pg.zone, cache.provisioning_state, cache.cache_id) == ("1", "Succeeded", fake.cache_id)
    assert [(r.method, r.path, r.api_version) for r in fake.requests] == [
        ("GET", fake.server_id, PG), ("GET", fake.cache_id, REDIS),
        ("GET", fake.cache_id + "/providers/Microsoft.ResourceHealth/availabilityStatuses/current", "2022-10-01")]


def test_ids_parse_case_insensitively(fake):
    shouty = fake.app_id.replace("resourceGroups", "RESOURCEGROUPS").replace("providers", "Providers")
    assert parse_arm_id(shouty).resource_group == "rg-procgenie-prod"
    assert arm_for(fake).container_app(app_id=shouty).app_id == shouty
    upper_sub = fake.server_id.replace(fake.subscription_id, fake.subscription_id.upper())
    assert arm_for(fake).postgres(server_id=upper_sub).state == "Ready"


@pytest.mark.parametrize("bad, words", [
    ("", "empty"),
    ("/subscriptions/x/resourceGroups/rg", "malformed ARM resource id"),
    ("subscriptions/x/resourceGroups/rg/providers/Microsoft.App/containerApps/a", "malformed"),
    ("/subscriptions/x/resourceGroups/rg/providers/Microsoft.Cache/redis/r", "expected a Microsoft.App/containerApps"),
])
def test_malformed_or_mistyped_id_is_value_error_before_any_request(fake, bad, words):
    with pytest.raises(ValueError, match=words):
        arm_for(fake).container_app(app_id=bad)
    assert fake.requests == []


def test_id_in_another_subscription_is_refused(fake):
    other = fake.app_id.replace(fake.subscription_id, "11111111-1111-1111-1111-111111111111")
    with pytest.raises(ValueError, match="not the configured"):
        arm_for(fake).container_app(app_id=other)


def test_read_error_is_dependency_failed_with_status_code_and_no_token(fake):
    with pytest.raises(DependencyFailed, match="HTTP 404 ResourceNotFound") as e:
        arm_for(fake).redis(cache_id=fake.cache_id.replace("redis-procgenie-prod", "nope"))
    assert DEV_TOKEN not in str(e.value) and "x-ms-request-id" in str(e.value)
    assert e.value.__cause__ is not None


# ---- writes ------------------------------------------------------------------------------------

def test_set_traffic_patches_only_the_traffic_and_returns_the_write_request_id(fake):
    two_revisions(fake, "Multiple")
    result = arm_for(fake).set_traffic(app_id=fake.app_id, weights={V1: 100}, timeout_s=5)
    patch = only(fake, "PATCH")
    assert (patch.path, patch.api_version, patch.headers["Content-Type"]) == (fake.app_id, APPS, "application/json")
    assert patch.body == {"properties": {"configuration": {"ingress": {"traffic": [
        {"revisionName": V1, "weight": 100}]}}}}
    assert (result.status, result.request_id, result.operation) == ("Succeeded", patch.request_id,
                                                                     "containerapps.set_traffic")
    assert fake.weights() == {V1: 100, V2: 0}
    gets = [r.path for r in fake.requests if r.method == "GET"]
    # the app read for its labels, the LRO poll, then the SDK's final GET
    assert gets[0] == fake.app_id and "/operationStatuses/" in gets[1] and gets[-1] == fake.app_id


def test_set_traffic_latest_key_is_the_latest_revision_rule(fake):
    two_revisions(fake, "Multiple")
    arm_for(fake).set_traffic(app_id=fake.app_id, weights={"latest": 60, V1: 40}, timeout_s=5)
    assert only(fake, "PATCH").body["properties"]["configuration"]["ingress"]["traffic"] == [
        {"latestRevision": True, "weight": 60}, {"revisionName": V1, "weight": 40}]
    assert fake.weights() == {V1: 40, V2: 60}


def test_set_traffic_rejects_weights_not_summing_to_100_without_calling_arm(fake):
    with pytest.raises(ValueError, match="summing to 100"):
        arm_for(fake).set_traffic(app_id=fake.app_id, weights={V1: 50}, timeout_s=5)
    assert fake.requests == []


def test_single_mode_rollback_redeploys_the_old_template_as_a_new_revision(fake):
    two_revisions(fake, "Single")
    result = arm_for(fake).activate_revision_template(app_id=fake.app_id, revision_name=V1, timeout_s=5)
    get_rev = fake.requests[0]
    assert (get_rev.method, get_rev.path, get_rev.api_version) == ("GET", f"{fake.app_id}/revisions/{V1}", APPS)
    suffix = result.detail["revision_suffix"]
    patch = only(fake, "PATCH")
    assert patch.api_version == APPS and patch.body == {"properties": {"template": {
        "revisionSuffix": suffix, "containers": [{"name": "api", "image": f"acr.io/api:{V1}"}],
        "scale": {"minReplicas": 1, "maxReplicas": 10}}}}
    assert suffix.startswith("rollback-") and result.status == "Succeeded" and result.request_id == patch.request_id
    new = f"ca-procgenie-api--{suffix}"
    assert fake.latest_revision() == new and fake.weights()[new] == 100
    assert [n for n, r in fake.revisions.items() if r["active"]] == [new]
    assert fake.revisions[new]["provisioning"] == "Provisioned"


SECRET_ENV = [{"name": "DB_PASSWORD", "secretRef": "db-password"}, {"name": "MODE", "value": "prod"}]


def test_fake_answers_revision_secret_refs_prefixed_and_refuses_unknown_ones(fake):
    """What Azure does (see tests/fakes/arm_containerapps.py): the fake must behave so first."""
    fake.set_app(mode="Single", secrets=["db-password"])
    fake.add_revision(V1, T0 - timedelta(days=2), env=SECRET_ENV)
    client = arm_for(fake)._client("apps")
    rev = client.container_apps_revisions.get_revision(fake.app_id.split("/")[4], "ca-procgenie-api", V1,
                                                       enforce_https=False)
    assert rev.properties.template.containers[0].env[0].secret_ref == "ca-procgenie-api-db-password"
    app = client.container_apps.get(fake.app_id.split("/")[4], "ca-procgenie-api", enforce_https=False)
    assert [s.name for s in app.properties.configuration.secrets] == ["db-password"]
    assert app.properties.configuration.secrets[0].value is None          # names only, never values
    aliased = [{"name": "DB_PASSWORD", "secretRef": "ca-procgenie-api-db-password"}]
    code, body = fake.handle("PATCH", fake.app_id, {"properties": {"template": {"containers": [
        {"name": "api", "image": "x", "env": aliased}]}}})
    assert (code, body["error"]["code"]) == (400, "ContainerAppSecretRefNotFound")
    assert "SecretRef 'ca-procgenie-api-db-password' defined for container 'api' not found." == body["error"]["message"]


def test_single_mode_rollback_reuses_secret_refs_without_the_app_name_prefix(fake):
    fake.set_app(mode="Single", secrets=["db-password"])
    fake.add_revision(V1, T0 - timedelta(days=2), env=SECRET_ENV)
    fake.add_revision(V2, T0 - timedelta(minutes=20), env=SECRET_ENV)
    result = arm_for(fake).activate_revision_template(app_id=fake.app_id, revision_name=V1, timeout_s=5)
    patch = only(fake, "PATCH")
    assert patch.body["properties"]["template"]["containers"][0]["env"] == SECRET_ENV
    assert result.status == "Succeeded"
    new = f"ca-procgenie-api--{result.detail['revision_suffix']}"
    assert fake.revisions[new]["template"]["containers"][0]["env"] == SECRET_ENV
    assert result.detail["secret_refs"] == ["db-password"]


def test_rollback_refuses_a_template_naming_a_secret_the_app_no_longer_has(fake):
    fake.set_app(mode="Single", secrets=["db-password"])
    fake.add_revision(V1, T0 - timedelta(days=2), env=[{"name": "OLD_KEY", "secretRef": "old-api-key"}])
    fake.add_revision(V2, T0 - timedelta(minutes=20), env=SECRET_ENV)
    with pytest.raises(DependencyFailed, match="old-api-key"):
        arm_for(fake).activate_revision_template(app_id=fake.app_id, revision_name=V1, timeout_s=5)
    assert fake.writes() == []


def test_set_traffic_keeps_the_labels_of_every_traffic_entry(fake):
    fake.set_app(mode="Multiple")
    fake.add_revision(V1, T0 - timedelta(days=2), label="stable")
    fake.add_revision(V2, T0 - timedelta(minutes=20), traffic=100, label="canary")
    arm_for(fake).set_traffic(app_id=fake.app_id, weights={V1: 100}, timeout_s=5)
    assert sorted(only(fake, "PATCH").body["properties"]["configuration"]["ingress"]["traffic"],
                  key=lambda t: t["revisionName"]) == [
        {"revisionName": V1, "weight": 100, "label": "stable"}, {"revisionName": V2, "weight": 0, "label": "canary"}]
    assert fake.labels() == {"stable": V1, "canary": V2} and fake.weights() == {V1: 100, V2: 0}


def test_scale_patches_template_scale(fake):
    two_revisions(fake, "Single")
    result = arm_for(fake).scale(app_id=fake.app_id, min_replicas=4, max_replicas=20, timeout_s=5)
    patch = only(fake, "PATCH")
    assert patch.body == {"properties": {"template": {"revisionSuffix": result.detail["revision_suffix"],
                                                      "scale": {"minReplicas": 4, "maxReplicas": 20}}}}
    assert (patch.api_version, result.status, result.request_id) == (APPS, "Succeeded", patch.request_id)
    status = arm_for(fake).container_app(app_id=fake.app_id)
    assert (status.min_replicas, status.max_replicas) == (4, 20)


def test_postgres_restart_with_forced_failover_when_ha_is_on(fake):
    fake.set_postgres(ha_mode="ZoneRedundant", ha_state="Healthy", zone="1", standby_zone="2")
    result = arm_for(fake).restart_postgres(server_id=fake.server_id, failover=True, timeout_s=5)
    post = only(fake, "POST")
    assert (post.path, post.api_version) == (fake.server_id + "/restart", PG)
    assert post.body == {"restartWithFailover": True, "failoverMode": "ForcedFailover"}
    assert (result.status, result.request_id) == ("Succeeded", post.request_id)
    assert (fake.postgres["state"], fake.postgres["zone"], fake.postgres["standby_zone"]) == ("Ready", "2", "1")


def test_postgres_plain_restart_without_ha_sends_no_body(fake):
    fake.set_postgres(ha_mode="Disabled", ha_state="NotEnabled")
    result = arm_for(fake).restart_postgres(server_id=fake.server_id, failover=False, timeout_s=5)
    post = only(fake, "POST")
    assert (post.path, post.api_version, post.body, result.status) == (fake.server_id + "/restart", PG, None,
                                                                        "Succeeded")
    assert (fake.postgres["state"], fake.postgres["zone"], fake.postgres["restarts"]) == ("Ready", "1", 1)


def test_arm_refusal_is_dependency_failed_with_code_and_not_retried(fake):
    fake.set_postgres(ha_mode="Disabled", ha_state="NotEnabled")
    with pytest.raises(DependencyFailed, match="HTTP 400 HANotEnabledForFailover"):
        arm_for(fake).restart_postgres(server_id=fake.server_id, failover=True, timeout_s=5)
    fake.fail("PATCH", "containerApps", status=409, code="ContainerAppOperationInProgress")
    with pytest.raises(DependencyFailed, match="HTTP 409 ContainerAppOperationInProgress"):
        arm_for(fake).scale(app_id=fake.app_id, min_replicas=4, max_replicas=20, timeout_s=5)
    assert [r.status for r in fake.writes()] == [400, 409]


RH = "2022-10-01"


def test_redis_reboot_all_nodes_then_waits_for_resource_health_available():
    """forceReboot's 200 only enqueues the reboot; provisioningState stays Succeeded throughout."""
    with FakeArm(lro_polls=3) as fake:
        result = arm_for(fake).reboot_redis(cache_id=fake.cache_id, timeout_s=5)
        post = only(fake, "POST")
        assert (post.path, post.api_version, post.body) == (fake.cache_id + "/forceReboot", REDIS,
                                                            {"rebootType": "AllNodes"})
        assert (result.status, result.request_id, fake.redis["reboots"]) == ("Succeeded", post.request_id, 1)
        health = fake.cache_id + "/providers/Microsoft.ResourceHealth/availabilityStatuses/current"
        assert [(r.method, r.path, r.api_version) for r in fake.requests] == [
            ("GET", fake.cache_id, REDIS), ("POST", fake.cache_id + "/forceReboot", REDIS)] + [
            ("GET", health, RH)] * 4                                   # Unavailable x3, then Available
        assert result.detail["availability_state"] == "Available" and fake.redis["state"] == "Succeeded"
        assert result.detail["accepted_at"].endswith("Z")          # ARM's Date on the reboot, for the health check


def test_redis_reboot_that_does_not_come_back_times_out():
    with FakeArm(lro_polls=None) as fake:
        result = arm_for(fake, poll_interval_s=0.01).reboot_redis(cache_id=fake.cache_id, timeout_s=0.3)
        assert result.status == "TimedOut" and result.detail["availability_state"] == "Unavailable"
        assert fake.redis["state"] == "Succeeded"                # provisioningState said nothing all along


def test_clustered_redis_reboots_every_shard(fake):
    fake.set_redis(sku="Premium", shard_count=3)
    result = arm_for(fake).reboot_redis(cache_id=fake.cache_id, timeout_s=5)
    assert [w.body for w in fake.writes()] == [{"rebootType": "AllNodes", "shardId": i} for i in range(3)]
    assert fake.redis["rebooted_shards"] == [0, 1, 2] and result.detail["shards"] == [0, 1, 2]
    assert result.status == "Succeeded" and result.request_id == fake.writes()[-1].request_id


def test_redis_read_carries_its_resource_health(fake):
    fake.set_redis(sku="Premium", shard_count=2, availability="Degraded")
    cache = arm_for(fake).redis(cache_id=fake.cache_id)
    assert (cache.provisioning_state, cache.availability_state, cache.shard_count) == ("Succeeded", "Degraded", 2)
    assert cache.availability_reported_at is not None
    assert [r.api_version for r in fake.requests] == [REDIS, RH]


# ---- retries, refusals, timeouts --------------------------------------------------------------

def test_429_with_retry_after_then_success(fake):
    fake.fail("GET", "containerApps/ca-procgenie-api$", status=429, times=2)
    assert arm_for(fake).container_app(app_id=fake.app_id).running_status == "Running"
    assert [r.status for r in fake.requests] == [429, 429, 200]
    fake.fail("PATCH", "containerApps", status=429)
    result = arm_for(fake).scale(app_id=fake.app_id, min_replicas=2, max_replicas=10, timeout_s=5)
    assert [r.status for r in fake.writes()] == [429, 202]
    assert result.request_id == fake.writes()[-1].request_id and result.status == "Succeeded"


def test_500_until_retries_are_exhausted_is_dependency_failed(fake):
    fake.fail("GET", "flexibleServers", status=500, times=10)
    with pytest.raises(DependencyFailed, match="HTTP 500 InternalServerError"):
        arm_for(fake, retry_total=2).postgres(server_id=fake.server_id)
    assert len(fake.requests) == 3
    fake.fail("POST", "forceReboot", status=500, times=10)
    with pytest.raises(DependencyFailed, match="redis.force_reboot .* HTTP 500"):
        arm_for(fake, retry_total=1).reboot_redis(cache_id=fake.cache_id, timeout_s=5)
    assert [r.status for r in fake.writes()] == [500, 500]


def test_lro_that_never_finishes_times_out_and_stops_polling():
    with FakeArm(lro_polls=None) as fake:
        two_revisions(fake, "Multiple")
        started = time.monotonic()
        result = arm_for(fake, poll_interval_s=0.01).set_traffic(app_id=fake.app_id, weights={V1: 100},
                                                                timeout_s=0.3)
        assert result.status == "TimedOut" and result.request_id == only(fake, "PATCH").request_id
        assert 0.3 <= time.monotonic() - started < 3
        # the SDK polls on a thread of its own: it must have ended, so nothing polls ARM any more
        for poller in [t for t in threading.enumerate() if t.name.startswith("LROPoller(")]:
            poller.join(timeout=5)
            assert not poller.is_alive()
        polls = len(fake.requests)
        assert not [t for t in threading.enumerate() if t.name.startswith("LROPoller(")]
        assert len(fake.requests) == polls


def test_lro_that_fails_is_a_failed_result():
    with FakeArm(lro_outcome="Failed") as fake:
        result = arm_for(fake).restart_postgres(server_id=fake.server_id, failover=True, timeout_s=5)
        assert result.status == "Failed" and result.request_id == only(fake, "POST").request_id
        assert "error" in result.detail


def test_write_answered_synchronously_needs_no_polling():
    with FakeArm(lro_polls=0) as fake:
        result = arm_for(fake).scale(app_id=fake.app_id, min_replicas=4, max_replicas=20, timeout_s=5)
        assert result.status == "Succeeded" and [r.method for r in fake.requests] == ["PATCH"]


# ---- endpoints, credentials, clients -----------------------------------------------------------

@pytest.mark.parametrize("endpoint", ["http://management.azure.com", "http://10.0.0.4:8080",
                                      "ftp://127.0.0.1", "127.0.0.1:8080", "https://management.azure.com/x"])
def test_non_loopback_http_and_odd_endpoints_are_refused(endpoint):
    with pytest.raises(ValueError):
        ArmResources(endpoint=endpoint, subscription_id="s")


@pytest.mark.parametrize("endpoint", ["https://management.azure.com/", "http://localhost:9", "http://[::1]:9",
                                      "http://127.0.0.2:9"])
def test_https_and_loopback_endpoints_are_accepted(endpoint):
    ArmResources(endpoint=endpoint, subscription_id="s")


class RecordingCredential:
    def __init__(self):
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes, **kwargs):
        from azure.core.credentials import AccessToken
        self.scopes.append(scopes)
        return AccessToken("recorded-token", int(time.time()) + 3600)


def test_credential_scope_is_the_endpoint_and_clients_are_reused(fake):
    cred = RecordingCredential()
    arm = arm_for(fake, credential=cred)
    arm.container_app(app_id=fake.app_id)
    arm.revisions(app_id=fake.app_id)
    arm.redis(cache_id=fake.cache_id)
    assert cred.scopes == [(fake.url + "/.default",), (fake.url + "/.default",)]   # one per client, cached
    assert arm._client("apps") is arm._client("apps")


def test_sdks_are_imported_only_when_first_needed():
    code = ("import sys; from shared.adapters.arm import ArmResources; "
            "ArmResources(endpoint='https://management.azure.com', subscription_id='s'); "
            "print(sorted(m for m in sys.modules if m.startswith(('azure.mgmt', 'azure.identity'))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ---- a plan from real reads, executed ----------------------------------------------------------

@pytest.mark.parametrize("mode", ["Multiple", "Single"])
def test_rollback_plan_from_reads_runs_through_the_adapter(fake, mode):
    two_revisions(fake, mode)
    arm = arm_for(fake)
    book = PlaybookPolicy("rollback", "api", options={"window_minutes": 60})
    plan = plan_rollback(book, arm.container_app(app_id=fake.app_id), arm.revisions(app_id=fake.app_id), T0)
    assert plan.action == ("set_traffic" if mode == "Multiple" else "activate_revision_template")
    result = getattr(arm, plan.action)(**plan.params, timeout_s=5)
    assert result.status == "Succeeded"
    serving = max(fake.weights().items(), key=lambda kv: kv[1])[0]
    assert fake.revisions[serving]["template"]["containers"][0]["image"] == f"acr.io/api:{V1}"
