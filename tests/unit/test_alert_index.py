"""The alert index (shared/storage/alert_index.py) as intake uses it: one parallel read for a new alert
(its de-duplication row folded in), a redelivery answered from that read, and one request for a
redelivery this worker indexed itself."""
from __future__ import annotations

from shared import bootstrap
from shared.services.intake import ingest_alert
from shared.storage import alert_index, repository as keys
from shared.storage.alert_index import REMEMBERED, _Remembered
from tests.payloads import CORE, OTHER_ID, metric_alert

RUNBOOK = bootstrap.load_runbook(bootstrap.settings().runbook_file)


class Recording:
    """Another worker on the same store (its own memory of what it indexed), recording each get."""

    def __init__(self, inner):
        self.inner, self.gets = inner, []

    def get(self, *, keys):
        self.gets.append(list(keys))
        return self.inner.get(keys=keys)

    def scan(self, **kw):
        return self.inner.scan(**kw)

    def commit(self, *, ops):
        return self.inner.commit(ops=ops)


def ingest(store, clock, payload):
    return ingest_alert(payload, store=store, clock=clock, runbook=RUNBOOK, core=CORE).as_dict()


def test_a_new_alert_reads_its_dedup_row_with_the_others_in_one_get(memory_store, clock):
    worker = Recording(memory_store)
    ingest(worker, clock, metric_alert("warm", target=OTHER_ID, rule="warm"))   # the worker's block of ids
    worker.gets.clear()
    ingest(worker, clock, metric_alert("a1", target=OTHER_ID, rule="r1"))
    [read] = worker.gets
    assert read[0] == keys.alert_key(metric_alert("a1")["data"]["essentials"]["alertId"], "F")
    assert {k.split("|")[0] for k in read} == {"alert", "fp", "sil", "ovr", "met"}


def test_a_redelivery_to_the_worker_that_indexed_it_is_one_request(memory_store, clock):
    worker = Recording(memory_store)
    first = ingest(worker, clock, metric_alert("a1"))
    worker.gets.clear()
    assert ingest(worker, clock, metric_alert("a1")) == {**first, "outcome": "duplicate"}
    assert worker.gets == [[keys.alert_key(metric_alert("a1")["data"]["essentials"]["alertId"], "F")]]


def test_a_redelivery_to_another_worker_is_answered_by_its_one_parallel_read(memory_store, clock):
    first = ingest(Recording(memory_store), clock, metric_alert("a1"))
    other = Recording(memory_store)
    assert ingest(other, clock, metric_alert("a1")) == {**first, "outcome": "duplicate"}
    assert len(other.gets) == 1 and len(other.gets[0]) > 1
    other.gets.clear()     # now it remembers: the next redelivery is one request
    assert ingest(other, clock, metric_alert("a1"))["outcome"] == "duplicate"
    assert [len(g) for g in other.gets] == [1]


def test_a_remembered_alert_whose_row_is_gone_is_read_again_whole(memory_store, clock):
    """The memory only chooses the first read: a row deleted since (retention) costs one more wait."""
    worker = Recording(memory_store)
    first = ingest(worker, clock, metric_alert("a1", target=OTHER_ID, rule="r1"))
    akey = keys.alert_key(metric_alert("a1")["data"]["essentials"]["alertId"], "F")
    row = memory_store.get(keys=[akey])[akey]
    from shared.ports import Op
    memory_store.commit(ops=[Op("delete", akey, etag=row.etag)])
    worker.gets.clear()
    again = ingest(worker, clock, metric_alert("a1", target=OTHER_ID, rule="r1"))
    assert again == {**first, "outcome": "correlated"}     # its fingerprint still points at the incident
    assert [len(g) for g in worker.gets][:2] == [1, 4]


def test_the_memory_is_bounded_and_per_store(memory_store):
    seen, other = _Remembered(), object.__new__(type(memory_store))
    for i in range(REMEMBERED + 5):
        seen.add(memory_store, f"k{i}")
    assert (memory_store, "k0") not in seen and (memory_store, f"k{REMEMBERED + 4}") in seen
    assert (other, f"k{REMEMBERED + 4}") not in seen


def test_resolved_reads_both_conditions_at_once(memory_store, clock):
    from tests.payloads import resolved
    worker = Recording(memory_store)
    ingest(worker, clock, metric_alert("a1"))
    worker.gets.clear()
    assert ingest(worker, clock, resolved(metric_alert("a1")))["outcome"] == "resolved"
    assert len(worker.gets[0]) == 2
    assert alert_index.read_resolved(memory_store, metric_alert("a1")["data"]["essentials"]["alertId"])[0]
