"""Two sweepers racing (threads, real Azurite) over 1,002 due steps: 167 SEV-1 incidents an hour old,
each with six steps of the escalation lane due (pages to the secondary, the engineering lead, the
executives and the CTO; the response and resolution SLA checks). Every step is applied by exactly
one sweeper, and each page it causes is written to the outbox exactly once per incident and role,
whatever the write conflicts between the two."""
from __future__ import annotations

import threading
from collections import Counter

from shared.adapters.memory import InMemoryRecordStore
from shared.domain.errors import ConcurrencyConflict
from shared.domain.timeutil import parse_iso
from shared.ports import Op
from shared.storage.repository import IncidentRepository
from shared.services.sweep import ESC, sweep
from tests.faults.conftest import FAULTS
from tests.harness import RUNBOOK, Harness
from tests.payloads import OTHER_ID, metric_alert

INCIDENTS = 167
SEV1_ROLES = {"primary", "secondary", "engineering_lead", "vp_engineering", "customer_success_lead", "cto"}


class ConflictCounting:
    """The RecordStore port around another, counting the commits that lost a race."""

    def __init__(self, inner):
        self.inner, self.conflicts, self._lock = inner, 0, threading.Lock()

    def get(self, *, keys):
        return self.inner.get(keys=keys)

    def scan(self, **kw):
        return self.inner.scan(**kw)

    def commit(self, *, ops):
        try:
            return self.inner.commit(ops=ops)
        except ConcurrencyConflict:
            with self._lock:
                self.conflicts += 1
            raise


def seed(table_store, clock) -> list[str]:
    """SEV-1 incidents opened through intake (on the in-memory store, for speed), copied row for
    row into the Azurite table: incidents, timelines, index, due rows and the primary pages."""
    memory = InMemoryRecordStore()
    h = Harness(memory, clock)
    ids = [h.alert(metric_alert(f"race{i}", target=f"{OTHER_ID}-{i}", rule=f"race-{i}", severity="Sev0",
                                custom={"impact": "core", "scope": "all"}))["incident_id"] for i in range(INCIDENTS)]
    rows = memory.scan(start="", end="~").records
    for i in range(0, len(rows), 100):
        table_store.commit(ops=[Op("upsert", r.key, r.data) for r in rows[i:i + 100]])
    return ids


def test_two_sweepers_racing_over_1000_due_steps_apply_each_exactly_once(table_store, clock):
    ids = seed(table_store, clock)
    clock.advance(minutes=61)
    repo = IncidentRepository(table_store)
    due_steps = {f"{inc.id}:{step}" for inc, _ in repo.open_incidents() for step, at in inc.scheduled.items()
                 if step.startswith(("esc:", "sla:")) and parse_iso(at) <= clock.now()}
    assert len(due_steps) == 6 * INCIDENTS == 1002

    store = ConflictCounting(table_store)
    paging = Harness(store, clock).paging()
    barrier, applied, errors = threading.Barrier(2), Counter(), []

    def sweeper():
        barrier.wait()
        try:
            for _ in range(10):
                report = sweep(store=store, clock=clock, runbook=RUNBOOK, paging=paging, lane=ESC)
                applied.update(report.applied)
                assert report.deferred >= 0
                if report.due == 0:
                    return
        except BaseException as e:  # noqa: BLE001 - asserted below
            errors.append(e)
    threads = [threading.Thread(target=sweeper) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    FAULTS["write conflicts between racing sweepers"] += store.conflicts
    assert errors == []
    assert set(applied) == due_steps and set(applied.values()) == {1}   # each step by exactly one sweeper

    outbox = table_store.scan(start="out|", end="out}").records
    pages = Counter((r.data["incident_id"], r.data["role"]) for r in outbox
                    if r.data["channel"] == "pagerduty" and r.data["action"] == "trigger")
    assert set(pages) == {(inc, role) for inc in ids for role in SEV1_ROLES}
    assert set(pages.values()) == {1}
    openers = Counter((r.data["incident_id"], r.data["channel"]) for r in outbox    # the first chat message
                      if r.data["channel"] != "pagerduty" and r.data.get("opener"))  # waits for diagnostics (ARM)
    assert set(openers) == {(inc, ch) for inc in ids for ch in ("ticket", "status_page")}
    assert set(openers.values()) == {1}
    drafts = Counter(r.data["incident_id"] for r in outbox if r.data.get("kind") == "customer email draft")
    assert set(drafts) == set(ids) and set(drafts.values()) == {1}                  # no tenant: one draft each
    for inc, _ in repo.open_incidents():
        assert set(inc.escalation.done) == {"primary", "secondary", "engineering_lead", "executives", "cto"}
