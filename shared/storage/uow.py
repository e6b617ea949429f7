"""The unit of work: one business transaction on the store.

    def attempt(uow: UnitOfWork) -> View:
        inc = uow.load(incident_id)          # tracked with the ETag it was read with
        uow.add(*escalation.stop_pages(...)) # domain events: messages, audit records, ...
        uow.save(inc)
        uow.commit()                         # one atomic, ETag-conditional batch
        return view(inc)
    UnitOfWork.run(store, attempt, "acknowledge", derive=schedule.derive(runbook))

At commit, every saved incident becomes its rows (the incident under its ETag, or an insert when new;
its new timeline events as one row; its due-index rows) together with what its change calls for (the
`derive` hook of the service layer: the schedule and the follow-up messages) and its metrics, and every
collected event becomes its row. All of it is one entity-group transaction: written together or not at
all. `run` owns the one retry policy for a lost race: each attempt gets a fresh unit of work and reads
again.

Only this package knows keys: a use case never names a row, builds a write or calls the store.
"""
from __future__ import annotations

from datetime import datetime
from typing import Callable, Mapping, Sequence, TypeVar

from shared.domain.events import Event, MessageQueued, PublicStatusChanged, RemediationAudited, ReviewIndexed
from shared.domain.incident import Incident
from shared.domain.timeutil import iso
from shared.ports import Op, Record, RecordStore
from shared.storage import metrics_store, outbox_rows
from shared.storage.repository import IncidentRepository, public_key, review_key
from shared.storage.retry import retrying

T = TypeVar("T")
# what a saved incident's change calls for: its schedule (step -> due time) and the events it raises
Derive = Callable[[Incident], tuple[Mapping[str, datetime] | None, Sequence[Event]]]


def row_of(event: Event) -> Op:
    """The row an event becomes."""
    if isinstance(event, MessageQueued):
        return outbox_rows.queued(event)
    if isinstance(event, RemediationAudited):
        return Op("insert", f"aud|{iso(event.at)}|{event.remediation_id}|{event.seq:06d}", dict(event.fields))
    if isinstance(event, ReviewIndexed):
        return Op("upsert", review_key(event.incident_id), dict(event.fields))
    if isinstance(event, PublicStatusChanged):
        return Op("upsert", public_key(event.incident_id), dict(event.fields))
    raise TypeError(f"not an event: {event!r}")


class UnitOfWork:
    def __init__(self, store: RecordStore, derive: Derive | None = None):
        self._store = store
        self.incidents = IncidentRepository(store)
        self._derive = derive
        self._etags: dict[str, str | None] = {}      # incident id -> ETag read (None: a new incident)
        self._saved: dict[str, Incident] = {}
        self._events: list[Event] = []
        self._rows: list[Op] = []                    # rows the storage modules add (indexes, guards)
        self._read: dict[str, Record | None] = {}    # rows already read in this unit: not read again at commit
        self._scheduled: dict[str, list[Callable[[Mapping[str, datetime] | None], list[Op]]]] = {}
        self.committed = False

    # -- incidents -----------------------------------------------------------------------------------
    def load(self, incident_id: str) -> Incident:
        """The incident, tracked with its ETag. Raises NotFound."""
        inc, etag = self.incidents.load(incident_id)
        self._etags[inc.id] = etag
        return inc

    def track(self, inc: Incident, etag: str) -> Incident:
        """An incident read elsewhere in this unit (a scan), with the ETag it was read with."""
        self._etags[inc.id] = etag
        return inc

    def create(self, inc: Incident) -> None:
        """A new incident: inserted at commit (a conflict if its id is taken)."""
        self._etags[inc.id] = None
        self._saved[inc.id] = inc

    def save(self, inc: Incident) -> None:
        """Write the loaded incident back at commit, under the ETag it was read with."""
        if inc.id not in self._etags:
            raise KeyError(f"incident {inc.id} was not loaded in this unit of work")
        self._saved[inc.id] = inc

    def etag_of(self, incident_id: str) -> str | None:
        return self._etags.get(incident_id)

    # -- events and rows -----------------------------------------------------------------------------
    def add(self, *events: Event) -> None:
        self._events.extend(events)

    def include(self, ops: Sequence[Op]) -> None:
        """Rows a storage module adds to this unit's batch (storage only: services add events)."""
        self._rows.extend(ops)

    def when_scheduled(self, incident_id: str, rows: Callable[[Mapping[str, datetime] | None], list[Op]]) -> None:
        """Rows that depend on the schedule commit derives for the saved incident (storage only: the due row
        a sweep applied is dropped or kept by the same schedule the save writes)."""
        self._scheduled.setdefault(incident_id, []).append(rows)

    def remember(self, rows: Mapping[str, Record | None]) -> None:
        """Rows read in this unit (present or absent): commit does not read them again."""
        self._read.update(rows)

    def pending(self) -> int:
        return len(self._saved) + len(self._events) + len(self._rows)

    # -- commit ----------------------------------------------------------------------------------------
    def ops(self) -> list[Op]:
        """The batch this unit would write now (derives each saved incident's change)."""
        ops: list[Op] = []
        for inc in self._saved.values():
            schedule, raised = self._derive(inc) if self._derive else (None, ())
            at = max((ev.at for ev in inc.new_events), default=inc.resolved_at or inc.created_at)
            counted = metrics_store.ops(self._store, inc, at, self._read)   # before the save: it marks what is counted
            ops += self.incidents.save_ops(inc, self._etags[inc.id], schedule)
            ops += [row_of(e) for e in raised] + counted
            for rows in self._scheduled.get(inc.id, ()):
                ops += rows(schedule)
        return ops + [row_of(e) for e in self._events] + self._rows

    def commit(self) -> dict[str, str]:
        """Write everything in one atomic batch. Raises ConcurrencyConflict (nothing written) when an
        incident or a guarded row changed since it was read, StoreUnavailable when the store is down."""
        ops = self.ops()
        etags = self._store.commit(ops=ops) if ops else {}
        self._saved.clear()
        self._events.clear()
        self._rows.clear()
        self._scheduled.clear()
        self.committed = True
        return etags

    @staticmethod
    def run(store: RecordStore, attempt: Callable[[UnitOfWork], T], what: str, *, derive: Derive | None = None,
            incident: str = "") -> T:
        """Run `attempt` with a fresh unit of work until it commits without losing a race (the one retry
        policy: shared/storage/retry.py). Raises ConcurrencyConflict when contention outlasts it."""
        return retrying(lambda: attempt(UnitOfWork(store, derive)), what, incident=incident)
