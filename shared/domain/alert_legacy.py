"""Recognise payloads that are not the common alert schema, to say which one they are and how to fix it."""
from __future__ import annotations

from typing import Any

from shared.domain.errors import UnsupportedSchema

COMMON_SCHEMA_ID = "azureMonitorCommonAlertSchema"

METRIC_ALERT = "AzureMonitorMetricAlert (metric alert, non-common schema)"
ACTIVITY_LOG = "Microsoft.Insights/activityLogs"
LOG_ALERT_APP_INSIGHTS = "Microsoft.Insights/LogAlert"
LOG_ALERT_V1 = "log search alert v1 (no schemaId)"
CLASSIC_METRIC = "classic metric alert"
BUDGET = "AIP Budget Notification"
ALERTS_MANAGEMENT_RESOURCE = "Microsoft.AlertsManagement/alerts resource (not a notification)"

_BY_SCHEMA_ID = {s.lower(): s for s in (ACTIVITY_LOG, LOG_ALERT_APP_INSIGHTS, BUDGET)}
_BY_SCHEMA_ID["azuremonitormetricalert"] = METRIC_ALERT

# Checked against the Azure docs: the ARM/Bicep property is `useCommonAlertSchema` on each receiver,
# and az CLI takes a trailing `usecommonalertschema` word in `--action`/`--add-action` (there is no
# `--use-common-alert-schema` flag).
HOW_TO_FIX = (
    "enable the common alert schema on the action group's webhook action (Azure portal: Action group > "
    "Actions > Webhook > Enable the common alert schema: Yes; ARM/Bicep: `useCommonAlertSchema: true` on "
    "the webhookReceivers entry; az CLI: `az monitor action-group update -g RG -n GROUP --add-action "
    "webhook NAME URI usecommonalertschema`)")


def looks_like(payload: dict[str, Any]) -> str | None:
    """The name of the non-common schema `payload` resembles, or None when it resembles none we know."""
    schema_id = payload.get("schemaId")
    if isinstance(schema_id, str):
        return _BY_SCHEMA_ID.get(schema_id.strip().lower())
    if schema_id is not None:
        return None
    context = payload.get("context")
    if isinstance(payload.get("status"), str) and isinstance(context, dict) and "condition" in context:
        return CLASSIC_METRIC
    if any(k in payload for k in ("AlertRuleName", "SearchQuery", "SearchIntervalStartTimeUtc")):
        return LOG_ALERT_V1
    props = payload.get("properties")
    if (isinstance(payload.get("type"), str) and payload["type"].lower() == "microsoft.alertsmanagement/alerts"
            or isinstance(props, dict) and isinstance(props.get("essentials"), dict) and "data" not in payload):
        return ALERTS_MANAGEMENT_RESOURCE
    return None


def unsupported(payload: dict[str, Any]) -> UnsupportedSchema:
    """The UnsupportedSchema to raise for a payload whose schemaId is not the common schema's."""
    name = looks_like(payload)
    if name == ALERTS_MANAGEMENT_RESOURCE:
        return UnsupportedSchema(name, (
            "this is an alert as the Alerts Management API returns it, not an action group notification; "
            "send notifications here from an action group instead and " + HOW_TO_FIX))
    if name is not None:
        return UnsupportedSchema(name, f"this payload uses the {name} schema, not the common alert schema; "
                                 + HOW_TO_FIX)
    schema_id = payload.get("schemaId")
    if schema_id is None:
        what = "unknown payload (no schemaId)"
    else:
        shown = schema_id if isinstance(schema_id, str) and len(schema_id) <= 80 else type(schema_id).__name__
        what = f"unknown schemaId {shown!r}"
    return UnsupportedSchema(what, f"{what}: expected schemaId {COMMON_SCHEMA_ID!r}; " + HOW_TO_FIX)
