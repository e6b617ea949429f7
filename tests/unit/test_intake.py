"""ingest_alert on the in-memory store and an injected clock: create, de-duplicate, correlate, resolve,
the stability window, and severity that only rises."""
from __future__ import annotations

import pytest

from shared.domain.errors import InvalidInput, StoreUnavailable, UnsupportedSchema
from shared.domain.policy import Runbook
from shared.services.intake import ingest_alert
from shared.services.queries import get_incident
from shared.storage.repository import incident_key
from shared.services.sweep import sweep
from shared import bootstrap
from tests.payloads import CORE, OTHER_ID, PG_ID, event, metric_alert, resolved

RUNBOOK = bootstrap.load_runbook(bootstrap.settings().runbook_file)


@pytest.fixture
def ingest(memory_store, clock):
    def run(payload, runbook: Runbook = RUNBOOK):
        return ingest_alert(payload, store=memory_store, clock=clock, runbook=runbook, core=CORE).as_dict()
    return run


def show(store, incident_id):
    return get_incident(incident_id, store=store)


def test_new_alert_creates_a_classified_incident_with_its_timeline(ingest, memory_store):
    out = ingest(metric_alert("a1", severity="Sev0"))
    assert out == {"incident_id": "INC-20261127-0001", "outcome": "created", "severity": "SEV-1"}
    inc = show(memory_store, out["incident_id"])
    assert inc["state"] == "triggered" and inc["phase"] == "investigating"
    assert inc["created_at"] == "2026-11-27T03:00:00.000000Z"
    assert "core resource ca-procgenie-api" in inc["classification"]["reason"]
    assert "core feature broken × all users → SEV-1" in inc["classification"]["reason"]
    assert [e["kind"] for e in inc["timeline"]][:3] == ["created", "classified", "escalation"]


def test_ids_count_up_per_day(ingest, clock):
    assert ingest(metric_alert("a1", target=OTHER_ID, rule="r1"))["incident_id"] == "INC-20261127-0001"
    assert ingest(metric_alert("a2", target=OTHER_ID, rule="r2"))["incident_id"] == "INC-20261127-0002"
    clock.advance(days=1)
    assert ingest(metric_alert("a3", target=OTHER_ID, rule="r3"))["incident_id"] == "INC-20261128-0001"


def test_redelivery_is_a_duplicate_with_the_same_answer_and_no_new_event(ingest, memory_store):
    first = ingest(metric_alert("a1"))
    before = show(memory_store, first["incident_id"])["timeline"]
    again = ingest(metric_alert("a1"))
    assert again == {**first, "outcome": "duplicate"}
    assert show(memory_store, first["incident_id"])["timeline"] == before


def test_duplicate_is_answered_in_one_store_call(ingest, memory_store):
    ingest(metric_alert("a1"))
    calls = memory_store.round_trips
    ingest(metric_alert("a1"))
    assert memory_store.round_trips - calls == 1


def test_new_alert_takes_two_store_calls_and_writes_no_shared_row(ingest, memory_store):
    from shared.storage.incident_ids import ID_BLOCK
    calls = []
    for i in range(2 * ID_BLOCK):
        before = memory_store.round_trips
        ingest(metric_alert(f"a{i}", target=f"{OTHER_ID}{i}", rule=f"r{i}"))
        calls.append(memory_store.round_trips - before)
    # two calls each (one parallel read, one batch); one in ID_BLOCK also reserves the worker's next block
    # of ids (read + write)
    assert calls == ([4] + [2] * (ID_BLOCK - 1)) * 2


def test_same_rule_and_target_joins_the_open_incident(ingest, memory_store, clock):
    first = ingest(metric_alert("a1", rule="api-5xx"))
    clock.advance(hours=2)  # fingerprint correlation does not expire while the incident is open
    second = ingest(metric_alert("a2", rule="api-5xx"))
    assert second == {"incident_id": first["incident_id"], "outcome": "correlated", "severity": "SEV-1"}
    inc = show(memory_store, first["incident_id"])
    assert len(inc["alert_ids"]) == 2
    assert inc["timeline"][-1]["kind"] == "alert-correlated"


def test_another_alert_on_the_same_core_resource_within_the_window_joins(ingest, clock):
    first = ingest(metric_alert("a1", target=PG_ID, rule="pg-alive", metric="is_db_alive"))
    clock.advance(minutes=9)
    joined = ingest(metric_alert("a2", target=PG_ID, rule="pg-cpu", metric="cpu_percent", severity="Sev2"))
    assert joined["outcome"] == "correlated" and joined["incident_id"] == first["incident_id"]
    clock.advance(minutes=11)  # 11 minutes after the last alert on it: outside the 10-minute window
    apart = ingest(metric_alert("a3", target=PG_ID, rule="pg-storage", metric="storage_percent", severity="Sev2"))
    assert apart["outcome"] == "created"


def test_alerts_on_non_core_resources_do_not_correlate_by_resource(ingest):
    ingest(metric_alert("a1", target=OTHER_ID, rule="r1"))
    assert ingest(metric_alert("a2", target=OTHER_ID, rule="r2"))["outcome"] == "created"


def test_severity_only_rises(ingest, memory_store):
    first = ingest(metric_alert("a1", target=OTHER_ID, rule="batch-jobs", severity="Sev3"))
    assert first["severity"] == "SEV-4"
    up = ingest(metric_alert("a2", target=OTHER_ID, rule="batch-jobs", severity="Sev0",
                             custom={"impact": "core", "scope": "all"}))
    assert up["severity"] == "SEV-1"
    down = ingest(metric_alert("a3", target=OTHER_ID, rule="batch-jobs", severity="Sev4"))
    assert down == {"incident_id": first["incident_id"], "outcome": "correlated", "severity": "SEV-1"}
    kinds = [e["kind"] for e in show(memory_store, first["incident_id"])["timeline"]]
    assert kinds.count("severity") == 1


def test_resolved_for_unknown_alert_is_ignored(ingest, memory_store):
    assert ingest(resolved(metric_alert("zz"))) == {"incident_id": None, "outcome": "ignored", "severity": None}
    assert memory_store.scan(start="inc|", end="inc}").records == []


def test_all_alerts_resolved_monitoring_then_resolves_after_stability_window(ingest, memory_store, clock):
    a1, a2 = metric_alert("a1"), metric_alert("a2")
    inc_id = ingest(a1)["incident_id"]
    ingest(a2)
    assert ingest(resolved(a1))["outcome"] == "resolved"
    assert show(memory_store, inc_id)["phase"] == "investigating"  # a2 still firing
    clock.advance(minutes=1)
    assert ingest(resolved(a2)) == {"incident_id": inc_id, "outcome": "resolved", "severity": "SEV-1"}
    assert ingest(resolved(a2))["outcome"] == "duplicate"
    inc = show(memory_store, inc_id)
    assert inc["phase"] == "monitoring" and inc["state"] == "triggered"
    clock.advance(minutes=14, seconds=59)
    sweep(store=memory_store, clock=clock, runbook=RUNBOOK)
    assert show(memory_store, inc_id)["state"] == "triggered"
    clock.advance(seconds=1)
    report = sweep(store=memory_store, clock=clock, runbook=RUNBOOK)
    assert report.applied == [f"{inc_id}:stability"]
    inc = show(memory_store, inc_id)
    assert inc["state"] == "resolved" and inc["phase"] == "resolved" and inc["resolved_at"]
    assert inc["timeline"][-1]["actor"] == "automation"
    assert memory_store.scan(start="due|", end="due}").records == []


def test_refire_during_stability_window_goes_back_to_investigating(ingest, memory_store, clock):
    a1 = metric_alert("a1")
    inc_id = ingest(a1)["incident_id"]
    ingest(resolved(a1))
    clock.advance(minutes=10)
    assert ingest(metric_alert("a9"))["outcome"] == "correlated"
    assert show(memory_store, inc_id)["phase"] == "investigating"
    clock.advance(minutes=10)
    sweep(store=memory_store, clock=clock, runbook=RUNBOOK)
    assert show(memory_store, inc_id)["state"] == "triggered"
    assert [r for r in memory_store.scan(start="due|", end="due}").records if "stability" in r.key] == []


def test_new_alert_after_resolution_opens_a_new_incident(ingest, memory_store, clock):
    a1 = metric_alert("a1")
    first = ingest(a1)["incident_id"]
    ingest(resolved(a1))
    clock.advance(minutes=16)
    sweep(store=memory_store, clock=clock, runbook=RUNBOOK)
    clock.advance(minutes=30)
    again = ingest(metric_alert("a2"))
    assert again["outcome"] == "created" and again["incident_id"] != first


def test_bad_input_writes_nothing(ingest, memory_store):
    with pytest.raises(InvalidInput) as e:
        ingest({"schemaId": "azureMonitorCommonAlertSchema", "data": {"essentials": {"monitorCondition": "Fired"}}})
    assert "alertId" in e.value.path
    with pytest.raises(UnsupportedSchema):
        ingest(event("legacy-metric-alert-v2-activated.json"))
    assert memory_store.scan(start="", end="~").records == []


def test_store_down_raises_unavailable_and_writes_nothing(ingest, memory_store):
    memory_store.available = False
    with pytest.raises(StoreUnavailable):
        ingest(metric_alert("a1"))
    memory_store.available = True
    assert memory_store.scan(start="", end="~").records == []
    assert ingest(metric_alert("a1"))["outcome"] == "created"


def test_a_long_storm_keeps_the_incident_small_and_still_knows_when_all_resolved(ingest, memory_store, clock):
    from shared.domain.incident import RECENT_ALERTS
    bodies = [metric_alert(f"s{i}", rule="log-errors") for i in range(RECENT_ALERTS * 3)]
    inc_id = ingest(bodies[0])["incident_id"]
    for b in bodies[1:]:
        assert ingest(b)["outcome"] == "correlated"
    shown = show(memory_store, inc_id)
    assert shown["alert_count"] == len(bodies) and shown["alerts_firing"] == len(bodies)
    assert len(shown["alert_ids"]) == RECENT_ALERTS
    for b in bodies[:-1]:
        ingest(resolved(b))
    assert show(memory_store, inc_id)["phase"] == "investigating"
    ingest(resolved(bodies[-1]))
    ingest(resolved(bodies[-1]))          # a redelivered Resolved does not count twice
    shown = show(memory_store, inc_id)
    assert shown["alerts_firing"] == 0 and shown["phase"] == "monitoring"
    row = memory_store.get(keys=[incident_key(inc_id)])[incident_key(inc_id)]
    assert sum(len(str(v)) for v in row.data.values()) < 64_000   # bounded, however long the storm


def resource_health(alert_id: str, status: str, fired: str) -> dict:
    body = event("test-resourcehealth-fired.json")
    body["data"]["essentials"]["alertId"] = f"/subscriptions/x/providers/Microsoft.AlertsManagement/alerts/{alert_id}"
    body["data"]["essentials"]["alertTargetIDs"] = [PG_ID.lower()]
    body["data"]["essentials"]["firedDateTime"] = fired
    body["data"]["alertContext"]["properties"]["currentHealthStatus"] = status
    return body


def test_resource_health_back_to_available_resolves_instead_of_opening(ingest, memory_store, clock):
    down = ingest(resource_health("rh1", "Unavailable", "2026-11-27T03:00:00Z"))
    assert down["outcome"] == "created" and down["severity"] == "SEV-1"
    clock.advance(minutes=4)
    up = ingest(resource_health("rh2", "Available", "2026-11-27T03:04:00Z"))
    assert up == {"incident_id": down["incident_id"], "outcome": "resolved", "severity": "SEV-1"}
    shown = show(memory_store, down["incident_id"])
    assert shown["phase"] == "monitoring" and shown["alerts_firing"] == 0
    assert any(e["kind"] == "recovery" for e in shown["timeline"])


def test_a_recovery_notice_alone_opens_nothing(ingest, memory_store):
    assert ingest(event("test-servicehealth-fired.json"))["outcome"] == "ignored"   # stage Resolved
    assert ingest(resource_health("rh9", "Available", "2026-11-27T03:00:00Z"))["outcome"] == "ignored"
    assert memory_store.scan(start="inc|", end="inc}").records == []
