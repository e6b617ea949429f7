"""Alerts joining an open incident, and the joins of a storm combined.

Every join rewrites the incident under its ETag, so joins to one incident serialize. The joins this
worker's threads make to one incident at the same time are combined (shared/services/join_queue.py):
one thread loads the incident once, applies the queued joins in arrival order (each its own change,
timeline events and index rows) and commits up to 20 of them in one batch; a lost race retries the
whole group, first re-reading which of its alerts another writer indexed meanwhile. A join alone
costs what it always did: its read, the load, one batch.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence

from shared.domain.alerts import Alert
from shared.domain.classification import Classification
from shared.domain.errors import ConcurrencyConflict, NotFound
from shared.domain.events import Event
from shared.domain.incident import Incident
from shared.domain.policy import Runbook
from shared.ports import Clock, RecordStore
from shared.services import escalation, join_queue, remediation, reminders
from shared.services.escalation import Paging
from shared.services.remediation import Remedy
from shared.services.schedule import derive
from shared.storage import alert_index
from shared.storage.alert_index import FiredRead
from shared.storage.uow import UnitOfWork

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class IntakeResult:
    incident_id: str | None
    outcome: str          # created, correlated, duplicate, resolved, ignored
    severity: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"incident_id": self.incident_id, "outcome": self.outcome, "severity": self.severity}


@dataclass(frozen=True)
class IntakeJob:
    """What every attempt of one fired alert works with."""
    store: RecordStore
    clock: Clock
    runbook: Runbook
    core: dict[str, str]
    remedy: Remedy
    paging: Paging
    reserved: list[str]   # the id a lost race reserved is used by the retry: no gap in the day's ids


@dataclass(frozen=True)
class Joining:
    """A fired alert about to join an open incident: what its `_join` needs."""
    alert: Alert
    c: Classification
    why: str
    now: datetime
    core_ids: frozenset[str]
    read: FiredRead
    job: IntakeJob
    paging: Paging

    def join(self, inc: Incident) -> Sequence[Event]:
        return join(inc, self.alert, self.c, self.why, self.now, self.core_ids, self.job.runbook, self.job.remedy,
                     self.paging)


def join_queued(incident_id: str, j: Joining, uow: UnitOfWork) -> IntakeResult | None:
    """The alert joins the open incident `incident_id`, together with the joins other threads of this worker
    make to it at the same time (one load, one batch: `_Group`); None when the incident is gone (a dangling
    index row is not an error) or closed. When its group failed as a whole, the alert joins on its own in
    `uow` (a lost race there is retried by the caller's unit of work)."""
    try:
        return _JOINS.submit(j.job.store, incident_id, j)
    except join_queue.LeaderFailed as e:
        log.info("incident %s: %s joins on its own (%s)", incident_id, j.alert.alert_id, e,
                 extra={"incident_id": incident_id})
    try:
        inc = uow.load(incident_id)
    except NotFound:
        return None
    if not inc.is_open:
        return None
    uow.add(*j.join(inc))
    return joined(inc, j.read, uow, j.job)


class _Failed(Exception):
    """One member's join raised: it is answered with that error, the group goes on without it."""

    def __init__(self, index: int, error: Exception):
        super().__init__(index, error)
        self.index, self.error = index, error


# a group's rows besides the incident's own (incident, timeline, due rows, metrics, follow-ups): under 100
GROUP_ROWS = 80
_Outcome = IntakeResult | None | BaseException | join_queue.Later


class _Group:
    """The joins of one group to one incident (join_queue's `run`). Each attempt loads the incident once,
    applies the joins in arrival order and commits them in one ETag-conditional batch; a lost race retries
    the whole group through UnitOfWork.run, first re-reading which of its alerts another writer indexed
    meanwhile (those are duplicates for their callers)."""

    def __init__(self, incident_id: str, members: Sequence[Joining]):
        self.incident_id, self.members = incident_id, members
        self.todo = list(range(len(members)))
        self.raced = False   # the last attempt lost a race: its reads of the alerts' rows may be stale

    def attempt(self, uow: UnitOfWork) -> dict[int, _Outcome]:
        out: dict[int, _Outcome] = {}
        if self.raced:
            seen = alert_index.read_seen(self.members[0].job.store, [self.members[i].read.alert_id for i in self.todo])
            out = {i: IntakeResult(s.incident_id, "duplicate", s.severity) for i in self.todo
                   if (s := seen.get(self.members[i].read.alert_id)) is not None}
        todo = [i for i in self.todo if i not in out]
        try:
            inc: Incident | None = uow.load(self.incident_id) if todo else None
        except NotFound:
            inc = None
        if inc is None or not inc.is_open:
            return {**out, **dict.fromkeys(todo)}   # each alert decides again on its own
        joined: dict[str, tuple[int, str]] = {}   # alert id -> (member, the severity its join left)
        rows = 0
        for i in todo:
            j = self.members[i]
            if j.read.alert_id in joined:   # the same alert delivered twice at once
                out[i] = IntakeResult(inc.id, "duplicate", joined[j.read.alert_id][1])
            elif joined and uow.pending() + rows + alert_index.rows_joined(j.read) > GROUP_ROWS:
                out[i] = join_queue.LATER
            else:
                try:
                    uow.add(*j.join(inc))
                except Exception as e:   # this alert's failure only: retried without it, on a fresh load
                    raise _Failed(i, e) from e
                joined[j.read.alert_id] = (i, inc.severity)
                rows += alert_index.rows_joined(j.read)
        uow.save(inc)
        alert_index.index_joined_together(uow, inc, [(self.members[i].read, sev) for i, sev in joined.values()])
        try:
            uow.commit()
        except ConcurrencyConflict:
            self.raced = True
            raise
        for i, severity in joined.values():
            alert_index.indexed(self.members[i].job.store, self.members[i].read)
            out[i] = IntakeResult(inc.id, "correlated", severity)
        return out


def _join_together(incident_id: str, members: Sequence[Joining]) -> list[_Outcome]:
    """join_queue's `run`: the outcome of each member (a result, None: the incident is not open, an error,
    LATER: not in this batch). Raises StoreUnavailable, or ConcurrencyConflict when contention outlasts the
    retries (every follower then joins on its own)."""
    group, settled = _Group(incident_id, members), dict[int, _Outcome]()
    job = members[0].job
    while group.todo:
        try:
            settled.update(UnitOfWork.run(job.store, group.attempt, "joined alerts", derive=derive(job.runbook),
                                          incident=incident_id))
            break
        except _Failed as e:
            settled[e.index] = e.error
            group.todo.remove(e.index)
    if len(members) > 1:
        log.info("incident %s: %d alerts joined in one change", incident_id,
                 sum(isinstance(r, IntakeResult) and r.outcome == "correlated" for r in settled.values()),
                 extra={"incident_id": incident_id})
    return [settled[i] for i in range(len(members))]


_JOINS: join_queue.JoinQueue[Joining, IntakeResult | None] = join_queue.JoinQueue(_join_together)


def join(inc: Incident, alert: Alert, c: Classification, why: str, now: datetime, core_ids: frozenset[str],
          runbook: Runbook, remedy: Remedy, paging: Paging) -> Sequence[Event]:
    """The alert joins the open incident `inc`; returns the messages of the change."""
    rose = inc.join(alert, c, now, core_ids, why)
    if rose:
        escalation.replan(inc, runbook, now)
    # a second firing is no longer noise: what the pause held goes out in this same change
    ended = escalation.end_pause(inc, now, f"an alert joined and raised it to {inc.severity}" if rose
                                 else f"another alert joined ('{alert.alert_rule or alert.alert_id}')")
    outbox = escalation.fire_due(inc, now, runbook, paging) if rose or ended else []
    remediation.on_alert(inc, alert, runbook, remedy, now)
    if "personal_data" in alert.custom_properties:
        reminders.from_alert(inc, alert.custom_properties["personal_data"], alert.fired_at, now)
    return outbox


def joined(inc: Incident, read: FiredRead, uow: UnitOfWork, job: IntakeJob) -> IntakeResult:
    uow.save(inc)
    alert_index.index_joined(uow, inc, read)
    uow.commit()
    alert_index.indexed(job.store, read)
    return IntakeResult(inc.id, "correlated", inc.severity)
