"""Incident ids without a hot row: a worker reserves ids in blocks, so concurrent creation does not
contend on the day's counter; ids stay unique, short and ordered by day."""
from __future__ import annotations

import threading

from shared.storage import repository as keys
from shared.storage.incident_ids import ID_BLOCK
from tests.harness import Harness
from tests.payloads import OTHER_ID, metric_alert


class CountingStore:
    """Counts the commits that touch the day's counter row."""

    def __init__(self, inner):
        self.inner, self.counter_writes = inner, 0

    def get(self, **kw):
        return self.inner.get(**kw)

    def scan(self, **kw):
        return self.inner.scan(**kw)

    def commit(self, *, ops):
        self.counter_writes += any(op.key.startswith("seq|") for op in ops)
        return self.inner.commit(ops=ops)


def test_concurrent_new_incidents_write_the_counter_once_per_block(table_store, clock):
    store = CountingStore(table_store)
    h = Harness(store, clock)
    n, results, barrier = 40, [], threading.Barrier(8)

    def send(i0: int) -> None:
        barrier.wait()
        for i in range(i0, n, 8):
            results.append(h.alert(metric_alert(f"a{i}", target=f"{OTHER_ID}{i}", rule=f"rule-{i}")))
    threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [r["incident_id"] for r in results]
    assert len(results) == n and all(r["outcome"] == "created" for r in results)
    assert len(set(ids)) == n and all(i.startswith(f"INC-{clock.now():%Y%m%d}-") and len(i) == 17 for i in ids)
    assert store.counter_writes == n // ID_BLOCK          # not one write per incident
    assert sorted(ids) == [f"INC-{clock.now():%Y%m%d}-{k:04d}" for k in range(1, n + 1)]


def test_two_workers_take_disjoint_blocks(memory_store, clock):
    a, b = Harness(memory_store, clock), Harness(CountingStore(memory_store), clock)  # two caches
    ids = []
    for i in range(6):
        ids.append(a.alert(metric_alert(f"a{i}", target=f"{OTHER_ID}{i}", rule=f"ra{i}"))["incident_id"])
        ids.append(b.alert(metric_alert(f"b{i}", target=f"{OTHER_ID}x{i}", rule=f"rb{i}"))["incident_id"])
    assert len(set(ids)) == 12
    day = f"{clock.now():%Y%m%d}"
    assert memory_store.get(keys=[keys.counter_key(day)])[keys.counter_key(day)].data["n"] == 2 * ID_BLOCK
