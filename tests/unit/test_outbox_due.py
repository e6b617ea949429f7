"""Finding the outbox's due messages cheaply: a quiet outbox is read in one scan for all the tick's lanes;
a busy one lane by lane, with the same messages either way and pages first. A delivered page costs the
scan, its claim and its settle, and never touches the incident."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from shared.adapters.memory import InMemoryRecordStore
from shared.domain.classification import Classification
from shared.domain.incident import Incident
from shared.ports import Op
from shared.services import outbox
from shared.storage import outbox_rows
from shared.storage.outbox_rows import LANES, LEGACY, NOT_ARM_LANES, PAGE_LANES, DueMessages, due
from tests.harness import KEYS, RecordingPager

T0 = datetime(2026, 11, 27, 3, 0, tzinfo=timezone.utc)
ALL = (*LANES, LEGACY)


def _row(store: InMemoryRecordStore, lane: str, at: datetime, n: int) -> None:
    key = f"out|{at.strftime('%Y-%m-%dT%H:%M:%S.000000Z')}|m{n:04d}" if lane == LEGACY else \
        outbox_rows.key(lane, at, f"m{n:04d}")
    store.commit(ops=[Op("insert", key, {"channel": "chat", "n": n})])


def _limit(lane: str) -> int:
    return 100 if lane in PAGE_LANES else 50


def _read(store: InMemoryRecordStore, lanes, now: datetime) -> tuple[dict[str, list[str]], int]:
    before = store.round_trips
    reader = DueMessages(store, lanes, now, _limit)
    got = {lane: [r.key for r in reader.of(lane)] for lane in lanes}
    return got, store.round_trips - before


def _lane_by_lane(store: InMemoryRecordStore, lanes, now: datetime) -> dict[str, list[str]]:
    return {lane: [r.key for r in due(store, lane, now, _limit(lane))] for lane in lanes}


def test_a_quiet_outbox_is_read_in_one_scan_for_every_lane_of_the_tick():
    store = InMemoryRecordStore()
    for i, lane in enumerate(ALL):
        _row(store, lane, T0 - timedelta(seconds=5), i)             # due
        _row(store, lane, T0 + timedelta(minutes=5), 100 + i)       # leased or waiting for a retry: not due
    got, trips = _read(store, NOT_ARM_LANES, T0)
    assert trips == 1
    assert got == _lane_by_lane(store, NOT_ARM_LANES, T0)
    assert all(len(keys) == 1 for keys in got.values())
    assert all("azure_alert" not in k for keys in got.values() for k in keys)   # the ARM timer's lane


def test_a_single_lane_is_read_by_its_own_scan():
    store = InMemoryRecordStore()
    _row(store, "azure_alert", T0, 1)
    got, trips = _read(store, ("azure_alert",), T0)
    assert trips == 1 and len(got["azure_alert"]) == 1


def test_a_storm_of_chats_never_hides_a_page_and_each_lane_keeps_its_bound():
    store = InMemoryRecordStore()
    for n in range(300):
        _row(store, "chat", T0 - timedelta(seconds=n % 7), n)
    _row(store, "p1", T0, 1000)
    _row(store, LEGACY, T0 - timedelta(days=1), 1001)
    got, trips = _read(store, NOT_ARM_LANES, T0)
    assert got == _lane_by_lane(store, NOT_ARM_LANES, T0)
    assert len(got["p1"]) == 1 and len(got["chat"]) == 50 and len(got[LEGACY]) == 1
    # the span scan, then a scan for each lane it did not see whole (the legacy lane, before the storm, it did)
    assert trips == 1 + len(NOT_ARM_LANES) - 1


def test_the_same_messages_as_lane_by_lane_whatever_the_outbox_holds():
    rnd = random.Random(7)
    for _ in range(40):
        store = InMemoryRecordStore()
        for n in range(rnd.choice((3, 30, 90, 99, 100, 101, 250))):
            _row(store, rnd.choice(ALL), T0 + timedelta(seconds=rnd.randint(-600, 600)), n)
        lanes = rnd.choice((ALL, NOT_ARM_LANES, PAGE_LANES, ("chat", "ticket")))
        assert _read(store, lanes, T0)[0] == _lane_by_lane(store, lanes, T0)


def test_a_delivered_page_costs_one_scan_its_claim_and_its_settle():
    store = InMemoryRecordStore()
    inc = Incident(id="INC-20261127-0001", title="api down", severity="SEV-1", created_at=T0,
                   classification=Classification("SEV-1", "core", "all", "core, all"))
    msg = outbox.message(T0, inc, channel="pagerduty", action="trigger", role="primary", person="bob")
    store.commit(ops=[outbox_rows.queued(msg)])
    pager = RecordingPager()

    class Clock:
        def now(self) -> datetime:
            return T0 + timedelta(seconds=1)

    before = store.round_trips
    report = outbox.deliver(store=store, clock=Clock(), pager=pager, routing_keys=KEYS, lanes=NOT_ARM_LANES)
    assert report.sent == 1 and pager.triggers() == [f"{inc.id}.primary"]
    assert store.round_trips - before == 3          # the outbox scan, the claim batch, the settle batch
    assert not store.scan(start="out|", end="out}").records
    assert not store.scan(start="inc|", end="inc}").records   # the incident was never read nor written
    timeline = store.scan(start="tl|", end="tl}").records
    assert len(timeline) == 1                        # the delivery, a timeline row of its own
