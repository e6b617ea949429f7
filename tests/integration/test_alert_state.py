"""Two-way alert state (issue 13, point 11): acknowledging or resolving an incident sets its Azure Monitor
alerts' state (Acknowledged, Closed) through the Alerts Management API's changestate, via the outbox, so
a failure there never blocks the acknowledgment. Real ArmAlerts adapter against a loopback fake."""
from __future__ import annotations

import pytest

from shared import bootstrap
from shared.adapters.arm.alerts import ArmAlerts
from shared.config import Settings
from shared.services import outbox
from tests.fakes.alertsmanagement import FakeAlertsManagement
from tests.harness import KEYS, RUNBOOK, Harness, RecordingPager
from tests.payloads import metric_alert

SUB = "11111111-1111-1111-1111-111111111111"           # tests.payloads' alert ids are in this subscription
GUID = "6b1f4a3e-2c1d-4e5f-8a9b-0c1d2e3f4a5b"
ALERT_ID = f"/subscriptions/{SUB}/providers/Microsoft.AlertsManagement/alerts/{GUID}"


@pytest.fixture
def am(clock):
    with FakeAlertsManagement(now=clock.now) as fake:
        fake.add(subscription=SUB, guid=GUID, rule="api-5xx", target="/x")
        yield fake


@pytest.fixture
def h(table_store, clock, am):
    return Harness(table_store, clock, alerts=ArmAlerts(endpoint=am.url))


def opened(h: Harness, alert_id: str = GUID) -> str:
    return h.alert(metric_alert(alert_id, severity="Sev0"))["incident_id"]


def deliveries(h: Harness, inc: str) -> list[str]:
    return [e["text"] for e in h.show(inc)["timeline"] if e["kind"] == "delivery" and "Azure alert" in e["text"]]


def waiting(h: Harness) -> list:
    return h.store.scan(start=f"out|{outbox.AZURE_ALERT}|", end=f"out|{outbox.AZURE_ALERT}|~").records


def test_acknowledge_sets_the_alert_acknowledged_and_resolve_closes_it(h, am):
    inc = opened(h)
    h.command("acknowledge", inc)
    assert am.changes == []                              # nothing is called inside the acknowledgment
    h.tick()
    assert am.changes == [(ALERT_ID, "Acknowledged")] and am.state_of(ALERT_ID) == "Acknowledged"
    h.command("resolve", inc)
    h.tick()
    assert am.changes == [(ALERT_ID, "Acknowledged"), (ALERT_ID, "Closed")] and am.state_of(ALERT_ID) == "Closed"
    assert [r.query["newState"] for r in am.calls("POST", "/changestate")] == ["Acknowledged", "Closed"]
    assert all(r.query["api-version"] == "2019-03-01" for r in am.requests)
    assert sorted(deliveries(h, inc)) == [f"Azure alert state Acknowledged: delivered (200, 2 attempts: 200, 200): {GUID} now "
                                  "Acknowledged", f"Azure alert state Closed: delivered (200, 1 attempt: 200): {GUID} "
                                                  "now Closed"]
    assert waiting(h) == []


@pytest.mark.parametrize("status", [503, 429, 0])    # 5xx, throttled, no answer at all
def test_a_failing_api_never_blocks_the_acknowledgment_and_the_state_is_set_once_in_the_end(h, am, clock, status):
    inc = opened(h)
    am.fail("*", "", status=status, times=3)             # the fake's next 3 calls fail, whatever they are
    view = h.command("acknowledge", inc)
    assert view["state"] == "acknowledged"               # at once: the API was not even called yet
    for _ in range(12):
        clock.advance(seconds=60)                        # past the outbox backoff (10 s, 20 s, 40 s, ...)
        h.tick()
    assert am.changes == [(ALERT_ID, "Acknowledged")]    # exactly once
    assert len([r for r in am.requests if r.status == status]) == 3
    texts = deliveries(h, inc)
    assert len(texts) == 4 and all("will retry" in t for t in texts[:3]) and "delivered" in texts[3]
    assert waiting(h) == []


def test_a_late_acknowledgment_never_reopens_an_alert_the_resolve_closed(h, am, clock):
    inc = opened(h)
    am.fail("*", "", status=503, times=1)
    h.command("acknowledge", inc)
    h.tick()                                             # the acknowledgment fails and waits for its backoff
    h.command("resolve", inc)
    h.tick()                                             # the close goes through
    for _ in range(3):
        clock.advance(seconds=60)
        h.tick()                                         # the retried acknowledgment finds the alert closed
    assert am.changes == [(ALERT_ID, "Closed")] and am.state_of(ALERT_ID) == "Closed"
    assert any("already Closed" in t for t in deliveries(h, inc))


def test_an_alert_azure_no_longer_has_is_done_and_recorded(h, am):
    inc = opened(h, "0f0f0f0f-0000-4000-8000-000000000000")   # not in the fake: 404
    h.command("resolve", inc)
    h.tick()
    assert am.changes == [] and waiting(h) == []
    assert deliveries(h, inc) == ["Azure alert state Closed: delivered (200, 1 attempt: 404): 0f0f0f0f-0000-4000-8000-"
                                  "000000000000: no such alert in Azure (404), nothing to set"]


def test_without_azure_access_the_state_change_is_recorded_as_not_sent(table_store, clock):
    h = Harness(table_store, clock)                      # no alerts adapter: AZURE_SUBSCRIPTION_ID unset
    inc = opened(h)
    h.command("acknowledge", inc)
    h.tick()
    assert deliveries(h, inc) == ["Azure alert state Acknowledged for 1 alert(s): not sent (AZURE_SUBSCRIPTION_ID "
                                  "is not set, so the app has no Azure Monitor access); nothing was delivered"]
    assert waiting(h) == []


def test_alert_ids_that_are_not_azure_monitor_alerts_get_no_state_message(h, am):
    inc = h.alert(metric_alert("a1", severity="Sev0"))["incident_id"]   # a hand-made id: no Alerts Management alert
    h.command("acknowledge", inc)
    assert waiting(h) == []
    h.tick()
    assert am.requests == [] and deliveries(h, inc) == []


def test_the_arm_timer_sets_alert_states_and_the_escalation_timer_never_waits_for_arm(memory_store, clock, am):
    from functions import timers
    bootstrap.override(settings=Settings(azure_subscription_id=SUB, azure_arm_endpoint=am.url,
                                         pagerduty_routing_keys=KEYS),
                       store=memory_store, clock=clock, runbook=RUNBOOK, pager=RecordingPager())
    h = Harness(memory_store, clock)
    inc = opened(h)
    h.command("acknowledge", inc)
    timers.escalation_sweep(None)
    assert am.changes == [] and len(waiting(h)) == 1     # pages went; the ARM lane was left alone
    timers.remediation_sweep(None)
    assert am.changes == [(ALERT_ID, "Acknowledged")] and waiting(h) == []
