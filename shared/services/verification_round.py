"""One verification round of an executed remediation (runbook step 4): the resource's own health,
the API's health URL, its 5xx rate against the hour before the incident, the smoke tests, and after a
Redis reboot the cache's own metrics. Reads only; the decision is shared.domain.verification's."""
from __future__ import annotations

from datetime import datetime
from typing import Mapping

from shared.domain.errors import DependencyFailed
from shared.domain.incident import Incident
from shared.domain.remediation_entry import Remediation
from shared.domain.remediation_premise import redis_recovered
from shared.domain.timeutil import parse_iso
from shared.domain.verification import (CACHE_METRICS, FAILED, PASSED, UNKNOWN, Check, baseline_per_minute,
                                        baseline_window, cache_metrics_check, error_rate_check, http_check,
                                        recent_window, shown_url, skipped)
from shared.ports import CloudResources, Observers, observers_of


def healthy(entry: Remediation, resources: CloudResources) -> tuple[bool, str]:
    """Whether the resource looks well after the action, and what was seen."""
    rid, action = entry.resource_id or "", entry.plan.action if entry.plan else None
    params = entry.plan.params if entry.plan else {}
    if action in ("set_traffic", "activate_revision_template", "scale"):
        app = resources.container_app(app_id=rid)
        ok = (app.running_status or "").lower() == "running" and (app.provisioning_state or "").lower() == "succeeded"
        seen = f"running status {app.running_status}, provisioning {app.provisioning_state}"
        if action == "set_traffic":
            target = next(iter(params["weights"]))
            ok = ok and dict(app.traffic).get(target) == 100
            seen += f", traffic {dict(app.traffic)}"
        if action == "scale":
            ok = ok and (app.min_replicas or 0) >= params["min_replicas"]
            seen += f", replicas {app.min_replicas}-{app.max_replicas}"
        return ok, seen
    if action == "restart_postgres":
        pg = resources.postgres(server_id=rid)
        return (pg.state or "").lower() == "ready", f"state {pg.state}, HA {pg.ha_state}"
    # ARM's own time of the reboot when known (its Date header): Resource Health reports on that clock
    execution = entry.execution
    assert execution is not None and execution.started_at is not None, "verifying a remediation never started"
    since = parse_iso(execution.detail.get("accepted_at")) or execution.started_at
    return redis_recovered(resources.redis(cache_id=rid), since)


def _probe(obs: Observers, name: str, url: str, expected: int) -> Check:
    if obs.http is None:
        return skipped(f"{name} {shown_url(url)}", "no HTTP probe configured")
    answer = obs.http.get(url=url)
    detail = f"{answer.elapsed_ms} ms" if answer.status is not None else answer.detail
    return http_check(f"{name} {shown_url(url)}", expected, answer.status, detail)


def _error_rate(inc: Incident, entry: Remediation, obs: Observers, app_id: str | None, now: datetime) -> Check:
    """The API's 5xx rate now against the hour before the incident (that baseline is read once)."""
    if not app_id:
        return skipped("5xx rate", "API_CONTAINER_APP_ID is not set")
    if obs.metrics is None:
        return skipped("5xx rate", "no Azure Monitor metrics reader (AZURE_SUBSCRIPTION_ID is not set)")
    v = entry.verification
    assert v is not None, "a verification round of a remediation not verifying"
    try:
        if v.baseline_5xx_per_min is None:
            began = min(inc.created_at, entry.alert_fired_at or inc.created_at)
            start, end = baseline_window(began)
            v.baseline_5xx_per_min = baseline_per_minute(
                obs.metrics.requests(resource_id=app_id, start=start, end=end), began)
        start, end = recent_window(now)
        return error_rate_check(obs.metrics.requests(resource_id=app_id, start=start, end=end), now,
                                v.baseline_5xx_per_min)
    except DependencyFailed as e:
        return Check("5xx rate", UNKNOWN, f"metrics unavailable: {e}")


def checks(inc: Incident, entry: Remediation, resources: CloudResources | None, core: Mapping[str, str],
           now: datetime) -> list[Check]:
    """One verification round (runbook step 4): the resource's own health, the API's health URL, its
    5xx rate, each smoke test. An unconfigured probe is a skipped check that says which setting is unset."""
    try:
        ok, seen = healthy(entry, resources) if resources else (None, "ARM not configured")
        resource = Check("resource", UNKNOWN if ok is None else PASSED if ok else FAILED, seen)
    except DependencyFailed as e:
        resource = Check("resource", UNKNOWN, f"health read failed: {e}")
    obs = observers_of(resources)
    health = _probe(obs, "health", obs.health_url, 200) if obs.health_url else \
        skipped("health URL", "API_HEALTH_URL is not set")
    smoke = [_probe(obs, "smoke", url, status) for url, status in obs.smoke_tests] or \
        [skipped("smoke tests", "SMOKE_TEST_URLS is not set")]
    cache = [_cache_metrics(entry, obs, now)] if entry.plan and entry.plan.action == "reboot_redis" else []
    return [resource, *cache, health, _error_rate(inc, entry, obs, core.get("api"), now), *smoke]


def _cache_metrics(entry: Remediation, obs: Observers, now: datetime) -> Check:
    """A rebooted cache's own metrics (errors, serverLoad, connectedclients) over the last minutes."""
    if obs.metrics is None:
        return skipped("cache metrics", "no Azure Monitor metrics reader (AZURE_SUBSCRIPTION_ID is not set)")
    start, end = recent_window(now)
    try:
        return cache_metrics_check(obs.metrics.maxima(resource_id=entry.resource_id or "", names=CACHE_METRICS,
                                                      start=start, end=end), now)
    except DependencyFailed as e:
        return Check("cache metrics", UNKNOWN, f"metrics unavailable: {e}")
