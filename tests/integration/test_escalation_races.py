"""Escalation under scale-out, on a real Azurite with the real PagerDuty client and a loopback
PagerDuty: racing sweeps fire each step once, and a crash after a claim is recovered harmlessly."""
from __future__ import annotations

import threading

import pytest

from shared.adapters.notify.pagerduty import PagerDutyPager
from shared.services import outbox
from tests.fakes.pagerduty import FakePagerDuty
from tests.harness import Harness
from tests.payloads import OTHER_ID, metric_alert


@pytest.fixture
def pd():
    with FakePagerDuty() as fake:
        yield fake


@pytest.fixture
def h(table_store, clock, pd):
    return Harness(table_store, clock, pager=PagerDutyPager(events_url=pd.url, sleep=lambda s: None))


def race(n: int, fn) -> list:
    barrier, errors = threading.Barrier(n), []

    def run():
        barrier.wait()
        try:
            fn()
        except BaseException as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)
    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_racing_sweeps_fire_each_due_step_exactly_once(h, pd, clock):
    incidents = [h.alert(metric_alert(f"a{i}", target=OTHER_ID + str(i), rule=f"r{i}", severity="Sev0",
                                      custom={"impact": "core", "scope": "all"}))["incident_id"] for i in range(3)]
    assert race(4, h.tick) == []
    clock.advance(minutes=10)
    assert race(4, h.tick) == []
    for inc in incidents:
        assert pd.count("trigger", f"{inc}.primary") == 1
        assert pd.count("trigger", f"{inc}.secondary") == 1
    assert len(pd.triggers()) == 6 and pd.deduplicated == 0
    for inc in incidents:
        done = h.show(inc)["escalation"]["done"]
        assert [d["step"] for d in done] == ["primary", "secondary"]


def test_crash_after_claim_is_delivered_by_a_later_tick(h, pd, clock, monkeypatch):
    inc = h.alert(metric_alert("a1", severity="Sev0"))["incident_id"]

    class Crash(BaseException):
        pass

    real_send = outbox._send

    def crash(data, *args):
        if data["channel"] == "pagerduty":
            raise Crash()
        return real_send(data, *args)
    monkeypatch.setattr(outbox, "_send", crash)
    with pytest.raises(Crash):
        h.tick()  # the step fired and the page was claimed; the process died before sending
    monkeypatch.setattr(outbox, "_send", real_send)
    h.tick()
    assert pd.count("trigger") == 0  # still leased to the dead sender
    clock.advance(seconds=outbox.LEASE.total_seconds() + 1)
    h.tick()
    assert pd.count("trigger", f"{inc}.primary") == 1


def test_crash_after_send_before_bookkeeping_is_harmless_thanks_to_the_dedup_key(h, pd, clock, monkeypatch):
    inc = h.alert(metric_alert("a1", severity="Sev0"))["incident_id"]

    class Crash(BaseException):
        pass

    real_finish = outbox._finish

    def crash(store, clock, claimed, etag, data, result, report):
        if data["channel"] == "pagerduty":
            raise Crash()
        real_finish(store, clock, claimed, etag, data, result, report)
    monkeypatch.setattr(outbox, "_finish", crash)
    with pytest.raises(Crash):
        h.tick()
    monkeypatch.undo()
    clock.advance(seconds=outbox.LEASE.total_seconds() + 1)
    h.tick()
    assert pd.count("trigger", f"{inc}.primary") == 2    # delivered twice...
    assert pd.deduplicated == 1                          # ...but PagerDuty folded it into one alert
    assert len(pd.incidents) == 1


def test_pagerduty_down_then_up(h, pd, clock):
    inc = h.alert(metric_alert("a1", severity="Sev0"))["incident_id"]
    pd.fail_next(4, status=500)
    h.tick()
    assert pd.count("trigger") == 0
    clock.advance(seconds=10)
    h.tick()
    assert pd.count("trigger", f"{inc}.primary") == 1
    texts = [e["text"] for e in h.show(inc)["timeline"] if e["kind"] == "delivery" and "PagerDuty" in e["text"]]
    assert "failed (500, delivery 1, 4 attempts: 500, 500, 500, 500" in texts[0]
    assert "delivered (202, 1 attempt: 202)" in texts[1]
    sent = [e for e in pd.events if e["event_action"] == "trigger"][0]
    assert sent["payload"]["severity"] == "critical" and sent["dedup_key"] == f"{inc}.primary"
    assert sent["payload"]["custom_details"]["classification"]["impact"] == "core feature broken"


def test_when_pagerduty_is_down_one_message_tries_and_the_rest_wait_for_the_next_tick(h, pd, clock):
    incidents = [h.alert(metric_alert(f"a{i}", target=OTHER_ID + str(i), rule=f"r{i}", severity="Sev0",
                                      custom={"impact": "core", "scope": "all"}))["incident_id"] for i in range(3)]
    pd.fail_next(4, status=503)
    h.tick()
    assert pd.requests == 4 and pd.count("trigger") == 0     # one message's retries, then the rest held
    clock.advance(seconds=10)
    h.tick()
    h.run_for(1)
    assert sorted(e["dedup_key"] for e in pd.triggers()) == sorted(f"{i}.primary" for i in incidents)
