"""ArmResources: the CloudResources port on the Azure management SDKs.

Clients: azure.mgmt.appcontainers.ContainerAppsAPIClient, azure.mgmt.postgresqlflexibleservers.
PostgreSQLManagementClient and azure.mgmt.redis.RedisManagementClient, each built on first use
and reused. Their modules (and azure.identity) are imported only then: cold start stays cheap.

Retries are the SDK's RetryPolicy bounded by `retry_total`: 408/429/5xx and connection errors,
Retry-After honoured (ARM sends it with 429), POST/PATCH retried only on 500/503/504 or when
Retry-After is present. A refusal (any other 4xx, or 5xx after the retries) is DependencyFailed
with the HTTP status, the ARM error code and the x-ms-request-id in the message.
"""
from __future__ import annotations

import threading
import time
import uuid
from typing import Any, Callable, Mapping

from shared.adapters.arm import health, mapping
from shared.adapters.arm.containerapp_bodies import relabelled_traffic, reuse_secret_refs
from shared.adapters.arm.credentials import StaticDevCredential, check_endpoint
from shared.adapters.arm.ids import CONTAINER_APP, POSTGRES_SERVER, REDIS_CACHE, ArmId, parse_arm_id
from shared.adapters.arm.sdk import LroDeadline, WriteResponse, deadline_polling, describe, failed
from shared.domain.errors import DependencyFailed
from shared.domain.remediation_plans import ROLLBACK_SUFFIX_PREFIX, SCALE_SUFFIX_PREFIX
from shared.domain.resources import ArmResult, ContainerAppStatus, PostgresStatus, RedisStatus, Revision
from shared.domain.timeutil import iso

_SDK_POLL_DEFAULT_S = 30.0          # what the SDKs use when ARM sends no Retry-After


class ArmResources:
    """CloudResources on Azure Resource Manager (or a loopback fake of it).

    endpoint: ARM origin; a loopback http:// one gets a static development token and plain http,
      anything else DefaultAzureCredential (unless `credential` is given) and https only.
    timeout_s: per-request read timeout, and the bound on one request with its retries.
    retry_total: retries per request. retry_backoff_s: exponential backoff factor between them
      (the first retry is immediate; Retry-After wins when ARM sends it).
    poll_interval_s: delay between long-running-operation status polls when ARM sends no
      Retry-After; None keeps the SDK default (30 s).
    Raises ValueError for a non-https non-loopback endpoint or an empty subscription id.
    """

    def __init__(self, *, endpoint: str, subscription_id: str, credential: Any = None,
                 timeout_s: float = 60, retry_total: int = 3, poll_interval_s: float | None = None,
                 retry_backoff_s: float = 0.8):
        self._endpoint, self._loopback = check_endpoint(endpoint)
        if not subscription_id or not subscription_id.strip():
            raise ValueError("subscription_id is required for ARM calls")
        self._subscription_id = subscription_id.strip()
        self._credential = credential
        self._timeout_s = float(timeout_s)
        self._retry_total = int(retry_total)
        self._retry_backoff_s = float(retry_backoff_s)
        self._poll_interval_s = poll_interval_s
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    # ---- clients ---------------------------------------------------------------------------

    def _get_credential(self) -> Any:
        if self._credential is None:
            if self._loopback:
                self._credential = StaticDevCredential()
            else:
                from azure.identity import DefaultAzureCredential
                self._credential = DefaultAzureCredential()
        return self._credential

    def _client(self, kind: str) -> Any:
        with self._lock:
            if kind not in self._clients:
                cls: type[Any]  # one of the three SDK clients
                if kind == "apps":
                    from azure.mgmt.appcontainers import ContainerAppsAPIClient as cls
                elif kind == "postgres":
                    from azure.mgmt.postgresqlflexibleservers import PostgreSQLManagementClient as cls
                else:
                    from azure.mgmt.redis import RedisManagementClient as cls
                kwargs: dict[str, Any] = dict(
                    base_url=self._endpoint, credential_scopes=[self._endpoint + "/.default"],
                    retry_total=self._retry_total, retry_backoff_factor=self._retry_backoff_s,
                    connection_timeout=min(self._timeout_s, 30), read_timeout=self._timeout_s,
                )
                if self._poll_interval_s is not None:
                    kwargs["polling_interval"] = self._poll_interval_s
                self._clients[kind] = cls(self._get_credential(), self._subscription_id, **kwargs)
            return self._clients[kind]

    def _opts(self) -> dict[str, Any]:
        # timeout: the RetryPolicy's bound on one request with all its retries.
        # enforce_https: azure-core's bearer policy refuses http unless the request says False; a
        # per-request option (kept in the pipeline context, so it also covers LRO polls).
        opts: dict[str, Any] = {"timeout": self._timeout_s}
        if self._loopback:
            opts["enforce_https"] = False
        return opts

    def _id(self, value: str, expected: str) -> ArmId:
        arm = parse_arm_id(value, expected_type=expected)
        if arm.subscription_id.lower() != self._subscription_id.lower():
            raise ValueError(f"ARM resource id {value!r} is in subscription {arm.subscription_id}, "
                             f"not the configured {self._subscription_id}")
        return arm

    def _read(self, operation: str, resource_id: str, call: Callable[[], Any]) -> Any:
        from azure.core.exceptions import AzureError
        try:
            return call()
        except AzureError as e:
            raise failed(operation, resource_id, e) from e

    # ---- reads -----------------------------------------------------------------------------

    def container_app(self, *, app_id: str) -> ContainerAppStatus:
        a = self._id(app_id, CONTAINER_APP)
        app = self._read("containerapps.get", app_id, lambda: self._client("apps").container_apps.get(
            a.resource_group, a.name, **self._opts()))
        return mapping.container_app_status(app_id, app)

    def revisions(self, *, app_id: str) -> list[Revision]:
        """Newest first (by createdTime; every page of the list is read)."""
        a = self._id(app_id, CONTAINER_APP)
        items = self._read("containerapps.revisions.list", app_id, lambda: list(
            self._client("apps").container_apps_revisions.list_revisions(a.resource_group, a.name, **self._opts())))
        return mapping.newest_first(mapping.revision(r) for r in items)

    def postgres(self, *, server_id: str) -> PostgresStatus:
        a = self._id(server_id, POSTGRES_SERVER)
        server = self._read("postgres.get", server_id, lambda: self._client("postgres").servers.get(
            a.resource_group, a.name, **self._opts()))
        return mapping.postgres_status(server_id, server)

    def redis(self, *, cache_id: str) -> RedisStatus:
        a = self._id(cache_id, REDIS_CACHE)
        cache = self._read("redis.get", cache_id, lambda: self._client("redis").redis.get(
            a.resource_group, a.name, **self._opts()))
        return mapping.redis_status(cache_id, cache, health.current(self._client("redis"), cache_id, **self._opts()))

    # ---- writes ----------------------------------------------------------------------------

    def set_traffic(self, *, app_id: str, weights: Mapping[str, int], timeout_s: float) -> ArmResult:
        """Multiple-revision mode: PATCH properties.configuration.ingress.traffic to `weights`
        (revision name -> percent; the key "latest" means the latest-revision rule). The PATCH
        body holds only that array, via container_apps.begin_update. JSON merge patch replaces
        arrays whole, so the app is read first and every traffic label it has is carried over
        (containerapp_bodies.relabelled_traffic)."""
        from azure.mgmt.appcontainers import models as m
        a = self._id(app_id, CONTAINER_APP)
        if not weights or any(not isinstance(w, int) or w < 0 for w in weights.values()) \
                or sum(weights.values()) != 100:
            raise ValueError(f"traffic weights must be non-negative integers summing to 100, got {dict(weights)}")
        app = self._read("containerapps.get", app_id, lambda: self._client("apps").container_apps.get(
            a.resource_group, a.name, **self._opts()))
        ingress = getattr(getattr(app.properties, "configuration", None), "ingress", None)
        traffic = relabelled_traffic(getattr(ingress, "traffic", None) or [], weights)
        # a PATCH body: the SDK's overloads require `location` (a PUT's), which the merge patch leaves out
        body = m.ContainerApp(properties=m.ContainerAppProperties(  # type: ignore[call-overload]
            configuration=m.Configuration(ingress=m.Ingress(traffic=[m.TrafficWeight(t) for t in traffic]))))
        labels = {t["label"]: t.get("revisionName", "latest") for t in traffic if "label" in t}
        return self._lro("containerapps.set_traffic", app_id, timeout_s, {"weights": dict(weights), "labels": labels},
                         lambda **kw: self._client("apps").container_apps.begin_update(
                             a.resource_group, a.name, body, **kw))

    def activate_revision_template(self, *, app_id: str, revision_name: str, timeout_s: float) -> ArmResult:
        """Single-revision mode rollback by redeploying an old revision's template.

        Reads the revision (container_apps_revisions.get_revision), then PATCHes the app with
        properties.template = that template (container_apps.begin_update). ARM makes a new
        revision from it, which in single-revision mode takes all traffic and deactivates the bad
        one. The revision suffix is replaced by a fresh "rollback-<8 hex>" one: reusing the old
        suffix would name an existing revision and be refused. Activating the old revision itself
        is not used because single-revision mode keeps only the latest revision active.
        The app is read too: its secret names let the template's env secretRefs, which a revision
        read prefixes with "<app name>-", name the app's secrets again
        (containerapp_bodies.reuse_secret_refs). Raises DependencyFailed, before any write, when
        the old template names a secret the app no longer has.
        """
        from azure.mgmt.appcontainers import models as m
        a = self._id(app_id, CONTAINER_APP)
        client = self._client("apps")
        old = self._read("containerapps.revisions.get", app_id, lambda: client.container_apps_revisions.get_revision(
            a.resource_group, a.name, revision_name, **self._opts()))
        app = self._read("containerapps.get", app_id, lambda: client.container_apps.get(
            a.resource_group, a.name, **self._opts()))
        template = old.properties.template if old.properties is not None else None
        if template is None:
            raise DependencyFailed(f"ARM revision {revision_name} of {app_id} has no template to redeploy")
        config = getattr(app.properties, "configuration", None)
        try:
            refs = reuse_secret_refs(template, app_name=app.name or a.name,
                                     secrets=[s.name for s in getattr(config, "secrets", None) or []])
        except ValueError as e:
            raise DependencyFailed(f"not redeploying revision {revision_name} of {app_id}: {e}") from e
        suffix = f"{ROLLBACK_SUFFIX_PREFIX}{uuid.uuid4().hex[:8]}"
        template.revision_suffix = suffix
        # a PATCH body: the SDK's overloads require `location` (a PUT's), which the merge patch leaves out
        body = m.ContainerApp(properties=m.ContainerAppProperties(template=template))  # type: ignore[call-overload]
        return self._lro("containerapps.redeploy_revision_template", app_id, timeout_s,
                         {"from_revision": revision_name, "revision_suffix": suffix, "secret_refs": refs},
                         lambda **kw: self._client("apps").container_apps.begin_update(
                             a.resource_group, a.name, body, **kw))

    def scale(self, *, app_id: str, min_replicas: int, max_replicas: int, timeout_s: float) -> ArmResult:
        """PATCH properties.template.scale.{minReplicas,maxReplicas} (container_apps.begin_update).

        Scale is part of the template, so Container Apps makes a new revision; it gets a fresh
        "scale-<8 hex>" suffix, since keeping the app's current suffix would be refused.
        """
        from azure.mgmt.appcontainers import models as m
        a = self._id(app_id, CONTAINER_APP)
        if not 0 <= min_replicas <= max_replicas:
            raise ValueError(f"need 0 <= min_replicas <= max_replicas, got {min_replicas}, {max_replicas}")
        suffix = f"{SCALE_SUFFIX_PREFIX}{uuid.uuid4().hex[:8]}"
        # a PATCH body: the SDK's overloads require `location` (a PUT's), which the merge patch leaves out
        body = m.ContainerApp(properties=m.ContainerAppProperties(template=m.Template(  # type: ignore[call-overload]
            revision_suffix=suffix, scale=m.Scale(min_replicas=min_replicas, max_replicas=max_replicas))))
        return self._lro("containerapps.scale", app_id, timeout_s,
                         {"min_replicas": min_replicas, "max_replicas": max_replicas, "revision_suffix": suffix},
                         lambda **kw: self._client("apps").container_apps.begin_update(
                             a.resource_group, a.name, body, **kw))

    def restart_postgres(self, *, server_id: str, failover: bool, timeout_s: float) -> ArmResult:
        """servers.begin_restart: with RestartParameter(restart_with_failover=True,
        failover_mode="ForcedFailover") when `failover`, else with no body (a plain restart)."""
        from azure.mgmt.postgresqlflexibleservers import models as m
        a = self._id(server_id, POSTGRES_SERVER)
        params = m.RestartParameter(restart_with_failover=True, failover_mode="ForcedFailover") if failover else None
        detail = {"failover": failover, "failover_mode": "ForcedFailover" if failover else None}
        return self._lro("postgres.restart", server_id, timeout_s, detail,
                         lambda **kw: self._client("postgres").servers.begin_restart(
                             a.resource_group, a.name, params, **kw))

    def reboot_redis(self, *, cache_id: str, timeout_s: float) -> ArmResult:
        """redis.force_reboot with reboot_type "AllNodes", once per shard of a clustered cache
        (shard_id 0..shardCount-1, read from the cache first). ARM answers 200 once the reboot is
        enqueued, and provisioningState is no evidence it finished: Resource Health
        (health.current) is read until it says Available, within `timeout_s`: "Succeeded" then,
        else "TimedOut". A shard refused after others rebooted is DependencyFailed naming them."""
        from azure.core.exceptions import AzureError
        from azure.mgmt.redis import models as m
        a = self._id(cache_id, REDIS_CACHE)
        deadline = time.monotonic() + timeout_s
        write, client = WriteResponse(), self._client("redis")
        cache = self._read("redis.get", cache_id, lambda: client.redis.get(a.resource_group, a.name, **self._opts()))
        shards: list[int | None] = list(range(int(getattr(cache, "shard_count", None) or 0))) or [None]
        done: list[int | None] = []
        for shard in shards:
            try:
                client.redis.force_reboot(a.resource_group, a.name, m.RedisRebootParameters(
                    reboot_type="AllNodes", shard_id=shard), raw_response_hook=write, **self._opts())
            except AzureError as e:
                note = f" (shards already rebooting: {done})" if done else ""
                raise DependencyFailed(str(failed("redis.force_reboot", cache_id, e)) + note) from e
            done.append(shard)
        detail: dict[str, Any] = {"reboot_type": "AllNodes", "shards": [s for s in done if s is not None],
                                  "accepted_at": iso(write.answered_at)}   # ARM's clock: see health checks
        delay = self._poll_interval_s if self._poll_interval_s is not None else 5.0
        while True:
            seen = health.current(client, cache_id, **self._opts())
            detail["availability_state"] = seen.get("state")
            if seen.get("error"):
                detail["availability_error"] = seen["error"]
            if (seen.get("state") or "").lower() == "available":
                return ArmResult("redis.force_reboot", cache_id, write.request_id, "Succeeded", detail)
            if time.monotonic() + delay > deadline:
                return ArmResult("redis.force_reboot", cache_id, write.request_id, "TimedOut", detail)
            time.sleep(delay)

    def _lro(self, operation: str, resource_id: str, timeout_s: float, detail: dict[str, Any],
             begin: Callable[..., Any]) -> ArmResult:
        """Start a long-running write and wait for it until `timeout_s` has passed.

        The initial request failing is DependencyFailed (ARM refused); the operation failing
        afterwards is status "Failed"; still running at the deadline is "TimedOut" (and polling
        stops there, no thread left behind).
        """
        from azure.core.exceptions import AzureError
        deadline = time.monotonic() + timeout_s
        write = WriteResponse()
        delay = self._poll_interval_s if self._poll_interval_s is not None else _SDK_POLL_DEFAULT_S
        poll_opts = {k: v for k, v in self._opts().items() if k != "timeout"}   # ARMPolling's 1st arg is "timeout"
        polling = deadline_polling(delay_s=delay, deadline=deadline, endpoint=self._endpoint, **poll_opts)
        try:
            poller = begin(polling=polling, raw_response_hook=write, **self._opts())
        except AzureError as e:
            raise failed(operation, resource_id, e) from e
        detail = dict(detail)
        try:
            # bounded by the deadline inside the polling method plus at most one status request
            poller.wait(timeout=max(0.0, deadline - time.monotonic()) + self._timeout_s)
        except LroDeadline:
            return ArmResult(operation, resource_id, write.request_id, "TimedOut", detail)
        except AzureError as e:
            detail["error"] = describe(e)
            return ArmResult(operation, resource_id, write.request_id, "Failed", detail)
        if not poller.done():
            return ArmResult(operation, resource_id, write.request_id, "TimedOut", detail)
        return ArmResult(operation, resource_id, write.request_id, "Succeeded", detail)
