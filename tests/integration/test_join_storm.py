"""A storm of alerts joining one open incident, on the in-memory store and on Azurite: the joins one worker's
threads make at the same time are combined (shared/services/join_queue.py), so the incident is rewritten a
few times, not once per alert, and a conflict from another worker still ends with every join recorded once.
The queue's own rules (groups, cap, a failed leader, the bounded wait) are tested first, without a store."""
from __future__ import annotations

import re
import threading
import time
from collections import Counter

import pytest

from shared import bootstrap
from shared.domain.errors import ConcurrencyConflict, StoreUnavailable
from shared.services import joining
from shared.services.intake import ingest_alert
from shared.services.join_queue import LATER, JoinQueue, LeaderFailed
from shared.storage.repository import IncidentRepository, alert_key
from tests.payloads import CORE, metric_alert

RUNBOOK = bootstrap.load_runbook(bootstrap.settings().runbook_file)
STORE = object()   # the queue keys its lanes by store: any object will do
N = 50


def until(done, seconds: float = 10.0) -> None:
    """Wait for other threads to reach a state (bounded); a test that times out fails."""
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, "timed out waiting for the other threads"
        time.sleep(0.001)


def in_threads(n: int, fn) -> list:
    out: list = [None] * n

    def one(i: int) -> None:
        try:
            out[i] = fn(i)
        except BaseException as e:   # noqa: BLE001 - the test asserts on it
            out[i] = e
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    return [threads, out]


def joined(threads) -> None:
    for t in threads:
        t.join(60)
        assert not t.is_alive()


# -- the queue -------------------------------------------------------------------------------------------

class Blocking:
    """A `run` that records each group and holds the first one until released."""

    def __init__(self, later_after: int | None = None, fail_group: int | None = None):
        self.groups: list[list[int]] = []
        self.release, self.running = threading.Event(), threading.Event()
        self.later_after, self.fail_group = later_after, fail_group

    def __call__(self, key, items):
        self.groups.append(list(items))
        if len(self.groups) == 1:
            self.running.set()
            assert self.release.wait(10)
        if len(self.groups) == self.fail_group:
            raise StoreUnavailable("down")
        cut = self.later_after or len(items)
        return [f"{key}:{x}" if k < cut else LATER for k, x in enumerate(items)]


def test_an_item_alone_runs_at_once_in_a_group_of_one():
    run = Blocking()
    run.release.set()
    q = JoinQueue(run)
    assert q.submit(STORE, "INC-1", 7) == "INC-1:7"
    assert run.groups == [[7]] and q.lanes() == 0


def test_items_queued_while_a_group_runs_form_the_next_groups_up_to_the_cap():
    run = Blocking()
    q = JoinQueue(run, cap=3)
    threads, out = in_threads(1, lambda i: q.submit(STORE, "INC-1", 0))
    assert run.running.wait(10)
    more, out2 = in_threads(7, lambda i: q.submit(STORE, "INC-1", i + 1))
    until(lambda: q.waiting(STORE, "INC-1") == 7)
    other = q.submit(object(), "INC-1", 99)   # another store: its own lane, not held up
    run.release.set()
    joined(threads + more)
    assert other == "INC-1:99"
    assert out == ["INC-1:0"] and out2 == [f"INC-1:{i + 1}" for i in range(7)]
    sizes = [len(g) for g in run.groups if g != [99]]
    assert sizes == [1, 3, 3, 1] and sorted(x for g in run.groups for x in g) == [*range(8), 99]
    assert q.lanes() == 0


def test_an_item_that_does_not_fit_waits_for_the_next_group():
    run = Blocking(later_after=2)
    q = JoinQueue(run, cap=5)
    threads, out = in_threads(1, lambda i: q.submit(STORE, "k", 0))
    assert run.running.wait(10)
    more, out2 = in_threads(5, lambda i: q.submit(STORE, "k", i + 1))
    until(lambda: q.waiting(STORE, "k") == 5)
    run.release.set()
    joined(threads + more)
    assert out + out2 == [f"k:{i}" for i in range(6)]
    assert [len(g) for g in run.groups] == [1, 5, 3, 1]   # 2 of 5 fit, the 3 left first in the next group


def test_a_failed_group_raises_in_its_leader_and_tells_each_follower_to_go_alone():
    run = Blocking(fail_group=2)
    q = JoinQueue(run)
    threads, out = in_threads(1, lambda i: q.submit(STORE, "k", 0))
    assert run.running.wait(10)
    more, out2 = in_threads(3, lambda i: q.submit(STORE, "k", i + 1))
    until(lambda: q.waiting(STORE, "k") == 3)
    run.release.set()
    joined(threads + more)
    assert out == ["k:0"] and [len(g) for g in run.groups] == [1, 3]
    assert sorted(type(o).__name__ for o in out2) == ["LeaderFailed", "LeaderFailed", "StoreUnavailable"]
    assert q.lanes() == 0


def test_a_follower_waits_a_bounded_time_then_goes_alone():
    run = Blocking()
    q = JoinQueue(run, wait_s=0.05)
    threads, out = in_threads(1, lambda i: q.submit(STORE, "k", 0))
    assert run.running.wait(10)
    with pytest.raises(LeaderFailed):
        q.submit(STORE, "k", 1)
    assert q.waiting(STORE, "k") == 0
    run.release.set()
    joined(threads)
    assert out == ["k:0"] and run.groups == [[0]] and q.lanes() == 0


# -- intake on a store -----------------------------------------------------------------------------------

class Watched:
    """A worker's store: counts the batches that rewrite an incident (alert rows in each) and those refused,
    and the alerts' parallel reads; `hook(ops)` runs before each batch that rewrites an incident."""

    def __init__(self, inner):
        self.inner, self.hook = inner, None
        self.rewrites: list[int] = []
        self.refused = self.reads = 0
        self.lock = threading.Condition()

    def get(self, *, keys):
        found = self.inner.get(keys=keys)
        if len(keys) > 1 and any(k.startswith("alert|") for k in keys):
            with self.lock:
                self.reads += 1
                self.lock.notify_all()
        return found

    def scan(self, **kw):
        return self.inner.scan(**kw)

    def commit(self, *, ops):
        rewrite = any(op.key.startswith("inc|") and op.kind == "replace" for op in ops)
        if rewrite and self.hook is not None:
            self.hook(ops)
        try:
            etags = self.inner.commit(ops=ops)
        except ConcurrencyConflict:
            with self.lock:
                self.refused += 1
            raise
        if rewrite:
            with self.lock:
                self.rewrites.append(sum(op.key.startswith("alert|") for op in ops))
        return etags


@pytest.fixture(params=["memory", "table"])
def inner(request):
    return request.getfixturevalue(f"{request.param}_store")


def ingest(store, clock, payload):
    return ingest_alert(payload, store=store, clock=clock, runbook=RUNBOOK, core=CORE).as_dict()


def storm_alert(i: int) -> dict:
    return metric_alert(f"storm-{i:03d}", rule=f"api-rule-{i:03d}", severity="Sev1")


def open_incident(store, clock) -> str:
    out = ingest(store, clock, metric_alert("first", rule="api-first", severity="Sev1"))
    assert out["outcome"] == "created"
    return out["incident_id"]


def first_batch_waits_for_every_read(store: Watched, n: int):
    """The first rewrite waits until all `n` joiners have read (so the others queue behind it)."""
    state = {"first": True}

    def hook(ops):
        if state["first"]:
            state["first"] = False
            with store.lock:
                assert store.lock.wait_for(lambda: store.reads >= n, 30)
    return hook


def storm(store, clock, n: int = N) -> list[dict]:
    threads, out = in_threads(n, lambda i: ingest(store, clock, storm_alert(i)))
    joined(threads)
    for o in out:
        if isinstance(o, BaseException):
            raise o
    return out


def joins_recorded(store, incident_id: str) -> Counter:
    """The alert rules of the incident's "alert-correlated" timeline events, counted."""
    events, _ = IncidentRepository(store).timeline(incident_id)
    return Counter(re.match(r"Correlated: '([^']+)'", e["text"]).group(1)   # type: ignore[union-attr]
                   for e in events if e["kind"] == "alert-correlated")


def test_a_storm_joining_one_incident_rewrites_it_a_few_times_not_once_per_alert(inner, clock):
    store = Watched(inner)
    incident_id = open_incident(store, clock)
    store.hook = first_batch_waits_for_every_read(store, N)
    out = storm(store, clock)
    assert {o["incident_id"] for o in out} == {incident_id}
    assert [o["outcome"] for o in out] == ["correlated"] * N and {o["severity"] for o in out} == {"SEV-1"}
    shown = IncidentRepository(inner).load(incident_id)[0]
    assert shown.alert_count == N + 1
    assert joins_recorded(inner, incident_id) == Counter({f"api-rule-{i:03d}": 1 for i in range(N)})
    assert sum(store.rewrites) == N and len(store.rewrites) <= 8, store.rewrites   # 1, then groups of up to 20
    assert max(store.rewrites) <= 20 and store.refused == 0
    assert joining._JOINS.lanes() == 0
    again = ingest(store, clock, storm_alert(7))   # every alert is indexed: a redelivery is a duplicate
    assert again == {"incident_id": incident_id, "outcome": "duplicate", "severity": "SEV-1"}


def test_a_conflict_from_another_worker_mid_storm_retries_the_group_and_records_every_join_once(inner, clock):
    store, elsewhere = Watched(inner), Watched(inner)   # two workers: their own queues, their own memory
    incident_id = open_incident(store, clock)
    wait = first_batch_waits_for_every_read(store, N)
    injected = []

    def hook(ops):
        wait(ops)
        if not injected and sum(op.key.startswith("alert|") for op in ops) > 1:   # the first combined batch
            injected.append(ingest(elsewhere, clock, metric_alert("other-worker", rule="api-other", severity="Sev1")))
    store.hook = hook
    out = storm(store, clock)
    assert injected == [{"incident_id": incident_id, "outcome": "correlated", "severity": "SEV-1"}]
    assert store.refused >= 1   # the combined batch lost to the other worker's change, and was retried
    assert [o["outcome"] for o in out] == ["correlated"] * N and {o["incident_id"] for o in out} == {incident_id}
    assert IncidentRepository(inner).load(incident_id)[0].alert_count == N + 2
    assert joins_recorded(inner, incident_id) == Counter({**{f"api-rule-{i:03d}": 1 for i in range(N)},
                                                          "api-other": 1})
    assert sum(store.rewrites) == N and len(store.rewrites) <= 9


def test_an_alert_another_worker_indexed_meanwhile_is_a_duplicate_for_its_caller(inner, clock):
    store, elsewhere = Watched(inner), Watched(inner)
    incident_id = open_incident(store, clock)
    wait = first_batch_waits_for_every_read(store, N)
    keys = {alert_key(metric_alert(f"storm-{i:03d}")["data"]["essentials"]["alertId"], "F"): i for i in range(N)}
    taken: list[int] = []

    def hook(ops):
        wait(ops)
        mine = [keys[op.key] for op in ops if op.key in keys]
        if not taken and len(mine) > 1:   # the other worker gets the same alert (a redelivery) first
            taken.append(mine[-1])
            assert ingest(elsewhere, clock, storm_alert(mine[-1]))["outcome"] == "correlated"
    store.hook = hook
    out = storm(store, clock)
    [k] = taken
    assert out[k] == {"incident_id": incident_id, "outcome": "duplicate", "severity": "SEV-1"}
    assert [o["outcome"] for i, o in enumerate(out) if i != k] == ["correlated"] * (N - 1)
    assert IncidentRepository(inner).load(incident_id)[0].alert_count == N + 1
    assert joins_recorded(inner, incident_id) == Counter({f"api-rule-{i:03d}": 1 for i in range(N)})


def test_a_join_alone_costs_its_read_the_load_and_one_batch(memory_store, clock):
    incident_id = open_incident(memory_store, clock)
    before = memory_store.round_trips
    assert ingest(memory_store, clock, storm_alert(1))["incident_id"] == incident_id
    assert memory_store.round_trips - before == 3
