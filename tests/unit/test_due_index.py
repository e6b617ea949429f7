"""The due index's rows (shared/storage/due_index.py) and the sweep's health row riding in its last batch."""
from __future__ import annotations

from datetime import timedelta

from shared.domain.timeutil import iso
from shared.ports import Op, Record
from shared.services.health import health
from shared.services.sweep import ESC, sweep
from shared.storage import due_index
from shared.storage.due_index import SWEEP_META, DueRow
from shared.storage.repository import IncidentRepository, due_key, incident_key
from tests.harness import Harness
from tests.payloads import OTHER_ID, metric_alert


class Counting:
    """The RecordStore port, keeping the batches committed."""

    def __init__(self, inner):
        self.inner, self.batches = inner, []

    def get(self, *, keys):
        return self.inner.get(keys=keys)

    def scan(self, **kw):
        return self.inner.scan(**kw)

    def commit(self, *, ops):
        self.batches.append([op.key for op in ops])
        return self.inner.commit(ops=ops)


def sev1(h: Harness, alert_id: str = "a1", **kw) -> str:
    out = h.alert(metric_alert(alert_id, severity="Sev0", custom={"impact": "core", "scope": "all"}, **kw))
    assert out["outcome"] == "created"
    return out["incident_id"]


def test_a_row_reads_as_typed_fields():
    rec = Record("due|2026-11-27T03:10:00.000000Z|INC-20261127-0001|esc",
                 {"incident_id": "INC-20261127-0001", "lane": "esc", "failures": 2,
                  "retry_at": "2026-11-27T03:11:00.000000Z", "error": "ValueError: x"}, "e1")
    row = DueRow.of(rec)
    assert (row.incident_id, row.lane, row.due_at, row.failures, row.retry_at, row.etag) == (
        "INC-20261127-0001", "esc", "2026-11-27T03:10:00.000000Z", 2, "2026-11-27T03:11:00.000000Z", "e1")
    assert row.complete and not DueRow.of(Record("due|x", {}, "e")).complete


def test_a_lane_is_due_at_its_earliest_step(clock):
    now = clock.now()
    schedule = {"esc:secondary": now + timedelta(minutes=10), "sla:response": now + timedelta(minutes=5),
                "diag": now}
    assert due_index.next_due(schedule, "esc") == iso(now + timedelta(minutes=5))
    assert due_index.next_due(schedule, "arm") == iso(now)
    assert due_index.next_due({}, "esc") is None


def test_a_sweep_that_applies_a_step_carries_its_health_row_in_that_batch(memory_store, clock):
    h = Harness(memory_store, clock)
    inc = sev1(h)
    h.tick()
    clock.advance(minutes=10, seconds=1)     # the secondary step is due
    store = Counting(memory_store)
    report = sweep(store=store, clock=clock, runbook=h.runbook, paging=h.paging(), lane=ESC)
    assert report.applied == [f"{inc}:esc:secondary"]
    assert len(store.batches) == 1 and SWEEP_META in store.batches[0] and incident_key(inc) in store.batches[0]
    meta = memory_store.get(keys=[SWEEP_META])[SWEEP_META].data
    assert (meta["due"], meta["failed"], meta["finished_at"]) == (1, 0, iso(clock.now()))
    assert health(store=memory_store, clock=clock, schedule="*/10 * * * * *")["status"] == "ok"


def test_a_sweep_with_nothing_due_writes_its_health_row_alone(memory_store, clock):
    h = Harness(memory_store, clock)
    sev1(h)
    h.tick()
    store = Counting(memory_store)
    report = sweep(store=store, clock=clock, runbook=h.runbook, paging=h.paging(), lane=ESC)
    assert report.due == 0 and store.batches == [[SWEEP_META]]
    assert sweep(store=store, clock=clock, runbook=h.runbook, paging=h.paging(), lane=ESC, record_health=False)
    assert len(store.batches) == 1


def test_a_failure_after_the_carried_row_is_written_with_the_count(memory_store, clock):
    h = Harness(memory_store, clock)
    good, bad = sev1(h, "a1"), sev1(h, "a2", target=OTHER_ID, rule="bad-rule")
    h.tick()
    rec = memory_store.get(keys=[incident_key(bad)])[incident_key(bad)]
    data = {k: v for k, v in rec.data.items() if not k.startswith("doc")}
    memory_store.commit(ops=[Op("replace", rec.key, {**data, "doc0": '{"id": "broken'}, rec.etag)])
    clock.advance(minutes=10, seconds=1)
    report = sweep(store=memory_store, clock=clock, runbook=h.runbook, paging=h.paging(), lane=ESC)
    assert report.applied == [f"{good}:esc:secondary"] and report.failed == 1
    meta = memory_store.get(keys=[SWEEP_META])[SWEEP_META].data
    assert (meta["due"], meta["failed"]) == (2, 1)
    failing = due_index.failing(memory_store, clock.now())
    assert [(r.incident_id, r.failures) for r in failing] == [(bad, 1)] and failing[0].error.startswith("JSONDecode")


def test_a_lost_row_is_put_back_once(memory_store, clock):
    h = Harness(memory_store, clock)
    inc = sev1(h)
    doc, _ = IncidentRepository(memory_store).load(inc)
    lost = due_key(doc.lanes["esc"], inc, "esc")
    memory_store.commit(ops=[Op("delete", lost, etag=memory_store.get(keys=[lost])[lost].etag)])
    back = due_index.put_back(memory_store, [doc])
    assert [(r.key, r.incident_id, r.lane) for r in back] == [(lost, inc, "esc")]
    assert memory_store.get(keys=[lost]) and due_index.put_back(memory_store, [doc]) == []
