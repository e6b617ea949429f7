"""PagerDuty failing half its calls (the loopback FakePagerDuty answering every other request with a 500,
503 or 429), with two delivery workers racing each tick, as two timer instances would after a
scale-out: in the end every page is delivered exactly once, the app never sends an event again after
it saw PagerDuty accept it, and PagerDuty ends in the state of the app's incidents (an acknowledged
incident's pages acknowledged, a resolved one's resolved).

Slack, Jira and Statuspage have no senders yet (their outbox lanes record "not sent"), so only
PagerDuty is faulted here.
"""
from __future__ import annotations

import threading
from collections import Counter

import pytest

from shared.adapters.notify.pagerduty import PagerDutyPager
from shared.services.outbox import deliver
from shared.services.sweep import sweep
from tests.fakes.pagerduty import FakePagerDuty
from tests.faults.conftest import FAULTS
from tests.harness import Harness
from tests.payloads import OTHER_ID, metric_alert

SEV1_ROLES = ["primary", "secondary", "engineering_lead", "vp_engineering", "customer_success_lead", "cto"]


@pytest.fixture
def pd():
    with FakePagerDuty() as fake:
        yield fake


def tick(h: Harness) -> None:
    sweep(store=h.store, clock=h.clock, runbook=h.runbook, paging=h.paging())
    errors: list[BaseException] = []

    def worker():
        try:
            deliver(store=h.store, clock=h.clock, pager=h.pager, routing_keys=h.keys)
        except BaseException as e:  # noqa: BLE001 - asserted below
            errors.append(e)
    workers = [threading.Thread(target=worker) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []


def test_pagerduty_failing_half_its_calls_gets_every_page_exactly_once(memory_store, clock, pd):
    pd.fault_pattern([500, None, 503, None, 429, None])
    # one attempt per call, as the timers' pager makes: the outbox owns the retries
    h = Harness(memory_store, clock, pager=PagerDutyPager(events_url=pd.url, max_attempts=1, sleep=lambda s: None))
    incidents = [h.alert(metric_alert(f"pd{i}", target=f"{OTHER_ID}-{i}", rule=f"pd-rule-{i}", severity="Sev0",
                                      custom={"impact": "core", "scope": "all"}))["incident_id"] for i in range(9)]
    untouched, acked, resolved = incidents[:3], incidents[3:6], incidents[6:]
    for minute in range(75):
        for _ in range(6):
            clock.advance(seconds=10)
            tick(h)
        if minute == 4:
            for inc in acked + resolved:
                h.command("acknowledge", inc)
        if minute == 20:
            for inc in resolved:
                h.command("resolve", inc)
    assert h.store.scan(start="out|p", end="out|q").records == []       # nothing left to page

    failed = sum(1 for _, _, status in pd.answers if status != 202)
    FAULTS["PagerDuty calls failed"] += failed
    assert failed >= len(pd.answers) // 2 - 1

    triggers = Counter(e["dedup_key"] for e in pd.triggers())
    expected = {f"{inc}.{role}" for inc in untouched for role in SEV1_ROLES}
    expected |= {f"{inc}.{role}" for inc in acked for role in SEV1_ROLES if role != "secondary"}
    expected |= {f"{inc}.{role}" for inc in resolved for role in ("primary", "engineering_lead")}
    assert set(triggers) == expected and set(triggers.values()) == {1}
    assert pd.deduplicated == 0

    accepted: set[tuple[str, str]] = set()
    for action, dedup_key, status in pd.answers:
        assert (action, dedup_key) not in accepted, f"{action} {dedup_key} sent again after a 202"
        if status == 202:
            accepted.add((action, dedup_key))

    state = {dedup: status for (_, dedup), status in pd.incidents.items()}
    assert pd.dropped == 0, "an acknowledge or resolve reached PagerDuty before its trigger"
    for inc in acked:
        assert state[f"{inc}.primary"] == "acknowledged"
    for inc in resolved:
        assert {state[f"{inc}.{role}"] for role in ("primary", "engineering_lead")} == {"resolved"}
    for inc in untouched:
        assert {state[f"{inc}.{role}"] for role in SEV1_ROLES} == {"triggered"}


@pytest.mark.parametrize("command", ["acknowledge", "resolve"])
def test_an_acknowledge_or_resolve_never_overtakes_its_trigger_waiting_for_a_retry(memory_store, clock, pd, command):
    """The trigger fails and waits for its retry; the responder acknowledges (or resolves) meanwhile. Sent
    first, PagerDuty would drop the acknowledge (no such alert yet) and then open the alert with the
    retried trigger: paging on, in PagerDuty, for an incident the app shows handled."""
    h = Harness(memory_store, clock, pager=PagerDutyPager(events_url=pd.url, max_attempts=1, sleep=lambda s: None))
    inc = h.alert(metric_alert("o1", target=OTHER_ID, rule="r", severity="Sev0",
                               custom={"impact": "core", "scope": "all"}))["incident_id"]
    pd.fail_next(1, status=500)
    FAULTS["PagerDuty calls failed"] += 1
    h.tick()
    h.command(command, inc)
    for _ in range(6):
        clock.advance(seconds=10)
        h.tick()
    assert [(a, s) for a, _, s in pd.answers] == [("trigger", 500), ("trigger", 202), (command, 202)]
    assert pd.dropped == 0
    assert pd.incidents == {(h.keys["primary"], f"{inc}.primary"): "acknowledged" if command == "acknowledge"
                            else "resolved"}
