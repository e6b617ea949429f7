"""Remediation plans: what a playbook would do to a resource, given its status, and why, in words.

Pure functions of statuses already read from ARM. A Plan names a CloudResources method in
`action` and its keyword arguments in `params` (all but timeout_s), so the caller runs
`getattr(resources, plan.action)(**plan.params, timeout_s=...)`. A refusal is a Plan with no
action and the reason; `manual_steps` are recommendations for humans, never executed. `premise`
is what the plan assumed of the resource; remediation_premise.py checks it again before acting.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Mapping, Sequence

from shared.domain.remediation import PlaybookPolicy, RemediationPolicy
from shared.domain.resources import ContainerAppStatus, PostgresStatus, RedisStatus, Revision

# Revisions made by remediations are named "<app>--rollback-<hex>" and "<app>--scale-<hex>" (the
# ARM adapter uses these prefixes): such a latest revision is not a deployment to roll back.
ROLLBACK_SUFFIX_PREFIX = "rollback-"
SCALE_SUFFIX_PREFIX = "scale-"
REDIS_FLUSH_STEP = ("If Redis memory is exhausted, flush non-critical caches by hand "
                    "(runbook: redis-cli FLUSHDB); never automated: it loses data")
_BAD_PROVISIONING = {"failed", "deprovisioning", "deprovisioned"}
_BAD_RUNNING = {"failed", "degraded"}
REDIS_BUSY_STATES = frozenset({"creating", "deleting", "updating", "scaling", "provisioning", "unprovisioning",
               "linking", "unlinking", "recoveringscalefailure", "configuringaad"})   # lower-cased
PG_BUSY_STATES = frozenset({"restarting", "starting", "stopping", "updating", "dropping", "provisioning"})
_PG_DOWN = {"stopped", "disabled"}


@dataclass(frozen=True)
class Plan:
    playbook: str
    resource_id: str
    action: str | None                  # a CloudResources method name; None for a refusal
    params: Mapping[str, Any]
    reason: str
    manual_steps: tuple[str, ...] = ()
    premise: Mapping[str, Any] = field(default_factory=dict)   # plain JSON values

    @property
    def refused(self) -> bool:
        return self.action is None

    def as_dict(self) -> dict[str, Any]:
        return {"playbook": self.playbook, "resource_id": self.resource_id, "action": self.action,
                "params": dict(self.params), "reason": self.reason, "refused": self.refused,
                "manual_steps": list(self.manual_steps), "premise": dict(self.premise)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Plan":
        """Read `as_dict`'s shape back (`refused` follows from the action; a plan stored before premises
        were recorded has none)."""
        return cls(str(d["playbook"]), str(d["resource_id"]), d.get("action"), dict(d.get("params") or {}),
                   str(d.get("reason") or ""), tuple(d.get("manual_steps") or ()), dict(d.get("premise") or {}))


@dataclass(frozen=True)
class PastAction:
    """A remediation already run (or approved to run): what the budget checks count."""
    playbook: str
    resource_id: str
    at: datetime


def refuse(playbook: str, resource_id: str, reason: str, manual_steps: tuple[str, ...] = ()) -> Plan:
    return Plan(playbook, resource_id, None, {}, reason, manual_steps)


def _minutes(d: timedelta) -> str:
    m = int(d.total_seconds() // 60)
    return f"{m} min" if m < 120 else f"{m // 60} h {m % 60} min"


def unhealthy(r: Revision) -> str | None:
    """Why a revision cannot serve (unhealthy, failed provisioning or running state), or None."""
    if (r.health_state or "").lower() == "unhealthy":
        return "unhealthy"
    if (r.provisioning_state or "").lower() in _BAD_PROVISIONING:
        return f"provisioning {r.provisioning_state}"
    if (r.running_state or "").lower() in _BAD_RUNNING:
        return f"running state {r.running_state}"
    return None


def plan_rollback(book: PlaybookPolicy, app: ContainerAppStatus, revisions: Sequence[Revision],
                  fired_at: datetime) -> Plan:
    """Roll back a deployment made within `window_minutes` before the alert fired.

    Multiple-revision mode: 100% of traffic to the newest older revision that is not unhealthy or
    failed (it must be active). Single-revision mode: redeploy that revision's template.
    """
    name, rid = book.name, app.app_id
    window = timedelta(minutes=book.options.get("window_minutes", 60))
    floor = datetime.min.replace(tzinfo=fired_at.tzinfo)
    ordered = sorted(revisions, key=lambda r: (r.created_at or floor, r.name), reverse=True)
    if not ordered:
        return refuse(name, rid, "the app has no revisions")
    latest = next((r for r in ordered if r.name == app.latest_revision_name), ordered[0])
    if latest.created_at is None:
        return refuse(name, rid, f"latest revision {latest.name} has no creation time")
    age = fired_at - latest.created_at
    if age < timedelta(0):
        return refuse(name, rid, f"latest revision {latest.name} was created {_minutes(-age)} after the alert "
                                 "fired: it did not cause it (and may be the fix)")
    if age > window:
        return refuse(name, rid, f"latest revision {latest.name} was created {_minutes(age)} before the alert "
                                 f"fired, outside the {_minutes(window)} window: not a recent deployment")
    suffix = latest.name.split("--")[-1]
    if suffix.startswith((ROLLBACK_SUFFIX_PREFIX, SCALE_SUFFIX_PREFIX)):
        made_by = "a rollback" if suffix.startswith(ROLLBACK_SUFFIX_PREFIX) else "a scale-out"
        return refuse(name, rid, f"latest revision {latest.name} was made by {made_by}, not a deployment; "
                                 "not rolling it back automatically")
    multiple = app.revisions_mode.lower() == "multiple"
    if multiple and latest.traffic_weight == 0:
        return refuse(name, rid, f"latest revision {latest.name} receives no traffic: it cannot be the cause")
    skipped, target = [], None
    for r in ordered[ordered.index(latest) + 1:]:
        why = unhealthy(r)
        if why is None:
            target = r
            break
        skipped.append(f"{r.name} ({why})")
    skipped_words = f"; skipped {', '.join(skipped)}" if skipped else ""
    premise = {"revisions_mode": app.revisions_mode, "latest": latest.name,
               "revisions": sorted(r.name for r in ordered),
               "serving": {r.name: r.traffic_weight for r in ordered if r.traffic_weight}}
    if target is None:
        return refuse(name, rid, f"no previous healthy revision to roll back to{skipped_words}")
    why = (f"latest revision {latest.name} was created {_minutes(age)} before the alert fired "
           f"(window {_minutes(window)})")
    if multiple:
        if not target.active:
            return refuse(name, rid, f"{why}, but the previous healthy revision {target.name} is inactive: "
                                     f"activate it by hand first{skipped_words}")
        if target.traffic_weight == 100:
            return refuse(name, rid, f"previous healthy revision {target.name} already receives 100% of traffic")
        return Plan(name, rid, "set_traffic", {"app_id": rid, "weights": {target.name: 100}},
                    f"{why}; multiple-revision mode: send 100% of traffic to the previous healthy "
                    f"revision {target.name}{skipped_words}", premise=premise)
    return Plan(name, rid, "activate_revision_template", {"app_id": rid, "revision_name": target.name},
                f"{why}; single-revision mode: redeploy the template of the previous healthy revision "
                f"{target.name} as a new revision{skipped_words}", premise=premise)


def plan_scale_out(book: PlaybookPolicy, app: ContainerAppStatus) -> Plan:
    """Raise min/max replicas to the policy's (default 4/20); never lowers either."""
    name, rid = book.name, app.app_id
    want_min, want_max = book.options.get("min_replicas", 4), book.options.get("max_replicas", 20)
    cur_min, cur_max = app.min_replicas or 0, app.max_replicas or 0
    if cur_min >= want_min and cur_max >= want_max:
        return refuse(name, rid, f"already at or above the target: min {cur_min} >= {want_min}, "
                                 f"max {cur_max} >= {want_max} replicas")
    if app.revisions_mode.lower() == "multiple" and not any(n == "latest" and w > 0 for n, w in app.traffic):
        return refuse(name, rid, "multiple-revision mode with traffic pinned to named revisions: a scale "
                                 "change makes a new revision that would receive no traffic; scale by hand")
    new_min, new_max = max(cur_min, want_min), max(cur_max, want_max)
    return Plan(name, rid, "scale", {"app_id": rid, "min_replicas": new_min, "max_replicas": new_max},
                f"scale out from min {app.min_replicas} / max {app.max_replicas} to min {new_min} / "
                f"max {new_max} replicas (runbook: resource exhaustion)",
                premise={"min_replicas": app.min_replicas, "max_replicas": app.max_replicas})


def plan_redis_reboot(book: PlaybookPolicy, cache: RedisStatus) -> Plan:
    """Reboot all nodes (of every shard of a clustered cache); the cache flush is only ever a manual step."""
    name, rid = book.name, cache.cache_id
    state = cache.provisioning_state or "unknown"
    if state.lower() in REDIS_BUSY_STATES:
        return refuse(name, rid, f"the cache is busy (provisioningState {state}); not rebooting it now",
                      (REDIS_FLUSH_STEP,))
    shards = f" in each of its {cache.shard_count} shards" if cache.shard_count else ""
    return Plan(name, rid, "reboot_redis", {"cache_id": rid},
                f"force-reboot all nodes (AllNodes){shards} of the cache (provisioningState {state}, Resource "
                f"Health {cache.availability_state or 'unknown'}); done when Resource Health says Available; "
                "the application falls back to the database meanwhile", (REDIS_FLUSH_STEP,),
                premise={"provisioning_state": cache.provisioning_state, "shard_count": cache.shard_count})


def plan_postgres_failover(book: PlaybookPolicy, server: PostgresStatus) -> Plan:
    """Restart with forced failover when high availability is on and healthy, else plain restart."""
    name, rid = book.name, server.server_id
    state = server.state or "unknown"
    if state.lower() in PG_BUSY_STATES:
        return refuse(name, rid, f"the server is busy (state {state}); not restarting it now")
    if state.lower() in _PG_DOWN:
        return refuse(name, rid, f"the server is {state}: start it by hand, a restart cannot")
    ha_on = (server.ha_mode or "disabled").lower() != "disabled"
    premise = {"state": server.state, "ha_state": server.ha_state, "zone": server.zone}
    if ha_on and (server.ha_state or "").lower() == "healthy":
        return Plan(name, rid, "restart_postgres", {"server_id": rid, "failover": True},
                    f"restart with forced failover to the standby (HA {server.ha_mode}, {server.ha_state})",
                    premise=premise)
    why = f"HA {server.ha_mode}, {server.ha_state}" if ha_on else "high availability disabled"
    return Plan(name, rid, "restart_postgres", {"server_id": rid, "failover": False},
                f"plain restart, no failover ({why})", premise=premise)


def check_budget(policy: RemediationPolicy, plan: Plan, past: Sequence[PastAction], now: datetime) -> Plan:
    """The plan, or a refusal when the cooldown or the hourly cap forbids acting now."""
    if plan.refused:
        return plan
    recent = [a for a in past if a.playbook == plan.playbook and a.resource_id.lower() == plan.resource_id.lower()
              and now - a.at < policy.cooldown]
    if recent:
        last = max(a.at for a in recent)
        return refuse(plan.playbook, plan.resource_id,
                      f"cooldown: {plan.playbook} ran on this resource {_minutes(now - last)} ago "
                      f"(cooldown {_minutes(policy.cooldown)}); would have: {plan.reason}", plan.manual_steps)
    hour = [a for a in past if now - a.at < timedelta(hours=1)]
    if len(hour) >= policy.max_actions_per_hour:
        return refuse(plan.playbook, plan.resource_id,
                      f"{len(hour)} remediations in the last hour (max {policy.max_actions_per_hour}); "
                      f"would have: {plan.reason}", plan.manual_steps)
    return plan
