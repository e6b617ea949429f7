"""Classification: all nine cells of the runbook's matrix, each precedence level, security."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from shared import bootstrap
from shared.domain.alerts import Alert
from shared.domain.classification import MATRIX, classify, parse_rules
from shared.domain.errors import PolicyError
from tests.payloads import API_ID, CORE, OTHER_ID, PG_ID, REDIS_ID

RULES = bootstrap.load_runbook(bootstrap.settings().runbook_file).rules
T0 = datetime(2026, 11, 27, 3, tzinfo=timezone.utc)


def alert(*, sev: int | None = 2, target: str = OTHER_ID, service: str = "Platform", signal: str = "Metric",
          rule: str = "some-rule", metrics=(), props=None) -> Alert:
    tid = target.lower()
    rtype = "/".join(tid.split("/providers/")[1].split("/")[:2]) if "/providers/" in tid else ""
    return Alert(alert_id="x", monitor_condition="Fired", monitoring_service=service, signal_type=signal,
                 severity=sev, alert_rule=rule, alert_rule_id=None, target_ids=(tid,),
                 target_resource_types=(rtype,), fired_at=T0, resolved_at=None, metric_names=tuple(metrics),
                 custom_properties=props or {})


@pytest.mark.parametrize("impact,scope,expected", [
    ("core", "all", "SEV-1"), ("core", "some", "SEV-2"), ("core", "one", "SEV-3"),
    ("degraded", "all", "SEV-2"), ("degraded", "some", "SEV-3"), ("degraded", "one", "SEV-3"),
    ("minor", "all", "SEV-3"), ("minor", "some", "SEV-4"), ("minor", "one", "SEV-4"),
])
def test_matrix_cells_from_custom_properties(impact, scope, expected):
    c = classify(alert(props={"impact": impact, "scope": scope}), RULES, CORE)
    assert (c.severity, c.impact, c.scope) == (expected, impact, scope)
    assert MATRIX[(impact, scope)] == expected
    assert f"→ {expected}" in c.reason and "customProperties" in c.reason


@pytest.mark.parametrize("sev,target,expected,words", [
    (0, API_ID, "SEV-1", "core feature broken × all users"),
    (0, OTHER_ID, "SEV-2", "core feature broken × some users"),
    (1, OTHER_ID, "SEV-3", "feature degraded × some users"),
    (2, REDIS_ID, "SEV-2", "feature degraded × all users"),   # the cache rule: degraded for everyone
    (3, OTHER_ID, "SEV-4", "minor/cosmetic × some users"),
    (4, API_ID, "SEV-3", "minor/cosmetic × all users"),
])
def test_defaults_from_azure_severity_and_core_resources(sev, target, expected, words):
    c = classify(alert(sev=sev, target=target), RULES, CORE)
    assert c.severity == expected and words in c.reason


def test_reason_reads_like_the_runbook():
    c = classify(alert(sev=0, target=API_ID), RULES, CORE)
    assert c.reason.startswith("Sev0 on core resource ca-procgenie-api: core feature broken × all users → SEV-1")


def test_one_named_tenant_means_one_user():
    c = classify(alert(sev=1, props={"tenants": "contoso"}), RULES, CORE)
    assert (c.scope, c.severity, c.tenants) == ("one", "SEV-3", ("contoso",))
    many = classify(alert(sev=1, props={"tenants": "contoso, fabrikam"}), RULES, CORE)
    assert many.scope == "some" and many.tenants == ("contoso", "fabrikam")


@pytest.mark.parametrize("kwargs,expected,rule_name", [
    (dict(sev=1, target=PG_ID, metrics=["is_db_alive"]), "SEV-1", "database down"),
    (dict(sev=1, target=API_ID, metrics=["Requests"]), "SEV-1", "API unresponsive"),
    (dict(sev=2, target=API_ID, metrics=["ResponseTime"]), "SEV-2", "slow API responses"),
    (dict(sev=3, rule="workflow-engine-stuck"), "SEV-2", "workflow engine stuck"),
    (dict(sev=3, rule="tenant-data-mismatch", props={"tenants": "contoso"}), "SEV-2", "single-tenant data issue"),
    (dict(sev=2, rule="report-generation-failures"), "SEV-3", "report generation failures"),
    (dict(sev=2, rule="notification-delivery-failures"), "SEV-3", "notification failures"),
    (dict(sev=3, signal="Log", service="Log Alerts V2", rule="app-log-errors"), "SEV-4", "non-critical log errors"),
])
def test_shipped_rules_turn_the_runbook_examples_into_severities(kwargs, expected, rule_name):
    c = classify(alert(**kwargs), RULES, CORE)
    assert c.severity == expected, c.reason
    assert f"rule '{rule_name}'" in c.reason


def test_custom_properties_win_over_rules():
    c = classify(alert(sev=1, target=PG_ID, metrics=["is_db_alive"], props={"impact": "minor"}), RULES, CORE)
    assert (c.impact, c.scope, c.severity) == ("minor", "all", "SEV-3")  # scope still from the rule
    direct = classify(alert(sev=0, target=API_ID, props={"severity": "sev3"}), RULES, CORE)
    assert direct.severity == "SEV-3" and "customProperties" in direct.reason


def test_rules_win_over_defaults():
    no_rule = classify(alert(sev=2, rule="x"), (), CORE)
    with_rule = classify(alert(sev=2, rule="report-generation"), RULES, CORE)
    assert no_rule.severity == "SEV-3" and "default" in no_rule.reason
    assert with_rule.severity == "SEV-3" and "rule 'report generation failures'" in with_rule.reason


@pytest.mark.parametrize("kwargs", [
    dict(sev=4, service="Activity Log - Security", signal="Activity Log"),
    dict(sev=3, props={"category": "security"}),
])
def test_security_alerts_are_sev1_and_flagged(kwargs):
    c = classify(alert(**kwargs), RULES, CORE)
    assert c.severity == "SEV-1" and c.security and "security" in c.reason


def test_budget_alert_without_severity_or_target():
    a = Alert(alert_id="b", monitor_condition="Fired", monitoring_service="CostAlerts", signal_type=None,
              severity=None, alert_rule=None, alert_rule_id=None, target_ids=(), target_resource_types=(),
              fired_at=T0, resolved_at=None)
    c = classify(a, RULES, CORE)
    assert c.severity == "SEV-4" and "No Azure severity" in c.reason


@pytest.mark.parametrize("raw,key", [
    ([{"match": {"target": "api"}, "impact": "core"}], "classification.rules[0].name"),
    ([{"name": "x", "match": {"colour": "red"}, "impact": "core"}], "classification.rules[0].match.colour"),
    ([{"name": "x", "match": {"target": "api"}, "impact": "huge"}], "classification.rules[0].impact"),
    ([{"name": "x", "match": {"target": "api"}}], "classification.rules[0]"),
    ([{"name": "x", "match": {}, "impact": "core"}], "classification.rules[0].match"),
])
def test_bad_rules_name_the_key(raw, key):
    with pytest.raises(PolicyError, match=key.replace("[", r"\[").replace("]", r"\]")):
        parse_rules(raw)
