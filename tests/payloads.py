"""Builders of Common Alert Schema payloads for tests (shaped like Microsoft's published samples)."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parent / "events"
SUB = "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg-procgenie-prod/providers"
API_ID = f"{SUB}/Microsoft.App/containerApps/ca-procgenie-api"
PG_ID = f"{SUB}/Microsoft.DBforPostgreSQL/flexibleServers/psql-procgenie-prod"
REDIS_ID = f"{SUB}/Microsoft.Cache/Redis/redis-procgenie-prod"
OTHER_ID = f"{SUB}/Microsoft.Web/sites/app-reports"
CORE_SETTINGS = {"API_CONTAINER_APP_ID": API_ID, "POSTGRES_SERVER_ID": PG_ID, "REDIS_CACHE_ID": REDIS_ID}
CORE = {"api": API_ID.lower(), "postgres": PG_ID.lower(), "redis": REDIS_ID.lower()}


def event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def metric_alert(alert_id: str = "a1", *, target: str = API_ID, severity: str = "Sev0",
                 condition: str = "Fired", fired: str = "2026-11-27T03:00:00.1234567Z",
                 rule: str = "api-5xx", metric: str = "Requests", custom: dict | None = None) -> dict[str, Any]:
    essentials = {
        "alertId": f"/subscriptions/11111111-1111-1111-1111-111111111111/providers/Microsoft.AlertsManagement/alerts/{alert_id}",
        "alertRule": rule, "severity": severity, "signalType": "Metric", "monitorCondition": condition,
        "monitoringService": "Platform", "alertTargetIDs": [target.lower()],
        "configurationItems": [target.rsplit("/", 1)[-1]], "originAlertId": f"origin-{alert_id}",
        "firedDateTime": fired, "description": f"{rule} fired", "essentialsVersion": "1.0",
        "alertContextVersion": "1.0",
    }
    if condition == "Resolved":
        essentials["resolvedDateTime"] = fired
    context = {"properties": None, "conditionType": "SingleResourceMultipleMetricCriteria",
               "condition": {"windowSize": "PT5M", "allOf": [
                   {"metricName": metric, "metricNamespace": "Microsoft.App/containerApps", "operator": "GreaterThan",
                    "threshold": "10", "timeAggregation": "Total", "dimensions": [], "metricValue": 42.0}],
                   "windowStartTime": fired, "windowEndTime": fired}}
    body = {"schemaId": "azureMonitorCommonAlertSchema",
            "data": {"essentials": essentials, "alertContext": context}}
    if custom is not None:
        body["data"]["customProperties"] = custom
    return copy.deepcopy(body)


def resolved(body: dict[str, Any], at: str = "2026-11-27T03:05:00Z") -> dict[str, Any]:
    out = copy.deepcopy(body)
    out["data"]["essentials"]["monitorCondition"] = "Resolved"
    out["data"]["essentials"]["resolvedDateTime"] = at
    return out
