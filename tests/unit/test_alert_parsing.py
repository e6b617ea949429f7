"""parse_alert over every Microsoft-published payload in tests/events, plus the lenient and strict edges.

Table-driven: every file in tests/events must appear in COMMON or LEGACY below (a new sample fails
test_every_event_file_is_in_a_table until someone states what it should parse to).
"""
from __future__ import annotations

import copy
import json
import random
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from shared.domain.alert_context import promql_metrics
from shared.domain.alert_values import arm_resource_type, parse_timestamp
from shared.domain.alerts import FIRED, RESOLVED, Alert, parse_alert
from shared.domain.errors import InvalidInput, UnsupportedSchema

EVENTS = Path(__file__).resolve().parents[1] / "events"
E = "$.data.essentials"


def load(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


VM, STORAGE, AI, WS = ("microsoft.compute/virtualmachines", "microsoft.storage/storageaccounts",
                       "microsoft.insights/components", "microsoft.operationalinsights/workspaces")
SUBSCRIPTION = "microsoft.resources/subscriptions"
TEST_CUSTOM = {"customKey1": "value1", "customKey2": "value2"}

# file -> (monitoring_service, signal_type, severity, fired_at, resolved_at, target types, metric names, custom)
COMMON: dict[str, tuple] = {
    "metric-static-resolved.json": ("Platform", "Metric", 3, utc(2019, 3, 22, 13, 58, 24, 371321),
                                    utc(2019, 3, 22, 14, 3, 16, 224631), (VM,), ("Percentage CPU",), {}),
    "metric-static-resolved-customproperties.json": (
        "Platform", "Metric", 3, utc(2019, 3, 22, 13, 58, 24, 371321), utc(2019, 3, 22, 14, 3, 16, 224631),
        (VM,), ("Percentage CPU",), {"Key1": "Value1", "Key2": "Value2"}),
    "log-v2-fired.json": ("Log Alerts V2", "Log", 4, utc(2020, 7, 9, 14, 4, 49, 996450), None, (VM,), (),
                          {"name1": "value1", "name2": "value2"}),
    "test-activitylog-administrative-fired.json": ("Activity Log - Administrative", "Activity Log", 4,
                                                   utc(2025, 4, 15, 11, 26, 21, 386000), None, (VM,), (), {}),
    "test-budget-fired.json": ("CostAlerts", None, None, utc(2025, 4, 15, 17, 49, 34, 22000), None, (), (), {}),
    "test-cost-budget-actual-fired.json": ("CostAlerts", None, None, utc(2025, 4, 15, 17, 53, 32, 996000), None,
                                           (), (), {}),
    "test-cost-budget-forecasted-fired.json": ("CostAlerts", None, None, utc(2025, 4, 15, 17, 55, 39, 40000),
                                               None, (), (), {}),
    "test-log-v1-metric-measurement-fired.json": ("Log Analytics", "Log", 4, utc(2025, 4, 15, 17, 57, 27, 967000),
                                                  None, (WS,), (), {}),
    "test-log-v1-number-of-results-fired.json": ("Log Analytics", "Log", 4, utc(2025, 4, 15, 18, 4, 40, 852000),
                                                 None, (WS,), (), {}),
    "test-log-v2-fired.json": ("Log Alerts V2", "Log", 4, utc(2025, 4, 15, 18, 8, 3, 626000), None, (WS,), (),
                               TEST_CUSTOM),
    "test-metric-availability-fired.json": ("Platform", "Metric", 4, utc(2025, 4, 15, 17, 42, 34, 824000), None,
                                            (AI,), ("FailedLocation",), TEST_CUSTOM),
    "test-metric-dynamic-fired.json": ("Platform", "Metric", 4, utc(2025, 4, 15, 18, 15, 16, 104000), None,
                                       (STORAGE,), ("Transactions",), TEST_CUSTOM),
    "test-metric-static-fired.json": ("Platform", "Metric", 4, utc(2025, 4, 15, 18, 17, 12, 851000), None,
                                      (STORAGE,), ("Transactions",), TEST_CUSTOM),
    "test-resourcehealth-fired.json": ("Resource Health", "Activity Log", 4, utc(2025, 4, 15, 18, 19, 45, 304000),
                                       None, (VM,), (), {}),
    "test-servicehealth-fired.json": ("ServiceHealth", "Activity Log", 4, utc(2025, 4, 15, 18, 20, 36, 256000),
                                      None, (SUBSCRIPTION,), (), {}),
    "test-smart-detection-fired.json": ("SmartDetector", "Log", 4, utc(2021, 10, 28, 19, 9, 9, 111508), None,
                                        (AI,), (), {}),
    "test2022-activitylog-administrative-fired.json": ("Activity Log - Administrative", "Activity Log", 4,
                                                       utc(2021, 11, 16, 8, 29, 1, 293246), None, (VM,), (), {}),
    "test2022-metric-dynamic-fired.json": ("Platform", "Metric", 3, utc(2021, 11, 15, 9, 35, 24, 346850), None,
                                           (STORAGE,), ("Transactions",), TEST_CUSTOM),
    "test2022-resourcehealth-fired.json": ("Resource Health", "Activity Log", 4, utc(2021, 11, 16, 9, 54, 8, 993812),
                                           None, (VM,), (), {}),
    # firedDateTime "2021-11-17T05:34:48.0623172" has no zone: read as UTC.
    "test2022-servicehealth-fired.json": ("ServiceHealth", "Activity Log", 4, utc(2021, 11, 17, 5, 34, 48, 62317),
                                          None, (SUBSCRIPTION,), (), {}),
    "test2022-smart-detection-fired.json": ("SmartDetector", "Log", 3, utc(2021, 10, 28, 19, 9, 9, 111508), None,
                                            (AI,), (), {}),
    "wrapped-metric-static-fired.json": ("Platform", "Metric", 3, utc(2019, 3, 26, 5, 25, 50, 499486), None, (AI,),
                                         ("Percentage CPU",), {}),
    "wrapped-metric-dynamic.json": ("Platform", "Metric", 4, utc(2025, 4, 15, 18, 15, 16, 104000), None,
                                    (STORAGE,), ("Egress",), TEST_CUSTOM),
    "wrapped-metric-availability.json": ("Platform", "Metric", 4, utc(2025, 4, 15, 17, 42, 34, 824000), None,
                                         (AI,), ("Failed Location",), TEST_CUSTOM),
    "wrapped-log-v1-loganalytics.json": ("Log Analytics", "Log", 4, utc(2025, 4, 15, 17, 57, 27, 967000), None,
                                         (WS,), (), {}),
    "wrapped-log-v1-loganalytics-2020doc.json": ("Log Analytics", "Log", 4, utc(2025, 4, 15, 17, 57, 27, 967000),
                                                 None, (WS,), (), {}),
    "wrapped-log-v1-appinsights.json": ("Application Insights", "Log", 4, utc(2025, 4, 15, 17, 57, 27, 967000),
                                        None, (WS,), (), {}),
    "wrapped-log-v2.json": ("Log Alerts V2", "Log", 4, utc(2020, 7, 9, 14, 4, 49, 996450), None, (VM,), (),
                            {"name1": "value1", "name2": "value2"}),
    "wrapped-activitylog-administrative.json": ("Activity Log - Administrative", "Activity Log", 4,
                                                utc(2025, 4, 15, 11, 26, 21, 386000), None, (VM,), (), {}),
    "wrapped-activitylog-policy.json": ("Activity Log - Policy", "Activity Log", 4,
                                        utc(2025, 4, 15, 11, 26, 21, 386000), None, (VM,), (), {}),
    "wrapped-activitylog-autoscale.json": ("Activity Log - Autoscale", "Activity Log", 4,
                                           utc(2025, 4, 15, 11, 26, 21, 386000), None, (VM,), (), {}),
    "wrapped-activitylog-security.json": ("Activity Log - Security", "Activity Log", 4,
                                          utc(2025, 4, 15, 11, 26, 21, 386000), None, (VM,), (), {}),
    "wrapped-servicehealth-maintenance.json": ("ServiceHealth", "Activity Log", 4,
                                               utc(2025, 4, 15, 18, 20, 36, 256000), None, (SUBSCRIPTION,), (), {}),
    "wrapped-servicehealth-maintenance-stringenums-doc.json": (
        "ServiceHealth", "Activity Log", 4, utc(2025, 4, 15, 18, 20, 36, 256000), None, (SUBSCRIPTION,), (), {}),
    "wrapped-resourcehealth.json": ("Resource Health", "Activity Log", 4, utc(2025, 4, 15, 18, 19, 45, 304000),
                                    None, (VM,), (), {}),
    "wrapped-prometheus.json": ("Prometheus", "Metric", 4, utc(2025, 4, 15, 18, 17, 12, 851000), None, (STORAGE,),
                                ("sql_up",), TEST_CUSTOM),
    "wrapped-simple-log-alert-doc.json": ("Simple Log Alert", "Log", 4, utc(2025, 4, 15, 18, 8, 3, 626000), None,
                                          (WS,), (), {}),
}

METRIC = "AzureMonitorMetricAlert (metric alert, non-common schema)"
ACTIVITY = "Microsoft.Insights/activityLogs"
LOG_V1 = "log search alert v1 (no schemaId)"
BUDGET = "AIP Budget Notification"
LEGACY: dict[str, str] = {
    "legacy-metric-alert-v2-activated.json": METRIC,
    "legacy-test-metric-static.json": METRIC,
    "legacy-test-metric-dynamic.json": METRIC,
    "legacy-classic-metric-alert-activated.json": "classic metric alert",
    "legacy-log-loganalytics.json": LOG_V1,
    "legacy-test-log-v1-metric-measurement.json": LOG_V1,
    "legacy-test-log-v1-number-of-results.json": LOG_V1,
    "legacy-log-appinsights.json": "Microsoft.Insights/LogAlert",
    "legacy-activitylog-common-skeleton.json": ACTIVITY,
    "legacy-activitylog-administrative.json": ACTIVITY,
    "legacy-activitylog-security.json": ACTIVITY,
    "legacy-activitylog-recommendation.json": ACTIVITY,
    "legacy-activitylog-servicehealth.json": ACTIVITY,
    "legacy-activitylog-resourcehealth.json": ACTIVITY,
    "legacy-test-activitylog-administrative.json": ACTIVITY,
    "legacy-test-servicehealth.json": ACTIVITY,
    "legacy-test-resourcehealth.json": ACTIVITY,
    "legacy-test-budget.json": BUDGET,
    "legacy-test2022-budget-aip.json": BUDGET,
    "legacy-alertsmanagement-smart-detection-failure-anomalies.json":
        "Microsoft.AlertsManagement/alerts resource (not a notification)",
}


def test_every_event_file_is_in_a_table():
    on_disk = {p.name for p in EVENTS.glob("*.json")}
    assert on_disk == set(COMMON) | set(LEGACY)
    assert all(name.startswith("legacy-") for name in LEGACY)
    readme = (EVENTS / "README.md").read_text()
    assert [n for n in on_disk if n not in readme] == []


@pytest.mark.parametrize("name", sorted(COMMON))
def test_common_schema_sample_parses(name):
    service, signal, severity, fired, resolved, types, metrics, custom = COMMON[name]
    body = load(name)
    a = parse_alert(body)
    assert (a.monitoring_service, a.signal_type, a.severity) == (service, signal, severity)
    assert a.fired_at == fired and a.fired_at.utcoffset().total_seconds() == 0
    assert a.resolved_at == resolved
    assert a.monitor_condition == (RESOLVED if resolved else FIRED) and a.is_resolved == bool(resolved)
    assert a.target_resource_types == types
    assert a.metric_names == metrics
    assert dict(a.custom_properties) == custom
    sent = body["data"]["essentials"].get("alertTargetIDs") or []
    assert a.target_ids == tuple(t.lower() for t in sent)
    assert a.alert_id == body["data"]["essentials"]["alertId"]
    assert a.summary and "\n" not in a.summary and len(a.summary) <= 200
    assert a.raw is body


@pytest.mark.parametrize("name", sorted(LEGACY))
def test_legacy_sample_is_rejected_naming_its_schema_and_the_fix(name):
    with pytest.raises(UnsupportedSchema) as e:
        parse_alert(load(name))
    assert e.value.looks_like == LEGACY[name]
    assert e.value.path == "$.schemaId"
    for words in ("Enable the common alert schema: Yes", "useCommonAlertSchema: true", "usecommonalertschema"):
        assert words in e.value.message


# -- specific fields per kind ----------------------------------------------------------------------

def test_metric_alert_summary_rule_dims_and_rule_id():
    a = parse_alert(load("metric-static-resolved-customproperties.json"))
    assert a.summary == "WCUS-R2-Gen2: Percentage CPU > 25"  # target name is already in the rule name
    assert a.alert_rule_id.endswith("/metricAlerts/WCUS-R2-Gen2")
    assert a.condition_type == "SingleResourceMultipleMetricCriteria"
    assert a.dimensions == {"ResourceId": "a0a0a0a0-bbbb-cccc-dddd-e1e1e1e1e1e1"}
    assert a.configuration_items == ("wcus-r2-gen2",)
    assert (a.essentials_version, a.alert_context_version) == ("1.0", "1.0")
    assert a.origin_alert_id.startswith("3f2d4487")
    d = parse_alert(load("test-metric-dynamic-fired.json"))
    assert d.summary == "test-dynamicMetricAlertRule: Transactions > 0.3 (dynamic) on test-storageAccount"


def test_activity_log_kinds_carry_the_operation():
    a = parse_alert(load("test-activitylog-administrative-fired.json"))
    assert a.target_ids == ("/subscriptions/aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e/resourcegroups/test-rg/"
                            "providers/microsoft.compute/virtualmachines/test-vm",)
    assert a.operation_name == "Microsoft.Compute/virtualMachines/restart/action"
    assert (a.event_level, a.event_status) == ("Informational", "Succeeded")
    assert a.summary == ("test-activityLogAlertRule: Microsoft.Compute/virtualMachines/restart/action Succeeded"
                         " on test-VM")
    assert parse_alert(load("wrapped-activitylog-policy.json")).event_level == "Warning"
    sec = parse_alert(load("wrapped-activitylog-security.json"))
    assert sec.operation_name == "Microsoft.Security/locations/alerts/activate/action"
    assert sec.custom_properties == {}  # activity-log properties are event data, not custom properties


def test_service_health_integer_enums_and_resolution_inside_a_fired_alert():
    a = parse_alert(load("test2022-servicehealth-fired.json"))
    assert a.monitor_condition == FIRED and a.event_status == "Resolved"  # Azure: Fired + status Resolved
    assert a.event_level == "Informational"  # level 3
    assert a.summary == "test-ServiceHealthAlertRule: Test Action Group - Test Service Health Alert (Resolved)"
    assert a.configuration_items == ()
    m = parse_alert(load("wrapped-servicehealth-maintenance.json"))
    s = parse_alert(load("wrapped-servicehealth-maintenance-stringenums-doc.json"))
    assert m.event_level == s.event_level == "Informational"
    assert m.summary == "test-ServiceHealthAlertRule: Azure Synapse Analytics Scheduled Maintenance Pending (Planned)"


def test_resource_health_and_smart_detector_summaries():
    assert parse_alert(load("test-resourcehealth-fired.json")).summary == \
        "test-ResourceHealthAlertRule: Unavailable: Rebooted by user on test-VM"
    assert parse_alert(load("test-smart-detection-fired.json")).summary == (
        "test-SmartAlertRule: A degradation in the dependency duration over the last 24 hours"
        " on test-applicationInsights")


def test_budget_has_no_rule_severity_or_targets_but_a_rule_id_and_a_summary():
    a = parse_alert(load("test-cost-budget-actual-fired.json"))
    assert (a.alert_rule, a.severity, a.signal_type, a.target_ids) == (None, None, None, ())
    assert a.alert_rule_id == ("/subscriptions/aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e/providers/"
                               "Microsoft.Consumption/budgets/Test_actual_cost_budget")
    assert a.fingerprint.startswith(a.alert_rule_id.lower() + "|")
    assert a.summary == "budget Test_actual_cost_budget actual $11,111.00 >= $25.00"
    f = parse_alert(load("test-cost-budget-forecasted-fired.json"))
    assert f.summary == "budget Test_forcasted_budget forecasted $1111.11 >= $50.00"


def test_log_alerts():
    v2 = parse_alert(load("log-v2-fired.json"))
    assert v2.configuration_items == () and v2.condition_type == "LogQueryCriteria"
    assert v2.summary == "AcmeRule: log query Count(CounterValue) < 1 on testvm"
    v1 = parse_alert(load("test-log-v1-number-of-results-fired.json"))
    assert v1.summary == "test-logAlertRule-v1-numResults: log query > 0 (got 1) on test-logAnalyticsWorkspace"
    assert v1.configuration_items == ("test-computer",)
    assert parse_alert(load("wrapped-log-v1-appinsights.json")).dimensions == {"IP": "1.1.1.1"}
    simple = parse_alert(load("wrapped-simple-log-alert-doc.json"))
    assert simple.summary == "test-logAlertRule-v2: log query matched on test-logAnalyticsWorkspace"
    assert simple.dimensions == {}


def test_prometheus_metric_and_labels():
    a = parse_alert(load("wrapped-prometheus.json"))
    assert a.metric_names == ("sql_up",)
    assert a.dimensions == {"Environment": "Prod", "cluster": "myCluster1"}
    assert a.summary == "test-metricAlertRule: sql_up > 0 on test-storageAccount"


@pytest.mark.parametrize("expression, names", [
    ("sql_up > 0", ["sql_up"]),
    ('(1 - rate(node_cpu_seconds_total{job="node", mode="idle"}[5m])) / ignoring(cpu) group_left '
     'count without (cpu)(node_cpu_seconds_total{job="node", mode="idle"}) < .8', ["node_cpu_seconds_total"] * 2),
    ('sum by (namespace) (kube_pod_status_ready{condition="false"}) > 0', ["kube_pod_status_ready"]),
    ("1e3 > 2", []),
    (None, []),
])
def test_promql_metric_names(expression, names):
    assert promql_metrics(expression) == names


# -- timestamps -----------------------------------------------------------------------------------

@pytest.mark.parametrize("digits", range(8))
@pytest.mark.parametrize("zone", ["Z", "", "+00:00", "+0000", "z"])
def test_fired_timestamp_with_0_to_7_digits_and_any_utc_zone(digits, zone):
    fraction = "1234567"[:digits]
    stamp = "2019-03-22T13:58:24" + (f".{fraction}" if digits else "") + zone
    body = base()
    body["data"]["essentials"]["firedDateTime"] = stamp
    micro = int(fraction.ljust(6, "0")[:6]) if digits else 0
    fired = parse_alert(body).fired_at
    assert fired == utc(2019, 3, 22, 13, 58, 24, micro) and fired.tzinfo == timezone.utc


@pytest.mark.parametrize("stamp, expected", [
    ("2019-03-22T15:58:24.5+02:00", utc(2019, 3, 22, 13, 58, 24, 500000)),
    ("2019-03-22T08:58:24-05:00", utc(2019, 3, 22, 13, 58, 24)),
    ("2019-03-22 13:58:24Z", utc(2019, 3, 22, 13, 58, 24)),
    ("3/22/2019 1:58:24 PM", utc(2019, 3, 22, 13, 58, 24)),   # how log v1 contexts write times
    ("12/1/2019 12:00:00 AM", utc(2019, 12, 1, 0, 0, 0)),
])
def test_timestamp_offsets_and_forms(stamp, expected):
    assert parse_timestamp(stamp) == expected


@pytest.mark.parametrize("value", [None, "", "yesterday", 1553262000, "2019-13-01T00:00:00Z",
                                   "2019-03-22T25:00:00Z", "2019-03-22", ["2019-03-22T13:58:24Z"], {},
                                   "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00",
                                   "2019-03-22T13:58:24+99:00", "2019-03-22T13:58:60Z", "2" * 5000])
def test_unreadable_or_missing_fired_time_is_rejected_naming_it(value):
    body = base()
    body["data"]["essentials"]["firedDateTime"] = value
    with pytest.raises(InvalidInput) as e:
        parse_alert(body)
    assert e.value.path == f"{E}.firedDateTime"
    del body["data"]["essentials"]["firedDateTime"]
    with pytest.raises(InvalidInput, match="firedDateTime"):
        parse_alert(body)


def test_unreadable_resolved_time_is_dropped_not_fatal():
    body = base()
    body["data"]["essentials"]["resolvedDateTime"] = "soon"
    assert parse_alert(body).resolved_at is None


# -- strict: what identifies an alert --------------------------------------------------------------

def base() -> dict[str, Any]:
    return load("test-metric-static-fired.json")


@pytest.mark.parametrize("payload", [None, [], [base()], "{}", 1, True, 2.5])
def test_body_that_is_not_an_object(payload):
    with pytest.raises(InvalidInput) as e:
        parse_alert(payload)
    assert e.value.path == "$" and not isinstance(e.value, UnsupportedSchema)


@pytest.mark.parametrize("where, value, path", [
    ("data", None, "$.data"), ("data", [], "$.data"), ("data", "x", "$.data"),
    ("essentials", None, E), ("essentials", [], E), ("essentials", "x", E),
])
def test_data_and_essentials_must_be_objects(where, value, path):
    body = base()
    target = body if where == "data" else body["data"]
    target[where] = value
    with pytest.raises(InvalidInput) as e:
        parse_alert(body)
    assert e.value.path == path
    del target[where]
    with pytest.raises(InvalidInput) as e:
        parse_alert(body)
    assert e.value.path == path


@pytest.mark.parametrize("value", [None, "", "   ", 5, [], {}])
def test_alert_id_is_required(value):
    body = base()
    body["data"]["essentials"]["alertId"] = value
    with pytest.raises(InvalidInput) as e:
        parse_alert(body)
    assert e.value.path == f"{E}.alertId"


@pytest.mark.parametrize("value, expected", [("Fired", FIRED), ("fired", FIRED), (" RESOLVED ", RESOLVED),
                                             ("Resolved", RESOLVED)])
def test_monitor_condition_case_insensitive(value, expected):
    body = base()
    body["data"]["essentials"]["monitorCondition"] = value
    assert parse_alert(body).monitor_condition == expected


@pytest.mark.parametrize("value", [0, 1, True, None, "Active", "Activated", "", [], {}])
def test_monitor_condition_rejected(value):
    body = base()
    body["data"]["essentials"]["monitorCondition"] = value
    with pytest.raises(InvalidInput) as e:
        parse_alert(body)
    assert e.value.path == f"{E}.monitorCondition"
    if value in (0, 1) and not isinstance(value, bool):
        assert "number" in e.value.message and "'Fired' or 'Resolved'" in e.value.message


def test_schema_id_is_compared_case_insensitively():
    body = base()
    body["schemaId"] = "AzureMonitorCommonAlertSchema"
    assert parse_alert(body).monitoring_service == "Platform"


@pytest.mark.parametrize("schema_id, looks_like", [
    ("somethingElse", "unknown schemaId 'somethingElse'"), (7, "unknown schemaId 'int'"),
])
def test_unknown_schema_id(schema_id, looks_like):
    body = base()
    body["schemaId"] = schema_id
    with pytest.raises(UnsupportedSchema) as e:
        parse_alert(body)
    assert e.value.looks_like == looks_like and "useCommonAlertSchema" in e.value.message


def test_missing_schema_id_is_unsupported():
    body = base()
    del body["schemaId"]
    with pytest.raises(UnsupportedSchema) as e:
        parse_alert(body)
    assert e.value.looks_like == "unknown payload (no schemaId)"
    with pytest.raises(UnsupportedSchema):
        parse_alert({})


# -- lenient: where Azure is inconsistent ----------------------------------------------------------

@pytest.mark.parametrize("value, expected", [("Sev0", 0), ("sev4", 4), (" Sev2 ", 2), (1, 1), (3.0, 3), ("2", 2),
                                             ("Sev5", None), (7, None), (-1, None), (None, None), (True, None),
                                             ("high", None), ([], None)])
def test_severity(value, expected):
    body = base()
    body["data"]["essentials"]["severity"] = value
    assert parse_alert(body).severity == expected


@pytest.mark.parametrize("value, expected", [("Activity Log", "Activity Log"), ("ActivityLog", "Activity Log"),
                                             ("metric", "Metric"), ("LOG", "Log"), (None, None), (3, None),
                                             ("Trace", "Trace")])
def test_signal_type(value, expected):
    body = base()
    body["data"]["essentials"]["signalType"] = value
    assert parse_alert(body).signal_type == expected


@pytest.mark.parametrize("value, expected", [
    ("Resource Health", "Resource Health"), ("ResourceHealth", "Resource Health"),
    ("resourcehealth", "Resource Health"), ("ActivityLog - Security", "Activity Log - Security"),
    ("Activity Log-Administrative", "Activity Log - Administrative"), ("Service Health", "ServiceHealth"),
    ("Smart Detector", "SmartDetector"), ("Cost Alerts", "CostAlerts"), ("log alerts v2", "Log Alerts V2"),
    ("Brand New Service", "Brand New Service"), (None, "Unknown"), (4, "Unknown"), ("", "Unknown"),
])
def test_monitoring_service_is_normalised(value, expected):
    body = base()
    body["data"]["essentials"]["monitoringService"] = value
    assert parse_alert(body).monitoring_service == expected


APP = "/subscriptions/S/resourceGroups/RG/providers/Microsoft.App/containerApps/ca-procgenie-api"


@pytest.mark.parametrize("value, ids", [
    (APP, (APP.lower(),)),                       # a string, not an array
    ([APP, APP.upper(), None, 3, ""], (APP.lower(),)),
    (None, ()), ({}, ()),
])
def test_targets_string_or_array_lower_cased(value, ids):
    body = base()
    body["data"]["essentials"]["alertTargetIDs"] = value
    a = parse_alert(body)
    assert a.target_ids == ids
    assert a.target_resource_types == (("microsoft.app/containerapps",) if ids else ())


@pytest.mark.parametrize("arm_id, expected", [
    (APP, "microsoft.app/containerapps"),
    ("/subscriptions/s/resourceGroups/g/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg",
     "microsoft.dbforpostgresql/flexibleservers"),
    ("/subscriptions/s/resourceGroups/g/providers/Microsoft.Sql/servers/a/databases/b",
     "microsoft.sql/servers/databases"),
    ("/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/vm/providers/"
     "Microsoft.Insights/diagnosticSettings/d", "microsoft.insights/diagnosticsettings"),
    ("/subscriptions/s", "microsoft.resources/subscriptions"),
    ("/subscriptions/s/resourceGroups/g", "microsoft.resources/resourcegroups"),
    ("/subscriptions/s/resourceGroups/g/providers/", None), ("not an id", None), ("", None),
])
def test_arm_resource_type(arm_id, expected):
    assert arm_resource_type(arm_id) == expected


@pytest.mark.parametrize("value, expected", [("one", ("one",)), (["a", "b", "a", None, 2], ("a", "b", "2")),
                                             (None, ()), ({"x": 1}, ())])
def test_configuration_items_string_or_array(value, expected):
    body = base()
    body["data"]["essentials"]["configurationItems"] = value
    assert parse_alert(body).configuration_items == expected
    del body["data"]["essentials"]["configurationItems"]
    assert parse_alert(body).configuration_items == ()


def test_custom_properties_are_strings_and_never_none():
    body = base()
    body["data"]["alertContext"]["properties"] = None
    body["data"]["customProperties"] = {"n": 5, "b": True, "none": None, "obj": {"a": 1}, "s": "x", "f": 1.5}
    assert parse_alert(body).custom_properties == {"n": "5", "b": "true", "none": "", "obj": '{"a":1}', "s": "x",
                                                   "f": "1.5"}
    for value in (None, [], "x", 3):
        body["data"]["customProperties"] = value
        assert parse_alert(body).custom_properties == {}
    del body["data"]["customProperties"]
    assert parse_alert(body).custom_properties == {}


def test_custom_properties_win_over_alert_context_properties():
    body = base()
    body["data"]["alertContext"]["properties"] = {"impact": "minor", "scope": "all"}
    body["data"]["customProperties"] = {"impact": "core"}
    assert parse_alert(body).custom_properties == {"impact": "core", "scope": "all"}


def test_summary_for_a_cpu_alert_on_a_container_app():
    body = base()
    ess, cond = body["data"]["essentials"], body["data"]["alertContext"]["condition"]["allOf"][0]
    ess.update(alertRule="api-cpu-high", alertTargetIDs=[APP])
    cond.update(metricName="Percentage CPU", operator="GreaterThan", threshold="80")
    assert parse_alert(body).summary == "api-cpu-high: Percentage CPU > 80 on ca-procgenie-api"


def test_summary_is_never_empty():
    body = base()
    ess = body["data"]["essentials"]
    body["data"]["alertContext"] = None
    ess.update(alertRule=None, alertTargetIDs=None, configurationItems=None, description="Disk is full")
    assert parse_alert(body).summary == "Disk is full"
    ess["description"] = None
    assert parse_alert(body).summary == "Platform"
    ess["monitoringService"] = None
    assert parse_alert(body).summary == "Unknown"


def test_summary_is_one_line_and_bounded():
    body = base()
    body["data"]["essentials"]["alertRule"] = "line one\nline two\t" + "x" * 500
    s = parse_alert(body).summary
    assert s.startswith("line one line two x") and len(s) == 200 and "\n" not in s


def test_deeply_nested_custom_property_does_not_crash():
    body = base()
    deep: Any = "leaf"
    for _ in range(5000):
        deep = [deep]
    body["data"]["customProperties"] = {"deep": deep, "ok": "yes"}
    props = parse_alert(body).custom_properties
    assert props["ok"] == "yes" and isinstance(props["deep"], str)


# -- fuzz: no KeyError/TypeError/AttributeError can escape, whatever the JSON -----------------------

REPLACEMENTS = [None, 0, -1, 1.5, True, "", "x", "Sev9", [], [None], [[]], {}, {"a": None}, "2019-03-22T13:58:24Z"]


def paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, child in items:
        out.append(prefix + (key,))
        out += paths(child, prefix + (key,))
    return out


def parse_or_invalid(payload: Any) -> Alert | None:
    try:
        a = parse_alert(payload)
    except InvalidInput:  # UnsupportedSchema included
        return None
    assert isinstance(a, Alert)
    assert a.fired_at.tzinfo == timezone.utc and a.alert_id and a.monitor_condition in (FIRED, RESOLVED)
    assert a.summary and "\n" not in a.summary and isinstance(a.monitoring_service, str)
    assert all(t == t.lower() for t in a.target_ids) and a.severity in (None, 0, 1, 2, 3, 4)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in a.custom_properties.items())
    assert all(isinstance(v, str) for v in a.dimensions.values())
    return a


@pytest.mark.parametrize("name", sorted(set(COMMON) | set(LEGACY)))
def test_fuzz_every_key_deleted_or_replaced(name):
    body = load(name)
    for path in paths(body):
        *parents, last = path
        holder = body
        for step in parents:
            holder = holder[step]
        original = holder[last]
        for value in REPLACEMENTS:
            holder[last] = value
            parse_or_invalid(body)
        if isinstance(holder, dict):
            del holder[last]
            parse_or_invalid(body)
        holder[last] = original  # restore (a dict key moves to the end; order does not matter)


def test_fuzz_random_combinations():
    rng = random.Random(20261127)
    names = sorted(COMMON)
    for _ in range(1500):
        body = load(rng.choice(names))
        for _ in range(rng.randint(1, 6)):
            all_paths = paths(body)
            if not all_paths:
                break
            *parents, last = rng.choice(all_paths)
            holder = body
            for step in parents:
                holder = holder[step]
            if isinstance(holder, dict) and rng.random() < 0.3:
                del holder[last]
            else:
                holder[last] = copy.deepcopy(rng.choice(REPLACEMENTS + [rng.choice(all_paths)]))
        parse_or_invalid(body)
