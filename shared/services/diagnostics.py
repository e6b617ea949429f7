"""Runbook step 2 as code: read-only diagnostics when a SEV-1 or SEV-2 opens.

The API container app's running status and latest three revisions, the PostgreSQL server's state
and high availability, the Redis cache's provisioning state and Resource Health. A failed read is
noted, never raised: diagnostics never block anything.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Mapping

from shared.domain.errors import DependencyFailed
from shared.domain.incident import AUTOMATION, Incident
from shared.domain.timeutil import iso
from shared.ports import CloudResources, Op
from shared.services import outbox
from shared.templates import initial_assessment

DIAGNOSE = "diag"


def _read(what: str, call: Callable[[], Any], notes: list[str]) -> Any:
    try:
        return call()
    except (DependencyFailed, ValueError) as e:
        notes.append(f"{what}: unavailable ({e})")
        return None


def gather(resources: CloudResources, core: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    """What the platform looks like now, and a line per fact (or per failed read)."""
    out: dict[str, Any] = {}
    lines: list[str] = []
    if "api" in core:
        app = _read("API container app", lambda: resources.container_app(app_id=core["api"]), lines)
        revs = _read("API revisions", lambda: resources.revisions(app_id=core["api"]), lines)
        if app:
            out["api"] = {"running_status": app.running_status, "revisions_mode": app.revisions_mode,
                          "min_replicas": app.min_replicas, "max_replicas": app.max_replicas}
            lines.append(f"API container app: {app.running_status}, {app.revisions_mode.lower()}-revision mode, "
                         f"replicas {app.min_replicas}-{app.max_replicas}")
        if revs is not None:
            out["api_revisions"] = [{"name": r.name, "created": iso(r.created_at), "active": r.active,
                                     "traffic": r.traffic_weight, "health": r.health_state} for r in revs[:3]]
            lines += [f"  revision {r.name}: created {iso(r.created_at)}, active {r.active}, traffic "
                      f"{r.traffic_weight}%, {r.health_state}" for r in revs[:3]]
    if "postgres" in core:
        pg = _read("PostgreSQL", lambda: resources.postgres(server_id=core["postgres"]), lines)
        if pg:
            out["postgres"] = {"state": pg.state, "ha_mode": pg.ha_mode, "ha_state": pg.ha_state}
            lines.append(f"PostgreSQL: {pg.state}, high availability {pg.ha_mode} ({pg.ha_state})")
    if "redis" in core:
        cache = _read("Redis", lambda: resources.redis(cache_id=core["redis"]), lines)
        if cache:
            out["redis"] = {"provisioning_state": cache.provisioning_state,
                            "availability_state": cache.availability_state, "shard_count": cache.shard_count}
            lines.append(f"Redis: provisioning state {cache.provisioning_state}, Resource Health "
                         f"{cache.availability_state or 'unknown'}"
                         + (f", {cache.shard_count} shards" if cache.shard_count else ""))
    return out, lines


def due(inc: Incident) -> datetime | None:
    """When diagnostics are due: at once for an open SEV-1/SEV-2 that has none yet."""
    if inc.is_open and inc.severity in ("SEV-1", "SEV-2") and not inc.diagnostics:
        return inc.created_at
    return None


def record(inc: Incident, resources: CloudResources | None, core: Mapping[str, str], now: datetime) -> list[Op]:
    """Gather and record the diagnostics. Returns the first chat message when it waited for them."""
    if resources is None or not core:
        facts, lines = {"skipped": "no core resources configured"}, []
        inc.record(now, "diagnostics", AUTOMATION, "Diagnostics skipped: no core resources configured")
    else:
        facts, lines = gather(resources, core)
        inc.record(now, "diagnostics", AUTOMATION, "Diagnostics (runbook step 2):\n" + "\n".join(lines))
    inc.diagnostics = {"at": iso(now), **facts}
    step = inc.escalation.pop("chat_after_diagnostics", None)
    if step is None:
        return []
    return [outbox.message(now, inc, channel="chat", action="trigger", text=initial_assessment(inc, lines))]
