"""PagerDutyPager against the loopback FakePagerDuty: payload shape, retries, secrecy."""
from __future__ import annotations

import logging
import socket

import pytest

from shared.adapters.notify.pagerduty import PagerDutyPager
from shared.ports import PagerEvent
from tests.fakes.pagerduty import FakePagerDuty

KEY = "R0UT1NGKEYR0UT1NGKEYR0UT1NGKEY32"
assert len(KEY) == 32


@pytest.fixture
def pd():
    with FakePagerDuty() as fake:
        yield fake


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps():
    return Sleeps()


@pytest.fixture
def pager(pd, sleeps):
    return PagerDutyPager(events_url=pd.url, sleep=sleeps, backoff_s=0.5)


def trigger(dedup_key="INC-20261127-0001", **kw) -> PagerEvent:
    fields = dict(action="trigger", routing_key=KEY, dedup_key=dedup_key, summary="SEV-1: API 5xx rate 12%",
                  severity="critical", source="api-prod", custom_details={"incident": dedup_key, "sev": "SEV-1"},
                  links=[{"href": "http://127.0.0.1:7071/api/incidents/INC-1", "text": "incident"}])
    fields.update(kw)
    return PagerEvent(**fields)


def test_trigger_sends_the_v2_payload_exactly(pd, pager):
    delivery = pager.send(event=trigger())

    assert (delivery.ok, delivery.attempts, delivery.status) == (True, 1, 202)
    assert pd.events == [{
        "routing_key": KEY, "event_action": "trigger", "dedup_key": "INC-20261127-0001",
        "payload": {"summary": "SEV-1: API 5xx rate 12%", "source": "api-prod", "severity": "critical",
                    "custom_details": {"incident": "INC-20261127-0001", "sev": "SEV-1"}},
        "links": [{"href": "http://127.0.0.1:7071/api/incidents/INC-1", "text": "incident"}],
        "client": "incident-response",
    }]
    assert pd.incidents == {(KEY, "INC-20261127-0001"): "triggered"}


def test_client_url_is_sent_when_configured(pd, sleeps):
    pager = PagerDutyPager(events_url=pd.url, sleep=sleeps, client_url="https://status.example.com")
    assert pager.send(event=trigger()).ok
    assert pd.events[0]["client_url"] == "https://status.example.com"


@pytest.mark.parametrize("severity", ["critical", "error", "warning", "info"])
def test_severity_passes_through(pd, pager, severity):
    assert pager.send(event=trigger(severity=severity)).ok
    assert pd.triggers()[0]["payload"]["severity"] == severity


def test_long_summary_is_truncated_to_1024(pd, pager):
    assert pager.send(event=trigger(summary="x" * 5000)).ok
    assert len(pd.triggers()[0]["payload"]["summary"]) == 1024


def test_blank_summary_and_source_fall_back_so_pagerduty_accepts(pd, pager):
    assert pager.send(event=trigger(summary="", source="")).ok
    payload = pd.triggers()[0]["payload"]
    assert (payload["summary"], payload["source"]) == ("INC-20261127-0001", "incident-response")


def test_overlong_dedup_key_is_refused_locally(pd, pager):
    delivery = pager.send(event=trigger(dedup_key="k" * 256))
    assert (delivery.ok, delivery.attempts) == (False, 0)
    assert pd.requests == 0


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_acknowledge_and_resolve_send_only_the_keys(pd, pager, action):
    pager.send(event=trigger("INC-7"))
    delivery = pager.send(event=PagerEvent(action=action, routing_key=KEY, dedup_key="INC-7", summary="ignored"))

    assert delivery.ok and delivery.status == 202
    assert pd.events[-1] == {"routing_key": KEY, "event_action": action, "dedup_key": "INC-7"}
    assert pd.incidents[(KEY, "INC-7")] == ("acknowledged" if action == "acknowledge" else "resolved")
    assert pd.count(action, "INC-7") == 1


def test_fake_models_dedup_a_second_trigger_on_an_open_alert(pd, pager):
    pager.send(event=trigger("INC-8"))
    pager.send(event=trigger("INC-8"))
    pager.send(event=PagerEvent(action="resolve", routing_key=KEY, dedup_key="INC-8"))
    pager.send(event=PagerEvent(action="acknowledge", routing_key=KEY, dedup_key="INC-8"))
    pager.send(event=trigger("INC-8"))

    assert (pd.deduplicated, pd.dropped) == (1, 1)
    assert pd.incidents[(KEY, "INC-8")] == "triggered"
    assert len(pd.triggers("INC-8")) == 3 and pd.count("trigger", "INC-8") == 3


def test_429_with_retry_after_then_202(pd, pager, sleeps):
    pd.fail_next(1, status=429, retry_after=7)
    delivery = pager.send(event=trigger())

    assert (delivery.ok, delivery.attempts, delivery.status) == (True, 2, 202)
    assert sleeps == [7.0]
    assert pd.requests == 2 and len(pd.events) == 1


def test_retry_after_is_capped(pd, pager, sleeps):
    pd.fail_next(1, status=429, retry_after=3600)
    assert pager.send(event=trigger()).ok
    assert sleeps == [30.0]


def test_500_four_times_gives_up_with_exponential_backoff(pd, pager, sleeps):
    pd.fail_next(4, status=500)
    delivery = pager.send(event=trigger())

    assert (delivery.ok, delivery.attempts, delivery.status) == (False, 4, 500)
    assert sleeps == [0.5, 1.0, 2.0]
    assert pd.requests == 4 and pd.events == []


def test_503_then_success_retries(pd, pager, sleeps):
    pd.fail_next(2, status=503)
    delivery = pager.send(event=trigger())
    assert (delivery.ok, delivery.attempts) == (True, 3)
    assert sleeps == [0.5, 1.0]


def test_400_is_not_retried_and_carries_pagerdutys_message(pd, pager, sleeps):
    bad = trigger(routing_key="short")
    delivery = pager.send(event=bad)

    assert (delivery.ok, delivery.attempts, delivery.status) == (False, 1, 400)
    assert "Event object is invalid" in delivery.detail
    assert "routing_key" in delivery.detail
    assert sleeps == [] and pd.requests == 1


def test_connection_refused_is_a_failed_delivery_not_an_exception(sleeps):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]      # closed again before the pager dials it
    pager = PagerDutyPager(events_url=f"http://127.0.0.1:{port}/v2/enqueue", sleep=sleeps, max_attempts=3,
                           timeout_s=1)
    delivery = pager.send(event=trigger())

    assert (delivery.ok, delivery.attempts, delivery.status) == (False, 3, None)
    assert "ConnectionError" in delivery.detail
    assert sleeps == [0.5, 1.0]


def test_routing_key_never_logged_nor_in_detail(pd, pager, caplog):
    caplog.set_level(logging.DEBUG)
    pd.fail_next(1, status=429, retry_after=0)
    pd.fail_next(1, status=400, body={"status": "invalid event", "message": f"unknown key {KEY}",
                                      "errors": [f"routing_key {KEY} is disabled"]})
    deliveries = [pager.send(event=trigger()) for _ in range(2)]
    deliveries.append(pager.send(event=trigger(routing_key=KEY[:-1])))

    assert [d.status for d in deliveries] == [400, 202, 400]
    assert caplog.records, "the pager logs its failures"
    for d in deliveries:
        assert KEY not in d.detail and KEY not in repr(d)
    assert "[routing key]" in deliveries[0].detail
    assert KEY not in caplog.text and KEY[:-1] not in caplog.text


def test_session_is_built_lazily(pd, sleeps):
    pager = PagerDutyPager(events_url=pd.url, sleep=sleeps)
    assert pager._session is None
    assert pager.send(event=trigger()).ok
    assert pager._session is not None


def test_fake_rejects_missing_fields_per_action(pd):
    import requests
    cases = [
        ({"routing_key": KEY, "event_action": "resolve"}, "'dedup_key' is missing or blank"),
        ({"routing_key": KEY, "event_action": "trigger", "payload": {"summary": "s", "source": "x"}},
         "'payload.severity' is invalid"),
        ({"routing_key": KEY, "event_action": "snooze", "dedup_key": "d"}, "'event_action' is invalid"),
    ]
    for body, error in cases:
        r = requests.post(pd.url, json=body, timeout=5)
        assert r.status_code == 400
        assert r.json()["status"] == "invalid event"
        assert any(e.startswith(error) for e in r.json()["errors"])
    r = requests.post(pd.url, json={"routing_key": KEY, "event_action": "trigger",
                                    "payload": {"summary": "s", "source": "x", "severity": "info"}}, timeout=5)
    assert r.status_code == 202 and len(r.json()["dedup_key"]) == 32
    assert pd.count("trigger") == 1
