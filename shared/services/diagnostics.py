"""Runbook step 2 as code: read-only diagnostics when a SEV-1 or SEV-2 opens.

The runbook's Application Insights query for error spikes (its top rows), the API container app's
running status and latest three revisions, the PostgreSQL server's state and high availability, the
Redis cache's provisioning state and Resource Health. A failed read or query is noted, never raised:
diagnostics never block anything (the query is bounded by the adapter's timeout).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Callable, Mapping

from shared.domain import escalation as ladder
from shared.domain.errors import DependencyFailed
from shared.domain.events import Event
from shared.domain.incident import AUTOMATION, Incident
from shared.domain.timeutil import iso
from shared.ports import CloudResources, LogAnswer, Observers, observers_of
from shared.domain.policy import Runbook
from shared.services import communications

DIAGNOSE = "diag"
# RUNBOOK.md section 3, SEV-1 step 2.1, verbatim: "Check Application Insights for error spikes".
ERROR_SPIKES_QUERY = """AppRequests
| where Success == false
| where TimeGenerated > ago(15m)
| summarize count() by ResultCode, OperationName
| order by count_ desc"""
QUERY_SPAN = timedelta(minutes=15)   # the query's own ago(15m), also sent as its timespan
TOP_ROWS = 5
MAX_CELL = 200


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


def error_spikes(observers: Observers) -> tuple[dict[str, Any], list[str]]:
    """The runbook's failed-requests query: its top rows, or why it was skipped or failed."""
    title = "Application Insights failed requests, last 15 min"
    if observers.logs is None:
        why = "LOG_ANALYTICS_WORKSPACE_ID is not set"
        return {"skipped": why}, [f"{title}: query skipped ({why})"]
    try:
        answer = observers.logs.query(query=ERROR_SPIKES_QUERY, timespan=QUERY_SPAN)
    except DependencyFailed as e:
        return {"error": str(e)}, [f"{title}: unavailable ({e})"]
    rows = _top_rows(answer)
    facts: dict[str, Any] = {"rows": rows}
    lines = [f"{title}: " + ("none" if not rows else f"top {len(rows)} by count")]
    lines += [f"  {r['result_code']} {r['operation']}: {r['count']}" for r in rows]
    if answer.partial_error:
        facts["partial_error"] = answer.partial_error
        lines.append(f"  (partial result: {answer.partial_error})")
    return facts, lines


def _top_rows(answer: LogAnswer) -> list[dict[str, Any]]:
    if not answer.tables:
        return []
    table = answer.tables[0]      # PrimaryResult
    col = {name: i for i, name in enumerate(table.columns)}

    def cell(row: tuple[Any, ...], name: str) -> Any:
        return row[col[name]] if name in col and col[name] < len(row) else None
    # bounded: the rows are kept on the incident, and operation names are the API's routes
    return [{"result_code": str(cell(r, "ResultCode"))[:MAX_CELL],
             "operation": str(cell(r, "OperationName"))[:MAX_CELL],
             "count": c if isinstance(c := cell(r, "count_"), (int, float)) else str(c)[:MAX_CELL]}
            for r in table.rows[:TOP_ROWS]]


def due(inc: Incident) -> datetime | None:
    """When diagnostics are due: at once for an open SEV-1/SEV-2 that has none yet."""
    if inc.is_open and inc.severity in ("SEV-1", "SEV-2") and not inc.diagnostics:
        return inc.created_at
    return None


def record(inc: Incident, resources: CloudResources | None, core: Mapping[str, str], now: datetime,
           runbook: Runbook) -> list[Event]:
    """Gather and record the diagnostics. Returns the first chat message when it waited for them."""
    facts: dict[str, Any]
    lines: list[str]
    if resources is None or not core:
        why = "no core resources configured" if not core else \
            "AZURE_SUBSCRIPTION_ID is not set, so the app has no Azure Resource Manager access"
        facts, lines = {"skipped": why}, []
        inc.record(now, "diagnostics", AUTOMATION, f"Diagnostics skipped: {why}")
    else:
        facts, lines = gather(resources, core)
        facts["app_requests"], query_lines = error_spikes(observers_of(resources))
        lines = query_lines + lines
        inc.record(now, "diagnostics", AUTOMATION, "Diagnostics (runbook step 2):\n" + "\n".join(lines))
    inc.diagnostics = {"at": iso(now), **facts}
    step = ladder.release_chat(inc)
    if step is None:
        return []
    return communications.initial(inc, now, runbook, lines)
