"""Common Alert Schema -> Alert: validated, typed, lenient where Azure is inconsistent.

Strict about what identifies and dates an alert (schemaId, alertId, monitorCondition, firedDateTime);
lenient about everything else, because Azure's kinds disagree on types (string or array, string or
integer enums, null or absent). Helpers: alert_values (single values), alert_context (per-kind
alertContext), alert_legacy (non-common schemas).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

from shared.domain import alert_context as ctx
from shared.domain.alert_legacy import COMMON_SCHEMA_ID, unsupported
from shared.domain.alert_values import (MAX_ID, MAX_ITEMS, MAX_LABEL, MAX_TEXT, MAX_VALUE, arm_id_problem, arm_name,
                                        is_subscription_id, lower_ids, opt_str, parse_severity, parse_timestamp,
                                        resource_types, str_list, str_map, text)
from shared.domain.errors import InvalidInput

FIRED = "Fired"
RESOLVED = "Resolved"


@dataclass(frozen=True)
class Alert:
    alert_id: str                      # essentials.alertId, as sent (ids compared case-insensitively)
    monitor_condition: str             # FIRED or RESOLVED
    monitoring_service: str            # normalised: "Platform", "Log Analytics", "Application Insights",
                                       # "Log Alerts V2", "Activity Log - Administrative", "Activity Log - Policy",
                                       # "Activity Log - Autoscale", "Activity Log - Security", "ServiceHealth",
                                       # "Resource Health", "SmartDetector", "CostAlerts", "Prometheus", or as sent
                                       # ("Simple Log Alert", ...); "Unknown" when absent or not a string
    signal_type: str | None            # "Metric", "Log", "Activity Log" (normalised from "ActivityLog"), or None
    severity: int | None               # 0..4 from "Sev0".."Sev4" (or an integer), None when absent (budgets)
    alert_rule: str | None             # rule name, None for budgets
    alert_rule_id: str | None          # essentials.alertRuleId/alertRuleID; for budgets AlertData.BudgetId
    target_ids: tuple[str, ...]        # alertTargetIDs, lower-cased ARM ids
    target_resource_types: tuple[str, ...]  # lower-cased, e.g. "microsoft.app/containerapps"
    fired_at: datetime                 # UTC, tz-aware
    resolved_at: datetime | None       # UTC, tz-aware
    description: str = ""
    origin_alert_id: str | None = None
    essentials_version: str | None = None
    alert_context_version: str | None = None
    configuration_items: tuple[str, ...] = ()
    metric_names: tuple[str, ...] = ()  # metric names from alertContext (metric alerts, Prometheus)
    custom_properties: Mapping[str, str] = field(default_factory=dict)  # never None
    summary: str = ""                  # one human line: what fired, on what, why (for titles)
    condition_type: str | None = None  # alertContext.conditionType ("DynamicThresholdCriteria", "LogQueryCriteria")
    dimensions: Mapping[str, str] = field(default_factory=dict)  # metric/log dimensions, Prometheus labels
    operation_name: str | None = None  # activity-log kinds: alertContext.operationName
    event_level: str | None = None     # activity-log kinds: "Informational", "Warning", ... (ints mapped)
    event_status: str | None = None    # activity-log kinds: alertContext.status ("Active", "Resolved", ...)
    health_status: str | None = None   # Resource Health: properties.currentHealthStatus ("Available", "Degraded",
                                       # "Unavailable", "Unknown")
    health_cause: str | None = None    # Resource Health: properties.cause ("UserInitiated", "PlatformInitiated"),
                                       # None when Azure leaves it out
    tracking_id: str | None = None     # ServiceHealth: properties.trackingId (one Azure incident, every update)
    stage: str | None = None           # ServiceHealth: properties.stage ("Active", "Resolved", "RCA", ...)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def fingerprint(self) -> str:
        """The key that groups the notices of one problem, case-insensitively: alert rule + targets.

        Two kinds are keyed otherwise, because their alerts are stateless (activity-log alerts only ever
        arrive Fired) and a later notice of the same problem must find the incident the first one opened:
        Resource Health by the resource alone, so that its Available event resolves what its Unavailable or
        Degraded event opened whichever rule sent either; ServiceHealth by the tracking id (Learn: "Use this
        tracking ID to correlate the events related to an incident"), so that a Resolved of one Azure
        incident leaves the others open. Without a tracking id (an alert read back without its
        alertContext), rule + targets."""
        if self.monitoring_service == "Resource Health" and self.target_ids:
            return "resource health|" + ",".join(sorted(self.target_ids))
        if self.monitoring_service == "ServiceHealth" and self.tracking_id:
            return "servicehealth|" + self.tracking_id.lower()
        rule = (self.alert_rule_id or self.alert_rule or self.monitoring_service or "").lower()
        return rule + "|" + ",".join(sorted(self.target_ids))

    @property
    def fingerprint_basis(self) -> str:
        """What two alerts of one fingerprint share, in words (for the timeline)."""
        if self.fingerprint.startswith("resource health|"):
            return "Resource Health of the same resource"
        if self.fingerprint.startswith("servicehealth|"):
            return f"the same Service Health incident (tracking id {self.tracking_id})"
        return "same alert rule and target"

    @property
    def is_resolved(self) -> bool:
        return self.monitor_condition == RESOLVED

    @property
    def is_recovery_notice(self) -> bool:
        """A notice that a problem is over, which Azure sends as a new *Fired* alert: Service Health at a
        closing stage (Resolved, RCA, Complete, Canceled) or status Resolved, Resource Health back to
        Available (or its event Resolved). It must not open an incident."""
        status = (self.event_status or "").lower()
        if self.monitoring_service == "ServiceHealth":
            return (self.stage or "").lower() in _SERVICE_HEALTH_OVER or status == "resolved"
        if self.monitoring_service == "Resource Health":
            return (self.health_status or "").lower() == "available" or status == "resolved"
        return False


_SERVICES = {k.replace(" ", "").replace("-", "").lower(): v for k, v in {
    "Platform": "Platform", "Log Analytics": "Log Analytics", "Application Insights": "Application Insights",
    "Log Alerts V2": "Log Alerts V2", "Activity Log - Administrative": "Activity Log - Administrative",
    "Activity Log - Policy": "Activity Log - Policy", "Activity Log - Autoscale": "Activity Log - Autoscale",
    "Activity Log - Security": "Activity Log - Security", "ServiceHealth": "ServiceHealth",
    "Resource Health": "Resource Health", "SmartDetector": "SmartDetector", "CostAlerts": "CostAlerts",
    "Prometheus": "Prometheus", "Simple Log Alert": "Simple Log Alert",
}.items()}
_SIGNALS = {"metric": "Metric", "log": "Log", "activitylog": "Activity Log"}
# Stages after which a Service Health event has nothing more to say (Learn, "Service Health notifications":
# Incident and Security go Active, Resolved, RCA; Maintenance ends Resolved, Complete or Canceled).
_SERVICE_HEALTH_OVER = frozenset({"resolved", "rca", "complete", "canceled", "cancelled"})
_SUMMARY_MAX = 200
E = "$.data.essentials"


def parse_alert(payload: Any) -> Alert:
    """Parse a decoded JSON body (any JSON value) into an Alert.

    Raises InvalidInput(path, message) for a malformed common-schema payload: body, `data` or
    `data.essentials` not an object, `alertId` missing or empty, `monitorCondition` not Fired/Resolved,
    `firedDateTime` missing or unreadable, an identity too long to store (alertId or alertRule over
    MAX_ID characters, an ARM id in alertTargetIDs, alertRuleId or a budget's id over MAX_ARM_ID bytes or
    with a control character). Raises UnsupportedSchema (an InvalidInput) when schemaId is not
    "azureMonitorCommonAlertSchema": `looks_like` names the legacy schema it resembles. Descriptive
    text is cut to size instead (alert_values' bounds). Never raises anything else, whatever the JSON.
    """
    if not isinstance(payload, dict):
        raise InvalidInput("$", f"expected a JSON object (an Azure Monitor alert), got {_kind(payload)}")
    schema_id = payload.get("schemaId")
    if not (isinstance(schema_id, str) and schema_id.strip().lower() == COMMON_SCHEMA_ID.lower()):
        raise unsupported(payload)
    data = payload.get("data")
    if not isinstance(data, dict):
        raise InvalidInput("$.data", f"expected an object, got {_kind(data)}")
    ess = data.get("essentials")
    if not isinstance(ess, dict):
        raise InvalidInput(E, f"expected an object, got {_kind(ess)}")
    raw_context = data.get("alertContext")
    context: dict[str, Any] = raw_context if isinstance(raw_context, dict) else {}

    alert_id = ess.get("alertId")
    if not isinstance(alert_id, str) or not alert_id.strip():
        got = "an empty string" if isinstance(alert_id, str) else _kind(alert_id)
        raise InvalidInput(f"{E}.alertId", f"required: a non-empty string, got {got}")
    _bounded(alert_id.strip(), f"{E}.alertId", "an alert id")
    condition = _monitor_condition(ess.get("monitorCondition"))
    fired_at = parse_timestamp(ess.get("firedDateTime"))
    if fired_at is None:
        raise InvalidInput(f"{E}.firedDateTime", "required: an ISO-8601 date and time (e.g. "
                           f"2019-03-22T13:58:24.3713213Z), got {_shown(ess.get('firedDateTime'))}")

    service = _service(ess.get("monitoringService"))
    raw_targets = str_list(ess.get("alertTargetIDs"), numbers=False)
    _arm_ids(ess.get("alertTargetIDs"), f"{E}.alertTargetIDs")
    target_ids = lower_ids(raw_targets)
    custom = str_map(data.get("customProperties"))
    if ctx.has_condition(context):
        # Metric and log v2 rules also echo their custom properties in alertContext.properties
        # (the doc's Log Alerts V2 sample has them only there); customProperties wins on conflict.
        custom = {**str_map(context.get("properties")), **custom}
    rule = opt_str(ess.get("alertRule"))
    if rule is not None:
        _bounded(rule, f"{E}.alertRule", "an alert rule name (Azure allows 260 characters)")
    rule_id = _rule_id(ess, context, service)
    description = text(ess.get("description"), MAX_TEXT)
    items = str_list(ess.get("configurationItems"), limit=MAX_VALUE, count=MAX_ITEMS)
    hint = ctx.condition_hint(service, context)
    return Alert(
        alert_id=alert_id.strip(),
        monitor_condition=condition,
        monitoring_service=service,
        signal_type=_signal(ess.get("signalType")),
        severity=parse_severity(ess.get("severity")),
        alert_rule=rule,
        alert_rule_id=rule_id,
        target_ids=target_ids,
        target_resource_types=resource_types(target_ids),
        fired_at=fired_at,
        resolved_at=parse_timestamp(ess.get("resolvedDateTime")),
        description=description,
        origin_alert_id=opt_str(ess.get("originAlertId"), MAX_ID),
        essentials_version=opt_str(ess.get("essentialsVersion"), MAX_LABEL),
        alert_context_version=opt_str(ess.get("alertContextVersion"), MAX_LABEL),
        configuration_items=items,
        metric_names=ctx.metric_names(context, service),
        custom_properties=custom,
        summary=_summary(rule, hint, _target_label(raw_targets, () if service == "CostAlerts" else items),
                         description, service),
        condition_type=opt_str(context.get("conditionType"), MAX_LABEL),
        dimensions=ctx.dimensions(context, service),
        operation_name=opt_str(context.get("operationName"), MAX_VALUE),
        event_level=ctx.event_level(context.get("level")),
        event_status=opt_str(context.get("status"), MAX_LABEL),
        health_status=ctx.health_status(context) if service == "Resource Health" else None,
        health_cause=ctx.health_cause(context) if service == "Resource Health" else None,
        tracking_id=ctx.tracking_id(context) if service == "ServiceHealth" else None,
        stage=ctx.stage(context) if service == "ServiceHealth" else None,
        raw=payload,
    )


def _bounded(value: str, path: str, what: str) -> None:
    if len(value) > MAX_ID:
        raise InvalidInput(path, f"is {len(value)} characters long; {what} is at most {MAX_ID}")


def _arm_ids(value: Any, path: str) -> None:
    """Refuse an ARM id too long (or too odd) to store: ids are identities, so they are never cut."""
    items = value if isinstance(value, list) else [value]
    for i, item in enumerate(items):
        problem = arm_id_problem(item.strip()) if isinstance(item, str) else None
        if problem:
            raise InvalidInput(f"{path}[{i}]" if isinstance(value, list) else path, problem)


def _rule_id(ess: dict[str, Any], context: dict[str, Any], service: str) -> str | None:
    """essentials.alertRuleId (or alertRuleID); for budgets, alertContext.AlertData.BudgetId."""
    for key in ("alertRuleId", "alertRuleID"):
        _arm_ids(opt_str(ess.get(key)), f"{E}.{key}")
        if opt_str(ess.get(key)):
            return opt_str(ess.get(key))
    if service == "CostAlerts":
        _arm_ids(ctx.budget_id(context), "$.data.alertContext.AlertData.BudgetId")
        return ctx.budget_id(context)
    return None


def _monitor_condition(value: Any) -> str:
    path = f"{E}.monitorCondition"
    if isinstance(value, str):
        word = value.strip().lower()
        if word in ("fired", "resolved"):
            return FIRED if word == "fired" else RESOLVED
        raise InvalidInput(path, f"expected 'Fired' or 'Resolved', got {_shown(value)}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise InvalidInput(path, f"expected 'Fired' or 'Resolved', got the number {value}: Azure documents "
                           "only the strings, so a numeric code is not guessed")
    raise InvalidInput(path, f"required: 'Fired' or 'Resolved', got {_kind(value)}")


def _service(value: Any) -> str:
    name = opt_str(value, MAX_LABEL) if isinstance(value, str) else None
    if name is None:
        return "Unknown"
    return _SERVICES.get(name.replace(" ", "").replace("-", "").replace("_", "").lower(), name)


def _signal(value: Any) -> str | None:
    name = opt_str(value, MAX_LABEL) if isinstance(value, str) else None
    if name is None:
        return None
    return _SIGNALS.get(name.replace(" ", "").replace("_", "").lower(), name)


def _target_label(raw_targets: tuple[str, ...], items: tuple[str, ...]) -> str:
    """The first target's name as written ("ca-procgenie-api"), "+N more" when there are several.

    A bare subscription (ServiceHealth) says nothing a reader can act on, so it gives no label.
    Budgets' configurationItems is the category ("budgets"), not a resource, so the caller drops it."""
    named = [arm_name(t) for t in raw_targets if not is_subscription_id(t)]
    if not named and not raw_targets:
        named = list(items)
    if not named:
        return ""
    return named[0] + (f" (+{len(named) - 1} more)" if len(named) > 1 else "")


def _summary(rule: str | None, hint: str, target: str, description: str, service: str) -> str:
    """`rule: hint on target`, parts dropped when missing; else description; else the service."""
    line = ": ".join(p for p in (rule, hint) if p)
    if line and target and target.lower() not in line.lower():
        line += f" on {target}"
    line = " ".join((line or description or service).split())  # one line, whatever the payload held
    return line if len(line) <= _SUMMARY_MAX else line[:_SUMMARY_MAX - 1].rstrip() + "…"


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (missing or null)"
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array",
             dict: "an object"}
    return names.get(type(value), type(value).__name__)


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    return _kind(value)
