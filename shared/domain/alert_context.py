"""What the alertContext says, per kind: metric names, dimensions, the condition in words, event fields.

The alertContext shape depends on monitoringService and is the least consistent part of the schema, so
every reader here takes any JSON value and returns something empty rather than raising.
"""
from __future__ import annotations

import re
from typing import Any, Mapping

from shared.domain.alert_values import MAX_LABEL, MAX_VALUE, as_text, clip, dig, opt_str, text

_OPERATORS = {
    "greaterthan": ">", "greaterthanorequal": ">=", "greaterorequal": ">=", "lessthan": "<",
    "lowerthan": "<", "lessthanorequal": "<=", "lowerthanorequal": "<=", "lessorequal": "<=",
    "equals": "=", "equal": "=", "equalto": "=", "notequals": "!=", "notequal": "!=",
    "greaterorlessthan": "<>", "greaterorlower": "<>",
}
# Activity log `level` as an integer (ServiceHealth payloads): the docs print the same sample once with
# 3 and once with "Informational", which fits the Insights EventLevel order.
_LEVELS = {0: "Critical", 1: "Error", 2: "Warning", 3: "Informational", 4: "Verbose"}
_PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
                 "bool", "offset", "inf", "nan", "atan2"}


def operator(value: Any) -> str:
    """"GreaterThan" / "Greater Than" -> ">"; an unknown operator as sent; "" when absent."""
    word = text(value)
    return _OPERATORS.get(word.replace(" ", "").lower(), word)


def conditions(context: Mapping[str, Any]) -> list[dict[str, Any]]:
    """condition.allOf[] entries that are objects (metric alerts, Log Alerts V2, Simple Log Alert)."""
    all_of = dig(context, "condition", "allOf")
    return [c for c in all_of if isinstance(c, dict)] if isinstance(all_of, list) else []


def has_condition(context: Mapping[str, Any]) -> bool:
    """True for rule-condition contexts (metric, Log Alerts V2, Simple Log Alert), not event contexts."""
    return "conditionType" in context or isinstance(context.get("condition"), dict)


def metric_names(context: Mapping[str, Any], service: str) -> tuple[str, ...]:
    """Metric names of the conditions; for Prometheus, the metric(s) the expression reads."""
    names = [opt_str(c.get("metricName"), MAX_LABEL) for c in conditions(context)]
    if service == "Prometheus":
        names += promql_metrics(context.get("expression"))
    return tuple(dict.fromkeys(n for n in names if n))


def promql_metrics(expression: Any) -> list[str]:
    """Metric names in a PromQL expression: identifiers that are not functions, keywords or labels."""
    if not isinstance(expression, str) or len(expression) > 4000:
        return []
    expr = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', " ", expression)   # string literals
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", expr)                              # matchers, ranges
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    found = []
    for m in re.finditer(r"(?<![\w.:])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?", expr):
        if not m.group(2) and m.group(1).lower() not in _PROMQL_WORDS:
            found.append(m.group(1))
    return found


def dimensions(context: Mapping[str, Any], service: str) -> dict[str, str]:
    """Dimension name -> value from every condition (first value wins), log v1 Dimensions, Prometheus labels;
    names cut to MAX_LABEL characters, values to MAX_VALUE."""
    pairs: list[Any] = []
    for c in conditions(context):
        dims = c.get("dimensions")
        pairs += dims if isinstance(dims, list) else []
    if isinstance(context.get("Dimensions"), list):
        pairs += context["Dimensions"]
    out: dict[str, str] = {}
    for p in pairs:
        name = opt_str(p.get("name"), MAX_LABEL) if isinstance(p, dict) else None
        if name:
            out.setdefault(name, clip(as_text(p.get("value")), MAX_VALUE))
    if service == "Prometheus" and isinstance(context.get("labels"), dict):
        for k, v in context["labels"].items():
            out.setdefault(clip(str(k), MAX_LABEL), clip(as_text(v), MAX_VALUE))
    return out


def event_level(value: Any) -> str | None:
    """Activity-log level as a word; integers mapped (3 -> "Informational"), unknown ones as their text."""
    if isinstance(value, int) and not isinstance(value, bool):
        return _LEVELS.get(value, clip(str(value), MAX_LABEL))
    return opt_str(value, MAX_LABEL)


def _num(value: Any) -> str:
    """A threshold for display: 10000.0 -> "10000"."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return text(value)


def _metric_hint(c: Mapping[str, Any], dynamic: bool) -> str:
    name = text(c.get("metricName")) or text(c.get("webTestName"))
    op, threshold = operator(c.get("operator")), _num(c.get("threshold"))
    hint = " ".join(p for p in (name, op, threshold) if p)
    return hint + " (dynamic)" if hint and dynamic else hint


def _log_query_hint(c: Mapping[str, Any]) -> str:
    agg, column = text(c.get("timeAggregation")), text(c.get("metricMeasureColumn"))
    measure = f"{agg}({column})" if agg and column else agg or column
    op, threshold = operator(c.get("operator")), _num(c.get("threshold"))
    if not op:
        return "log query matched"
    return " ".join(p for p in ("log query", measure, op, threshold) if p)


def condition_hint(service: str, context: Mapping[str, Any]) -> str:
    """A few words for the summary line: what crossed which threshold, or which event happened."""
    if has_condition(context):
        dynamic = text(context.get("conditionType")).lower().startswith("dynamic")
        hints = [_log_query_hint(c) if "searchQuery" in c else _metric_hint(c, dynamic)
                 for c in conditions(context)]
        return ", ".join(h for h in hints if h)
    raw_props = context.get("properties")
    props: dict[str, Any] = raw_props if isinstance(raw_props, dict) else {}
    if service == "ServiceHealth":
        title, stage = text(props.get("title")), text(props.get("stage"))
        return f"{title} ({stage})" if title and stage else title
    if service == "Resource Health":
        current, title = text(props.get("currentHealthStatus")), text(props.get("title"))
        return ": ".join(p for p in (current, title) if p)
    if service == "SmartDetector":
        return text(context.get("DetectionSummary"))
    if service == "Prometheus":
        expression = " ".join(text(context.get("expression")).split())
        summary = text(dig(context, "annotations", "summary"))
        return expression if expression and len(expression) <= 60 else summary or expression
    if service == "CostAlerts":
        return _budget_hint(context)
    if "SearchQuery" in context or "AlertType" in context:  # log search alert v1
        op, threshold = operator(context.get("Operator")), _num(context.get("Threshold"))
        count = _num(context.get("ResultCount"))
        hint = " ".join(p for p in ("log query", op, threshold) if p)
        return f"{hint} (got {count})" if count else hint
    operation, status = text(context.get("operationName")), text(context.get("status"))
    return " ".join(p for p in (operation, status) if p)  # activity log kinds


def _budget_hint(context: Mapping[str, Any]) -> str:
    raw = context.get("AlertData")
    data: dict[str, Any] = raw if isinstance(raw, dict) else {}
    name, kind = text(data.get("BudgetName")), text(data.get("ThresholdType"))
    spent = text(data.get("ForecastedTotalForPeriod")) if kind.lower() == "forecasted" else ""
    spent = spent or text(data.get("SpentAmount"))
    threshold = text(data.get("NotificationThresholdAmount")) or text(data.get("BudgetThreshold"))
    words = ["budget", name, kind.lower(), spent, f">= {threshold}" if threshold else ""]
    return " ".join(w for w in words if w) if name or spent else ""


def budget_id(context: Mapping[str, Any]) -> str | None:
    """The budget's ARM id (CostAlerts alertContext.AlertData.BudgetId), or None."""
    return opt_str(dig(context, "AlertData", "BudgetId"))


# Resource Health (Microsoft Learn, "Azure Activity Log event schema", section "Resource health category",
# https://learn.microsoft.com/azure/azure-monitor/platform/activity-log-schema: properties.currentHealthStatus
# is one of Available, Unavailable, Degraded and Unknown; properties.cause is UserInitiated or
# PlatformInitiated). The common schema carries that event's properties in alertContext.properties
# (tests/events/test-resourcehealth-fired.json). ServiceHealth: trackingId and stage, same place
# (tests/events/test-servicehealth-fired.json); their meaning: Learn, "Service Health notifications",
# https://learn.microsoft.com/azure/service-health/service-health-notifications-properties.
_HEALTH = {w.lower(): w for w in ("Available", "Unavailable", "Degraded", "Unknown")}
_CAUSES = {w.lower(): w for w in ("UserInitiated", "PlatformInitiated")}


def _props(context: Mapping[str, Any]) -> Mapping[str, Any]:
    props = context.get("properties")
    return props if isinstance(props, dict) else {}


def health_status(context: Mapping[str, Any]) -> str | None:
    """Resource Health: properties.currentHealthStatus, in the docs' spelling when known, else as sent."""
    word = opt_str(_props(context).get("currentHealthStatus"), MAX_LABEL)
    return _HEALTH.get(word.lower(), word) if word else None


def health_cause(context: Mapping[str, Any]) -> str | None:
    """Resource Health: properties.cause; None when Azure leaves it out ("It's possible for the cause field
    to be null in some events", Learn: "Create and configure Resource Health alerts",
    https://learn.microsoft.com/azure/service-health/resource-health-alert-arm-template-guide)."""
    word = opt_str(_props(context).get("cause"), MAX_LABEL)
    return _CAUSES.get(word.lower(), word) if word else None


def tracking_id(context: Mapping[str, Any]) -> str | None:
    """ServiceHealth: properties.trackingId, "the incident this event is associated with. Use this tracking
    ID to correlate the events related to an incident" (Learn: "Service Health notifications")."""
    return opt_str(_props(context).get("trackingId"), MAX_LABEL)


def stage(context: Mapping[str, Any]) -> str | None:
    """ServiceHealth: properties.stage (Active, Resolved, RCA; for maintenance also Planned, InProgress,
    Canceled, Rescheduled, Complete)."""
    return opt_str(_props(context).get("stage"), MAX_LABEL)
