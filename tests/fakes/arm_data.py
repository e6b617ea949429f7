"""The data-tier part of FakeArm: one PostgreSQL flexible server and one Azure Cache for Redis,
with the cache's Resource Health (availabilityStatuses/current).

Azure behaviours modelled here that a reader might not expect:

- forceReboot answers 200 at once with a message ("RedisForceRebootResponse", azure-rest-api-specs
  redis): the reboot is enqueued, not done. The cache's provisioningState stays Succeeded
  meanwhile (assumed: no source says a reboot changes it); Resource Health is what reports the
  outage: Unavailable, then Available again.
- Resource Health (Microsoft.ResourceHealth, api-version 2022-10-01, AvailabilityStatuses_GetByResource
  in azure-rest-api-specs resourcehealth/.../2022-10-01/ResourceHealth.json) answers properties
  availabilityState (Available, Unavailable, Degraded, Unknown), summary, reasonType, occuredTime
  (last change) and reportedTime ("when the health was last checked").
- A clustered cache (Premium, shardCount > 0) is rebooted one shard at a time: RedisRebootParameters
  .shardId, "If clustering is enabled, the ID of the shard to be rebooted" (azure-mgmt-redis models).
  That a shardless reboot of a clustered cache is refused with 400 is assumed, not sourced.
"""
from __future__ import annotations

from typing import Any

from tests.fakes.arm_wire import error, iso


class DataTierFake:
    """Mixed into FakeArm; uses its lock, lro_polls, server_id, cache_id and _start_op."""

    def set_postgres(self, *, state: str = "Ready", ha_mode: str = "ZoneRedundant", ha_state: str = "Healthy",
                     zone: str = "1", standby_zone: str = "2") -> None:
        with self.lock:
            self.postgres = {"state": state, "ha_mode": ha_mode, "ha_state": ha_state, "zone": zone,
                             "standby_zone": standby_zone, "restarts": 0}

    def set_redis(self, *, provisioning_state: str = "Succeeded", sku: str = "Standard", shard_count: int = 0,
                  availability: str = "Available") -> None:
        """`availability`: the cache's Resource Health state before anything happens to it."""
        with self.lock:
            self.redis = {"state": provisioning_state, "reboots": 0, "rebooted_shards": [], "sku": sku,
                          "shard_count": shard_count, "health": availability, "health_reads_until_up": None,
                          "health_since": self._now()}

    def _postgres_json(self) -> dict[str, Any]:
        p = self.postgres
        return {"id": self.server_id, "name": self.server_id.rsplit("/", 1)[-1], "location": "westeurope",
                "properties": {"state": p["state"], "availabilityZone": p["zone"],
                               "highAvailability": {"mode": p["ha_mode"], "state": p["ha_state"],
                                                    "standbyAvailabilityZone": p["standby_zone"]}}}

    def _redis_json(self) -> dict[str, Any]:
        r = self.redis
        props: dict[str, Any] = {"provisioningState": r["state"],
                                 "sku": {"name": r["sku"], "family": "P" if r["sku"] == "Premium" else "C",
                                         "capacity": 1}}
        if r["shard_count"]:
            props["shardCount"] = r["shard_count"]
        return {"id": self.cache_id, "name": self.cache_id.rsplit("/", 1)[-1], "location": "westeurope",
                "properties": props}

    def _redis_health_json(self) -> dict[str, Any]:
        """availabilityStatuses/current: Unavailable for `lro_polls` reads after a reboot, then Available."""
        r = self.redis
        if r["health_reads_until_up"] is not None:
            r["health_reads_until_up"] -= 1
            if r["health_reads_until_up"] < 0:
                r["health"], r["health_reads_until_up"], r["health_since"] = "Available", None, self._now()
        summary = {"Available": "There aren't any known Azure platform problems affecting this Azure Cache for Redis",
                   "Unavailable": "Your Azure Cache for Redis is unavailable: it is being rebooted"}
        return {"id": f"{self.cache_id}/providers/Microsoft.ResourceHealth/availabilityStatuses/current",
                "name": "current", "type": "Microsoft.ResourceHealth/AvailabilityStatuses", "location": "westeurope",
                "properties": {"availabilityState": r["health"], "summary": summary.get(r["health"], r["health"]),
                               "reasonType": "Customer Initiated" if r["health"] == "Unavailable" else None,
                               "occuredTime": iso(r["health_since"]), "reportedTime": iso(self._now())}}

    def _restart_postgres(self, body: Any) -> tuple[int, Any]:
        p = self.postgres
        failover = bool(body and body.get("restartWithFailover"))
        if failover and p["ha_mode"] == "Disabled":
            return 400, error("HANotEnabledForFailover", "high availability is not enabled on this server")
        p["state"], p["restarts"] = "Restarting", p["restarts"] + 1
        if failover:
            p["ha_state"] = "FailingOver"

        def done() -> None:
            p["state"] = "Ready"
            if failover:
                p["ha_state"], p["zone"], p["standby_zone"] = "Healthy", p["standby_zone"], p["zone"]
        return self._start_op("Microsoft.DBforPostgreSQL", done)

    def _reboot_redis(self, body: Any) -> tuple[int, Any]:
        r = self.redis
        if not body or body.get("rebootType") not in ("PrimaryNode", "SecondaryNode", "AllNodes"):
            return 400, error("InvalidRequestBody", "rebootType is required")
        shard = body.get("shardId")
        if r["shard_count"] and (shard is None or not 0 <= shard < r["shard_count"]):
            return 400, error("InvalidRequestBody", f"shardId must be one of 0..{r['shard_count'] - 1} on a "
                                                    "clustered cache")
        r["reboots"] += 1
        r["rebooted_shards"].append(shard)
        r["health"], r["health_since"] = "Unavailable", self._now()
        r["health_reads_until_up"] = self.lro_polls if self.lro_polls is not None else 10 ** 9
        return 200, {"message": f"Reboot of {body['rebootType']} initiated"}
