"""Reconciliation (issue 13, point 10): an alert the webhook never delivered is read back from the Alerts
Management API (a loopback fake, through the real ArmAlerts adapter and `requests`) and ingested through
the same ingest_alert, once; on a real Azurite."""
from __future__ import annotations

import copy
import logging
from datetime import datetime, timedelta, timezone

import pytest

import function_app
from devhost.server import discover
from shared import bootstrap
from shared.adapters.arm.alerts import ArmAlerts, common_alert_payload
from shared.config import Settings
from shared.domain.alerts import parse_alert
from shared.domain.errors import PolicyError
from shared.domain.policy import Runbook
from shared.services.intake import ingest_alert
from shared.services.queries import list_incidents
from shared.services.reconcile import reconcile, settings as reconcile_settings, subscriptions
from tests.fakes.alertsmanagement import FakeAlertsManagement
from tests.harness import RUNBOOK
from tests.payloads import CORE, metric_alert

SUB = "11111111-1111-1111-1111-111111111111"           # the subscription of tests.payloads' resources
OTHER_SUB = "22222222-2222-2222-2222-222222222222"
GROUP = f"/subscriptions/{SUB}/resourceGroups/rg-procgenie-prod/providers"

# The response of specification/alertsmanagement/resource-manager/Microsoft.AlertsManagement/AlertsManagement/
# stable/2019-03-01/examples/Alerts_List.json (first item; its `context` left out: the list is read
# without includeContext). Note the id: under the target resource, not the subscription.
SPEC_LIST_2019_03_01 = {
    "nextLink": "https://management.azure.com:443/subscriptions/1e3ff1c0-771a-4119-a03b-be82a51e232d/providers/"
                "Microsoft.AlertsManagement/alerts?api-version=2018-05-05-preview&timeRange=1d&ctoken=%2bRID%3aPlwOAPH",
    "value": [{
        "properties": {
            "essentials": {
                "severity": "Sev3", "signalType": "Log", "alertState": "Acknowledged", "monitorCondition": "Fired",
                "monitorService": "Application Insights",
                "targetResource": "/subscriptions/3b540246-808d-4331-99aa-917b808a9166/resourcegroups/"
                                  "servicedeskresourcegroup/providers/microsoft.insights/components/servicedeskappinsight",
                "targetResourceName": "servicedeskappinsight", "targetResourceGroup": "servicedeskresourcegroup",
                "targetResourceType": "components", "sourceCreatedId": "6cd6b2ce-8c54-468f-aff0-9d12aebb7e49",
                "smartGroupId": "23d6b2ce-8c54-468f-aff0-sd32aebb7e56",
                "smartGroupingReason": "Occurred frequently with other alerts",
                "alertRule": "https://servisdffsdf.portal.mms.microsoft.com/#Workspace/overview/settings/details/"
                             "Edit Alert Rule/details/index?savedSearchId=&scheduleId=",
                "startDateTime": "2018-09-13T15:51:02Z", "lastModifiedDateTime": "2018-09-13T15:51:02Z",
                "lastModifiedUserName": "System", "monitorConditionResolvedDateTime": "2018-09-13T15:51:02Z",
                "actionStatus": {"isSuppressed": False}, "description": "description of the alert"},
            "egressConfig": {}},
        "id": "/subscriptions/3b540246-808d-4331-99aa-917b808a9166/resourcegroups/servicedeskresourcegroup/providers/"
              "microsoft.insights/components/servicedeskappinsight/providers/Microsoft.AlertsManagement/alerts/"
              "66114d64-d9d9-478b-95c9-b789d6502100",
        "type": "Microsoft.AlertsManagement/alerts",
        "name": "cpu alert"}],
}
# preview/2019-05-05-preview/examples/Alerts_List.json names the same alert at the subscription
SPEC_ID_2019_05_05 = "/subscriptions/9e261de7-c804-4b9d-9ebf-6f50fe350a9a/providers/Microsoft.AlertsManagement/" \
                     "alerts/66114d64-d9d9-478b-95c9-b789d6502100"


# ---- mapping: the spec's Alert -> the Common Alert Schema ---------------------------------------

def test_the_spec_example_maps_to_a_common_schema_alert_with_the_webhook_id():
    payload = common_alert_payload(SPEC_LIST_2019_03_01["value"][0])
    ess = payload["data"]["essentials"]
    assert payload["schemaId"] == "azureMonitorCommonAlertSchema" and payload["data"]["alertContext"] == {}
    assert ess["alertId"] == "/subscriptions/3b540246-808d-4331-99aa-917b808a9166/providers/" \
                             "Microsoft.AlertsManagement/alerts/66114d64-d9d9-478b-95c9-b789d6502100"
    assert ess["monitoringService"] == "Application Insights" and ess["firedDateTime"] == "2018-09-13T15:51:02Z"
    assert ess["alertRule"] == "cpu alert"           # the spec's alertRule is a portal URL here, the name is the rule
    assert "resolvedDateTime" not in ess             # Fired: the example's resolved time is not a resolution
    alert = parse_alert(payload)
    assert alert.alert_id == ess["alertId"] and alert.monitor_condition == "Fired" and alert.severity == 3
    assert alert.target_ids == (SPEC_LIST_2019_03_01["value"][0]["properties"]["essentials"]["targetResource"],)
    assert alert.origin_alert_id == "6cd6b2ce-8c54-468f-aff0-9d12aebb7e49" and alert.signal_type == "Log"
    assert alert.description == "description of the alert" and alert.configuration_items == ("servicedeskappinsight",)
    # the same alert named at the subscription (2019-05-05-preview) maps to the same id: one alert, one index row
    other = copy.deepcopy(SPEC_LIST_2019_03_01["value"][0])
    other["id"] = SPEC_ID_2019_05_05
    assert parse_alert(common_alert_payload(other)).alert_id.rsplit("/", 1)[1] == alert.alert_id.rsplit("/", 1)[1]


def test_a_metric_rule_id_gives_the_rule_name_and_a_resolved_alert_its_resolution_time():
    item = copy.deepcopy(SPEC_LIST_2019_03_01["value"][0])
    ess = item["properties"]["essentials"]
    ess["alertRule"] = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Insights/metricAlerts/api-5xx"
    ess["monitorCondition"], ess["monitorConditionResolvedDateTime"] = "Resolved", "2018-09-13T16:00:00Z"
    item["properties"]["customProperties"] = {"impact": "core"}
    payload = common_alert_payload(item)
    alert = parse_alert(payload)
    # the webhook sends the rule's name: the same fingerprint whichever way an alert arrives
    assert alert.alert_rule == "api-5xx" and alert.alert_rule_id is None
    assert alert.is_resolved and alert.resolved_at == datetime(2018, 9, 13, 16, 0, tzinfo=timezone.utc)
    assert alert.custom_properties == {"impact": "core"}


def test_subscriptions_come_from_the_setting_and_the_core_ids_once_each():
    assert subscriptions(CORE, "") == [SUB]
    assert subscriptions(CORE, OTHER_SUB.upper()) == [OTHER_SUB.upper(), SUB]
    assert subscriptions({}, "") == [] and subscriptions({"api": "not-an-id"}, SUB) == [SUB]


def with_intake(**keys) -> Runbook:
    """The shipped runbook with these [intake] keys."""
    return Runbook.from_dict({**RUNBOOK.sections, "intake": {**RUNBOOK.sections["intake"], **keys}})


def test_the_window_and_the_rule_filter_come_from_the_runbook():
    assert reconcile_settings(RUNBOOK) == (timedelta(hours=6), ())
    assert reconcile_settings(with_intake(reconcile_hours=2, reconcile_rules=["ir-*"])) == (timedelta(hours=2), ("ir-*",))
    for bad in ({"reconcile_hours": 0}, {"reconcile_hours": 721}, {"reconcile_hours": "6"},
                {"reconcile_rules": "ir-*"}):
        with pytest.raises(PolicyError, match="intake.reconcile_"):
            reconcile_settings(with_intake(**bad))


# ---- the webhook was down: 20 alerts exist only in Azure -----------------------------------------

@pytest.fixture
def am(clock):
    with FakeAlertsManagement(now=clock.now) as fake:
        yield fake


class Env:
    def __init__(self, store, clock, am: FakeAlertsManagement, page_size: int = 7):
        self.store, self.clock, self.am = store, clock, am
        self.client = ArmAlerts(endpoint=am.url, page_size=page_size)

    def run(self, subs=(SUB,), **kw):
        return reconcile(alerts=self.client, subscription_ids=list(subs), store=self.store, clock=self.clock,
                         runbook=kw.pop("runbook", RUNBOOK), core=CORE, **kw)

    def incidents(self) -> list[dict]:
        return list_incidents({"limit": "200"}, store=self.store)["incidents"]


def storm(am: FakeAlertsManagement, clock, n: int = 20) -> list[str]:
    """`n` alerts on distinct resources and rules (one incident each), a minute apart, newest last."""
    return [am.add(subscription=SUB, rule=f"disk-full-{i}", target=f"{GROUP}/Microsoft.Compute/virtualMachines/vm{i}",
                   severity="Sev2", started=clock.now() - timedelta(minutes=n - i)) for i in range(n)]


def test_alerts_the_webhook_never_delivered_open_their_incidents_exactly_once(table_store, clock, am):
    env = Env(table_store, clock, am)
    ids = storm(am, clock)
    # what the list must leave out: acknowledged, resolved, older than the window, another subscription
    am.add(subscription=SUB, rule="acked", target=f"{GROUP}/x/y/acked", state="Acknowledged")
    am.add(subscription=SUB, rule="resolved", target=f"{GROUP}/x/y/resolved", condition="Resolved")
    am.add(subscription=SUB, rule="old", target=f"{GROUP}/x/y/old", started=clock.now() - timedelta(hours=7))
    am.add(subscription=OTHER_SUB, rule="elsewhere", target=f"/subscriptions/{OTHER_SUB}/resourceGroups/g/x/y/z")

    first = env.run()
    assert first.outcomes == {"created": 20} and first.failed == 0 and not first.truncated and not first.errors
    incidents = env.incidents()
    assert len(incidents) == 20
    assert sorted(a for i in incidents for a in i["alert_ids"]) == sorted(ids)
    lists = am.calls("GET", "/alerts")
    assert len(lists) == 3 and [r.query.get("ctoken") for r in lists] == [None, "7", "14"]   # nextLink followed
    assert {k: lists[0].query[k] for k in ("api-version", "monitorCondition", "alertState", "pageCount")} == {
        "api-version": "2019-03-01", "monitorCondition": "Fired", "alertState": "New", "pageCount": "7"}
    assert lists[0].query["customTimeRange"] == "2026-11-26T21:00:00Z/2026-11-27T03:00:00Z"   # the last 6 hours

    second = env.run()                                   # the next tick: every alert is a duplicate (one read)
    assert second.outcomes == {"duplicate": 20} and len(env.incidents()) == 20

    # the webhook comes back and Azure Monitor finally delivers one of them: the same incident, a duplicate
    late = metric_alert(ids[5].rsplit("/", 1)[1], target=f"{GROUP}/Microsoft.Compute/virtualMachines/vm5",
                        rule="disk-full-5", severity="Sev2", fired=(clock.now() - timedelta(minutes=15)).isoformat())
    result = ingest_alert(late, store=table_store, clock=clock, runbook=RUNBOOK, core=CORE).as_dict()
    owner = next(i["id"] for i in incidents if ids[5] in i["alert_ids"])
    assert result["outcome"] == "duplicate" and result["incident_id"] == owner
    assert len(env.incidents()) == 20


def test_one_bad_alert_is_logged_with_its_id_and_skipped_and_the_others_go_on(memory_store, clock, am, caplog):
    env = Env(memory_store, clock, am)
    good = storm(am, clock, 3)
    bad = am.add(subscription=SUB, rule="broken", target=f"{GROUP}/x/y/broken")
    del am.alerts[bad.lower()]["properties"]["essentials"]["startDateTime"]     # no firedDateTime: does not parse
    with caplog.at_level(logging.WARNING, logger="shared.services.reconcile"):
        report = env.run()
    assert report.outcomes == {"created": 3} and report.failed == 1
    assert any(bad in r.getMessage() and "does not parse" in r.getMessage() and "firedDateTime" in r.getMessage()
               for r in caplog.records)
    assert sorted(a for i in env.incidents() for a in i["alert_ids"]) == sorted(good)


def test_each_run_is_bounded_and_a_backlog_drains_over_the_next_runs(memory_store, clock, am):
    env = Env(memory_store, clock, am, page_size=4)
    ids = storm(am, clock, 12)
    runs = [env.run(limit=5), env.run(limit=5), env.run(limit=5)]
    assert [r.outcomes for r in runs] == [{"created": 5}, {"duplicate": 5, "created": 5},
                                          {"duplicate": 10, "created": 2}]
    assert [r.truncated for r in runs] == [True, True, False]
    assert sorted(a for i in env.incidents() for a in i["alert_ids"]) == sorted(ids)
    ticks = iter(range(100))                            # a clock that says one second passed per look
    report = env.run(budget_s=3, monotonic=lambda: float(next(ticks)))
    assert report.truncated and report.listed == 3
    assert env.run(max_read=6).listed == 6


def test_a_subscription_that_cannot_be_read_is_reported_and_the_others_go_on(memory_store, clock, am):
    env = Env(memory_store, clock, am)
    storm(am, clock, 2)
    am.fail("GET", f"/subscriptions/{OTHER_SUB}/", status=503)
    report = env.run(subs=(OTHER_SUB, SUB))
    assert report.outcomes == {"created": 2} and len(report.errors) == 1
    assert report.errors[0].startswith(f"subscription {OTHER_SUB}: Alerts Management list") and "503" in report.errors[0]


def test_the_runbook_rule_filter_leaves_other_teams_alerts_alone(memory_store, clock, am):
    env = Env(memory_store, clock, am)
    am.add(subscription=SUB, rule="ir-abc-api-5xx", target=f"{GROUP}/x/y/mine")
    am.add(subscription=SUB, rule="team-b-cpu", target=f"{GROUP}/x/y/theirs")
    report = env.run(runbook=with_intake(reconcile_rules=["ir-*"]))
    assert report.outcomes == {"created": 1} and report.skipped == 1


def test_without_azure_access_nothing_is_read(memory_store, clock):
    assert reconcile(alerts=None, subscription_ids=[SUB], store=memory_store, clock=clock, runbook=RUNBOOK,
                     core=CORE).listed == 0


# ---- the timer ------------------------------------------------------------------------------------

def test_the_timer_is_registered_and_its_schedule_resolves_from_settings():
    assert Settings.from_env({}).reconcile_schedule == "0 */2 * * * *"
    timers = {t.name: t for t in discover(function_app.app, environ={})[1]}
    timer = timers["alert_reconciliation"]
    assert timer.schedule == "%RECONCILE_SCHEDULE%" and timer.error is None
    assert timer.cron.expression == "0 */2 * * * *"
    custom = {t.name: t for t in discover(function_app.app, environ={"RECONCILE_SCHEDULE": "0 */5 * * * *"})[1]}
    assert custom["alert_reconciliation"].cron.expression == "0 */5 * * * *"


def test_the_timer_reads_azure_and_ingests_what_the_webhook_missed(memory_store, clock, am):
    from functions import timers
    ids = storm(am, clock, 2)
    bootstrap.override(settings=Settings(azure_subscription_id=SUB, azure_arm_endpoint=am.url),
                       store=memory_store, clock=clock, runbook=RUNBOOK)
    timers.alert_reconciliation(None)
    timers.alert_reconciliation(None)
    found = list_incidents({}, store=memory_store)["incidents"]
    assert sorted(a for i in found for a in i["alert_ids"]) == sorted(ids)
    assert all(r.query["api-version"] == "2019-03-01" for r in am.requests)


def test_the_arm_token_never_follows_a_next_link_to_another_origin(memory_store, clock, am, monkeypatch):
    env = Env(memory_store, clock, am, page_size=2)
    storm(am, clock, 3)
    real = am._list

    def elsewhere(sub, query):
        status, body = real(sub, query)
        if "nextLink" in body:
            body["nextLink"] = body["nextLink"].replace(am.url, "http://127.0.0.2:9")
        return status, body
    monkeypatch.setattr(am, "_list", elsewhere)
    report = env.run()
    assert report.outcomes == {"created": 2}               # the first page, then a refusal to follow
    assert len(report.errors) == 1 and "refusing to send the ARM token to 127.0.0.2" in report.errors[0]
