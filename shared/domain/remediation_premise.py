"""Act on what is true now: does an approved plan's premise still hold just before it runs?

A plan is made from statuses read when the alert came in; it may run much later (after an
approval). By then a fix may have been deployed, a failover may have happened, a reboot may be
under way. `premise_changed` compares the plan's recorded premise (Plan.premise) with statuses read
again just before acting, and answers None (act) or why acting now would be wrong (stand down).
Pure: no I/O, no clock.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping, Sequence

from shared.domain.remediation_plans import PG_BUSY_STATES, REDIS_BUSY_STATES, Plan, unhealthy
from shared.domain.resources import ContainerAppStatus, PostgresStatus, RedisStatus, Revision


def premise_changed(plan: Plan, *, app: ContainerAppStatus | None = None, revisions: Sequence[Revision] = (),
                    server: PostgresStatus | None = None, cache: RedisStatus | None = None) -> str | None:
    """None when the plan may run now; otherwise what changed since it was made, in words.

    Pass the statuses the plan's action needs: `app` (and `revisions` for a rollback) for the API
    actions, `server` for restart_postgres, `cache` for reboot_redis.
    """
    p = plan.premise or {}
    if plan.action in ("set_traffic", "activate_revision_template"):
        return _rollback(plan, p, app, revisions) if app is not None else "the app could not be read again"
    if plan.action == "scale":
        return _scale(plan, p, app) if app is not None else "the app could not be read again"
    if plan.action == "restart_postgres":
        return _postgres(plan, p, server) if server is not None else "the server could not be read again"
    if plan.action == "reboot_redis":
        return _redis(p, cache) if cache is not None else "the cache could not be read again"
    return None


def _rollback(plan: Plan, p: Mapping[str, Any], app: ContainerAppStatus, revisions: Sequence[Revision]) -> str | None:
    by_name = {r.name: r for r in revisions}
    planned_from = p.get("latest")
    target = plan.params.get("revision_name") or next(iter(plan.params.get("weights", {})), None)
    mode = p.get("revisions_mode")
    if mode and mode.lower() != app.revisions_mode.lower():
        return f"the app's revisions mode is now {app.revisions_mode} (the plan was made in {mode} mode)"
    known = set(p.get("revisions", ()))
    newer = [r for r in revisions if known and r.name not in known]
    if newer:
        n = max(newer, key=lambda r: (r.created_at is not None, r.created_at, r.name))
        state = unhealthy(n) or "healthy"
        share = f", {n.traffic_weight}% of traffic" if app.revisions_mode.lower() == "multiple" else ""
        return (f"revision {n.name} ({state}{share}) was deployed after the plan was made against "
                f"{planned_from}: it may be the fix; not rolling back over it")
    if target not in by_name:
        return f"the rollback target {target} no longer exists"
    why = unhealthy(by_name[target])
    if why:
        return f"the rollback target {target} is now {why}"
    if plan.action == "set_traffic":
        if not by_name[target].active:
            return f"the rollback target {target} is now inactive"
        if by_name[target].traffic_weight == 100:
            return f"{target} already receives 100% of traffic: nothing left to do"
        bad = by_name.get(planned_from) if isinstance(planned_from, str) else None
        if planned_from and (bad is None or bad.traffic_weight == 0):
            serving = {r.name: r.traffic_weight for r in revisions if r.traffic_weight}
            return f"{planned_from} no longer receives traffic (now {serving}): someone already moved it"
    elif planned_from and app.latest_revision_name and app.latest_revision_name != planned_from:
        return f"the latest revision is now {app.latest_revision_name}, not {planned_from} as planned"
    return None


def _scale(plan: Plan, p: Mapping[str, Any], app: ContainerAppStatus) -> str | None:
    want_min, want_max = plan.params["min_replicas"], plan.params["max_replicas"]
    cur_min, cur_max = app.min_replicas or 0, app.max_replicas or 0
    if cur_min >= want_min and cur_max >= want_max:
        return f"already at min {cur_min} / max {cur_max} replicas (planned min {want_min} / max {want_max})"
    if p and (p.get("min_replicas"), p.get("max_replicas")) != (app.min_replicas, app.max_replicas):
        return (f"the scale changed since the plan (min {p.get('min_replicas')} -> {app.min_replicas}, max "
                f"{p.get('max_replicas')} -> {app.max_replicas}); the planned values could lower it")
    return None


def _postgres(plan: Plan, p: Mapping[str, Any], server: PostgresStatus) -> str | None:
    state = server.state or "unknown"
    if state.lower() in PG_BUSY_STATES:
        return f"the server is {state} now: a restart or failover is already under way"
    if p.get("state") and state.lower() != str(p["state"]).lower():
        return f"the server is {state} now, not {p['state']} as planned"
    if plan.params.get("failover"):
        if p.get("zone") and server.zone and server.zone != p["zone"]:
            return (f"a failover already happened: the primary is in zone {server.zone} now "
                    f"(it was in zone {p['zone']} when the plan was made)")
        if (server.ha_state or "").lower() != "healthy":
            return f"high availability is {server.ha_state} now: a forced failover needs a healthy standby"
    return None


def _redis(p: Mapping[str, Any], cache: RedisStatus) -> str | None:
    state = cache.provisioning_state or "unknown"
    if state.lower() in REDIS_BUSY_STATES:
        return f"the cache is {state} now: a reboot or update is already under way"
    if p.get("provisioning_state") and state.lower() != str(p["provisioning_state"]).lower():
        return f"the cache is {state} now, not {p['provisioning_state']} as planned"
    if "shard_count" in p and cache.shard_count != p["shard_count"]:
        return f"the cache has {cache.shard_count} shards now, not {p['shard_count']} as planned"
    return None


def redis_recovered(cache: RedisStatus, since: datetime) -> tuple[bool, str]:
    """Whether a cache rebooted at `since` is back, and what was seen. Only Resource Health
    "Available", reported after the reboot was sent, counts: forceReboot answering 200 means the
    reboot was enqueued, and provisioningState does not follow a reboot."""
    seen = (f"Resource Health {cache.availability_state or 'unknown'}"
            + (f" ({cache.availability_note})" if cache.availability_note else "")
            + f", provisioning state {cache.provisioning_state}")
    reported = cache.availability_reported_at
    if (cache.availability_state or "").lower() != "available":
        return False, seen
    if reported is not None and reported < since:
        return False, seen + f", last checked {reported.isoformat()} (before the reboot)"
    return True, seen
