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


SUBSCRIPTION_ID = SUB.split("/resourceGroups/")[0]
_ALERTS = "/subscriptions/11111111-1111-1111-1111-111111111111/providers/Microsoft.AlertsManagement/alerts"


def resource_health(alert_id: str, *, target: str = PG_ID, status: str = "Unavailable", previous: str = "Available",
                    cause: str | None = "PlatformInitiated", rule: str = "ir-prod-postgres-health",
                    fired: str = "2026-11-27T03:00:00Z", event_status: str | None = None,
                    title: str | None = None) -> dict[str, Any]:
    """A Resource Health alert: Microsoft's test payload (tests/events/test-resourcehealth-fired.json,
    alerts-payload-samples.md "Resource health alert") on `target`, with the given currentHealthStatus,
    previousHealthStatus and cause (None: null, as Azure may send it). alertContext.status stays the
    sample's "Active" unless `event_status` says otherwise."""
    body = event("test-resourcehealth-fired.json")
    ess, context = body["data"]["essentials"], body["data"]["alertContext"]
    ess.update(alertId=f"{_ALERTS}/{alert_id}", alertRule=rule, alertTargetIDs=[target.lower()],
               configurationItems=[target.rsplit("/", 1)[-1]], firedDateTime=fired)
    context.update(eventTimestamp=fired, submissionTimestamp=fired)
    context["properties"].update(currentHealthStatus=status, previousHealthStatus=previous, cause=cause)
    if title is not None:
        context["properties"]["title"] = title
    if event_status is not None:
        context["status"] = event_status
    return body


def service_health(alert_id: str, *, tracking_id: str, stage: str = "Active", rule: str = "ir-prod-service-health",
                   fired: str = "2026-11-27T03:00:00Z", title: str = "Azure Database for PostgreSQL - West Europe"
                   ) -> dict[str, Any]:
    """A Service Health alert: Microsoft's test payload (tests/events/test-servicehealth-fired.json,
    alerts-payload-samples.md "Service health alert", where it arrives Fired at stage Resolved) for one
    Azure incident (`tracking_id`) at `stage`; alertContext.status is Resolved at stage Resolved, else
    Active (the schema's two values)."""
    body = event("test-servicehealth-fired.json")
    ess, context = body["data"]["essentials"], body["data"]["alertContext"]
    ess.update(alertId=f"{_ALERTS}/{alert_id}", alertRule=rule, alertTargetIDs=[SUBSCRIPTION_ID],
               firedDateTime=fired)
    context.update(eventTimestamp=fired, submissionTimestamp=fired,
                   status="Resolved" if stage.lower() == "resolved" else "Active")
    context["properties"].update(trackingId=tracking_id, stage=stage, title=title, defaultLanguageTitle=title)
    return body
