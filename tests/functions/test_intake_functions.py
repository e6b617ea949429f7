"""POST /api/alerts and the read API through the registered trigger functions, on a real Azurite."""
from __future__ import annotations

import threading
from collections import Counter

import pytest

from shared import bootstrap
from shared.adapters.tables.store import TableRecordStore
from devhost.azurite import Azurite
from tests.payloads import event, metric_alert, resolved


def test_alert_in_incident_out_with_severity_reason_and_timeline(app):
    status, out = app.call("post_alert", body=metric_alert("a1", severity="Sev0"))
    assert status == 202
    assert out == {"incident_id": "INC-20261127-0001", "outcome": "created", "severity": "SEV-1"}
    status, inc = app.call("get_incident", method="GET", route={"id": out["incident_id"]})
    assert status == 200
    assert inc["severity"] == "SEV-1" and inc["state"] == "triggered"
    assert inc["classification"]["reason"].startswith("Sev0 on core resource ca-procgenie-api")
    assert [e["kind"] for e in inc["timeline"]][:2] == ["created", "classified"]
    assert inc["sla"]["response_due"] == "2026-11-27T03:15:00.000000Z"


def test_duplicate_delivery_same_answer(app):
    first = app.call("post_alert", body=metric_alert("a1"))[1]
    status, again = app.call("post_alert", body=metric_alert("a1"))
    assert status == 202 and again == {**first, "outcome": "duplicate"}
    assert len(app.call("list_incidents", method="GET")[1]["incidents"]) == 1


def test_twenty_threads_delivering_one_new_alert_make_exactly_one_incident(app):
    barrier = threading.Barrier(20)
    answers: list = []

    def deliver():
        barrier.wait()
        answers.append(app.call("post_alert", body=metric_alert("storm", severity="Sev0")))

    threads = [threading.Thread(target=deliver) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [s for s, _ in answers] == [202] * 20
    assert sorted(o["outcome"] for _, o in answers) == ["created"] + ["duplicate"] * 19
    assert len({o["incident_id"] for _, o in answers}) == 1
    incidents = app.call("list_incidents", method="GET")[1]["incidents"]
    assert len(incidents) == 1
    timeline = app.call("get_incident", method="GET", route={"id": incidents[0]["id"]})[1]["timeline"]
    assert [e["kind"] for e in timeline].count("created") == 1


@pytest.mark.parametrize("payload,path", [
    (b"not json", "$"), (b"[1, 2]", "$"),
    (b'{"schemaId": "azureMonitorCommonAlertSchema", "data": {"essentials": {"monitorCondition": "Fired"}}}',
     "$.data.essentials.alertId"),
])
def test_bad_input_is_a_400_naming_the_path(app, payload, path):
    status, out = app.call("post_alert", raw=payload)
    assert status == 400 and out["path"] == path and path in out["message"]


def test_legacy_schema_says_how_to_enable_the_common_schema(app):
    status, out = app.call("post_alert", body=event("legacy-metric-alert-v2-activated.json"))
    assert status == 400 and out["error"] == "unsupported_schema"
    assert "AzureMonitorMetricAlert" in out["looks_like"] and "common alert schema" in out["message"].lower()


def test_body_over_one_mebibyte_is_413(app):
    status, out = app.call("post_alert", raw=b"{" + b" " * (1024 * 1024) + b"}")
    assert status == 413


def test_list_filters_and_pages_newest_first(app, clock):
    for i in range(5):
        app.call("post_alert", body=metric_alert(f"a{i}", target=f"/subscriptions/s/resourceGroups/r/providers/"
                                                 f"Microsoft.Web/sites/s{i}", rule=f"r{i}", severity="Sev3"))
        clock.advance(minutes=1)
    status, page = app.call("list_incidents", method="GET", params={"limit": "2"})
    assert status == 200 and [i["id"][-1] for i in page["incidents"]] == ["5", "4"]
    rest = app.call("list_incidents", method="GET", params={"limit": "10", "continuation": page["continuation"]})[1]
    assert [i["id"][-1] for i in rest["incidents"]] == ["3", "2", "1"] and rest["continuation"] is None
    assert app.call("list_incidents", method="GET", params={"severity": "SEV-1"})[1]["incidents"] == []
    since = app.call("list_incidents", method="GET", params={"since": "2026-11-27T03:03:00Z"})[1]
    assert [i["id"][-1] for i in since["incidents"]] == ["5", "4"]
    assert app.call("list_incidents", method="GET", params={"status": "open"})[0] == 400
    assert app.call("list_incidents", method="GET", params={"since": "yesterday"})[1]["path"] == "since"


def test_unknown_incident_is_404(app):
    assert app.call("get_incident", method="GET", route={"id": "INC-20261127-9999"})[0] == 404
    assert app.call("get_incident", method="GET", route={"id": "nonsense"})[0] == 404


def test_resolved_alert_then_monitoring(app):
    body = metric_alert("a1")
    inc_id = app.call("post_alert", body=body)[1]["incident_id"]
    assert app.call("post_alert", body=resolved(body))[1]["outcome"] == "resolved"
    assert app.call("get_incident", method="GET", route={"id": inc_id})[1]["phase"] == "monitoring"


def test_storage_stopped_is_503_with_nothing_written_then_redelivery_creates(clock, settings):
    server = Azurite().start()
    try:
        store = TableRecordStore.from_settings(connection_string=server.connection_string, endpoint="",
                                               table_name="outage")
        bootstrap.override(store=store, clock=clock, settings=settings)
        from tests.functions.conftest import App
        app = App()
        server.stop()
        status, out = app.call("post_alert", body=metric_alert("a1"))
        assert status == 503 and out["error"] == "unavailable"
        server.start()
        # Azurite runs in memory: a restart loses everything, so recreate the table to check
        # that nothing from the failed call is there and that the redelivery creates the incident.
        store = TableRecordStore.from_settings(connection_string=server.connection_string, endpoint="",
                                               table_name="outage")
        bootstrap.override(store=store)
        assert store.scan(start="", end="~").records == []
        status, out = app.call("post_alert", body=metric_alert("a1"))
        assert status == 202 and out["outcome"] == "created"
    finally:
        server.close()


def test_storage_failing_mid_batch_leaves_nothing_half_written(app, table_store, monkeypatch):
    """The incident, its timeline and its index rows are one transaction: a refused batch writes none."""
    from shared.domain.errors import StoreUnavailable
    real = table_store.commit

    def refuse(*, ops):
        raise StoreUnavailable("simulated outage during the batch")
    monkeypatch.setattr(table_store, "commit", refuse)
    assert app.call("post_alert", body=metric_alert("a1"))[0] == 503
    monkeypatch.setattr(table_store, "commit", real)
    assert table_store.scan(start="", end="~").records == []
    assert app.call("post_alert", body=metric_alert("a1"))[1]["outcome"] == "created"


def test_health_is_503_until_a_sweep_ran_then_200(app, clock):
    status, out = app.call("get_health", method="GET")
    assert status == 503 and out["last_sweep"] is None
    app.functions["escalation_sweep"](None)
    status, out = app.call("get_health", method="GET")
    assert status == 200 and out["status"] == "ok"
    clock.advance(seconds=31)
    assert app.call("get_health", method="GET")[0] == 503


def test_concurrent_distinct_alerts_get_distinct_sequential_ids(app):
    barrier = threading.Barrier(10)
    answers: list = []

    def deliver(i):
        barrier.wait()
        answers.append(app.call("post_alert", body=metric_alert(f"d{i}", target=f"/subscriptions/s/resourceGroups/r/"
                                                              f"providers/Microsoft.Web/sites/s{i}", rule=f"r{i}")))

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = sorted(o["incident_id"] for s, o in answers if s == 202 and o["outcome"] == "created")
    assert ids == [f"INC-20261127-{n:04d}" for n in range(1, 11)]


@pytest.mark.parametrize("n", [30])
def test_a_storm_of_distinct_alerts_on_one_core_resource_opens_one_incident(app, n):
    """Distinct alerts (rules) on the API container app at once: one incident, every alert in it, every answer
    202. Each new incident's core-resource row is written only if it is still what was read, so two
    creators cannot both win: the loser retries, finds the winner's row and joins."""
    answers, barrier = [], threading.Barrier(n)

    def deliver(i: int) -> None:
        barrier.wait()
        answers.append(app.call("post_alert", body=metric_alert(f"storm-{i}", rule=f"api-rule-{i}", severity="Sev1")))

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [s for s, _ in answers] == [202] * n
    assert len({o["incident_id"] for _, o in answers}) == 1, Counter(o["incident_id"] for _, o in answers)
    assert sorted(o["outcome"] for _, o in answers) == ["correlated"] * (n - 1) + ["created"]
    [incident] = app.call("list_incidents", method="GET")[1]["incidents"]
    assert incident["alert_count"] == n
