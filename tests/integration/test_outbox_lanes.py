"""Pages never wait: a lane per channel with pages first, one attempt per tick, and a receiver's
Retry-After turned into a next-attempt time instead of a sleep inside the timer."""
from __future__ import annotations

import time

import pytest

from shared.adapters.notify.pagerduty import PagerDutyPager
from shared.domain.classification import Classification
from shared.domain.incident import Incident
from shared.services import outbox
from shared.storage import outbox_rows
from tests.fakes.pagerduty import FakePagerDuty
from tests.harness import Harness
from tests.payloads import OTHER_ID, metric_alert


@pytest.fixture
def pd():
    with FakePagerDuty() as fake:
        yield fake


def test_a_sev1_page_goes_out_on_the_next_tick_behind_600_queued_chats_and_tickets(table_store, clock, pd):
    sleeps: list[float] = []
    h = Harness(table_store, clock, pager=PagerDutyPager(events_url=pd.url, max_attempts=1, sleep=sleeps.append))
    noise = Incident(id="INC-20261127-0500", title="report generation slow", severity="SEV-3",
                     created_at=clock.now(), classification=Classification("SEV-3", None, None, ""))
    rows = [outbox.message(clock.now(), noise, channel=("chat", "ticket")[i % 2], action="trigger", text=f"m{i}")
            for i in range(600)]
    for i in range(0, len(rows), 100):
        table_store.commit(ops=[outbox_rows.queued(m) for m in rows[i:i + 100]])
    clock.advance(seconds=1)
    inc = h.alert(metric_alert("a1", severity="Sev0", custom={"impact": "core", "scope": "all"}))["incident_id"]
    h.tick()
    assert pd.count("trigger", f"{inc}.primary") == 1
    assert sleeps == []


def test_a_429_with_retry_after_never_holds_the_tick_and_is_honoured(memory_store, clock, pd):
    sleeps: list[float] = []
    h = Harness(memory_store, clock, pager=PagerDutyPager(events_url=pd.url, max_attempts=1, sleep=sleeps.append))
    inc = h.alert(metric_alert("a1", severity="Sev0", custom={"impact": "core", "scope": "all"}))["incident_id"]
    pd.fail_next(1, status=429, retry_after=30)
    started = time.monotonic()
    h.tick()
    assert time.monotonic() - started < 5 and sleeps == []
    assert pd.count("trigger") == 0
    for _ in range(2):                    # 10 s and 20 s later: still inside the Retry-After
        clock.advance(seconds=10)
        h.tick()
        assert pd.count("trigger") == 0
    clock.advance(seconds=10)             # 30 s: PagerDuty asked for exactly this
    h.tick()
    assert pd.count("trigger", f"{inc}.primary") == 1
    texts = [e["text"] for e in h.show(inc)["timeline"] if e["kind"] == "delivery" and "PagerDuty" in e["text"]]
    assert "failed (429" in texts[0] and "will retry" in texts[0] and "delivered (202" in texts[-1]


def test_a_page_and_its_pagerduty_retries_stay_in_the_severity_lane(memory_store, clock, pd):
    h = Harness(memory_store, clock, pager=PagerDutyPager(events_url=pd.url, max_attempts=1))
    h.alert(metric_alert("a1", target=OTHER_ID, severity="Sev3", rule="minor"))
    h.alert(metric_alert("a2", severity="Sev0", custom={"impact": "core", "scope": "all"}))
    lanes = {r.key.split("|")[1]: r.data["channel"] for r in memory_store.scan(start="out|", end="out}").records}
    assert lanes.get("p1") == "pagerduty" and set(lanes) <= set(outbox.LANES)
