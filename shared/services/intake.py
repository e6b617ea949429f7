"""ingest_alert: an Azure Monitor alert in, a classified incident in the store out.

New alert: one parallel point read (its de-duplication row, fingerprint, silences, overrides, core-resource
rows and the metrics row: shared/storage/alert_index.py), then one unit of work: the incident, its timeline,
its index rows, its schedule and the pages of its 0-minute step in one atomic batch (2 sequential waits; a
tenth of new incidents add two for the worker's next block of ids). Duplicate: answered from that read; a
redelivery of an alert this worker indexed itself is answered with one request. Races are settled by the
batch's conditions: the loser re-reads and finds the winner's incident.

Resource Health reports the app's own remediations too: restarting PostgreSQL or rebooting Redis makes
the resource Unavailable (cause UserInitiated). Such an event joins the incident whose remediation acted
on that resource as an expected effect, found through the resource's index row (read with the rest).

Noise control ([intake] pause_minutes): a SEV-3/SEV-4 opened by an alert holds its ladder (ticket, chat) for
the pause. Every alert resolving within it resolves the incident at once as transient, nothing sent; another
alert joining (or a severity raise) ends the pause and the held work goes out in that same batch.

A storm joining one incident: the joins this worker makes to it at the same time are combined into one
change (shared/services/joining.py).
"""
from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Sequence

from shared.domain.alerts import Alert, parse_alert
from shared.domain.classification import Classification, classify
from shared.domain.errors import ConcurrencyConflict, NotFound
from shared.domain.events import Event
from shared.domain.incident import AUTOMATION, Incident
from shared.domain.policy import Runbook
from shared.domain.remediation_entry import Remediation
from shared.domain.remediation_lifecycle import RemediationStatus
from shared.ports import Clock, RecordStore
from shared.services import escalation, oncall, remediation, reminders, silences
from shared.services.escalation import Paging
from shared.services.remediation import Remedy
from shared.services.schedule import derive
from shared.storage import alert_index
from shared.storage.alert_index import FiredRead
from shared.storage.uow import UnitOfWork
from shared.services.joining import IntakeJob, IntakeResult, Joining, join_queued, joined  # noqa: F401  (IntakeResult: the answer)

log = logging.getLogger(__name__)
# Azure's clock (firedDateTime) against ours (a remediation's started_at): an effect a little "before"
# its cause is the two clocks disagreeing, not another cause.
CLOCK_SKEW = timedelta(minutes=2)


def ingest_alert(payload: Any, *, store: RecordStore, clock: Clock, runbook: Runbook,
                 core: dict[str, str], remedy: Remedy | None = None, paging: Paging | None = None) -> IntakeResult:
    """Parse, de-duplicate, correlate or create. Raises InvalidInput/UnsupportedSchema for bad input,
    StoreUnavailable when the store is down (nothing is written then)."""
    alert = parse_alert(payload)
    if alert.is_resolved:
        return UnitOfWork.run(store, lambda uow: _resolved(alert, uow, store, clock, runbook), "resolved alert",
                              derive=derive(runbook))
    job = IntakeJob(store, clock, runbook, core, remedy or Remedy(core=core), paging or Paging(), [])
    return UnitOfWork.run(store, lambda uow: _fired(alert, uow, job), "fired alert", derive=derive(runbook))


def _fired(alert: Alert, uow: UnitOfWork, job: IntakeJob) -> IntakeResult:
    now, runbook, core = job.clock.now(), job.runbook, job.core
    core_ids = frozenset(core.values())
    c = classify(alert, runbook.rules, core)
    read = alert_index.read_fired(job.store, alert, core_ids, c.severity, now)
    if read.seen is not None:  # a redelivery
        return IntakeResult(read.seen.incident_id, "duplicate", read.seen.severity)
    paging = replace(job.paging, load_overrides=lambda: oncall.overrides_of(read.overrides))
    if alert.is_recovery_notice:
        return _recovery(alert, read, uow, job, now)
    if _maybe_own_action(alert):
        expected = _expected(alert, read, uow, runbook, now, core_ids)
        if expected is not None:
            return joined(expected, read, uow, job)
    joining = Joining(alert, c, "", now, core_ids, read, job, paging)
    for incident_id, why in _candidates(read, now, runbook, alert).items():
        result = join_queued(incident_id, replace(joining, why=why), uow)
        if result is not None:
            return result
    return _create(alert, c, read, uow, replace(job, paging=paging), now)


def _create(alert: Alert, c: Classification, read: FiredRead, uow: UnitOfWork, job: IntakeJob,
            now: datetime) -> IntakeResult:
    runbook = job.runbook
    if not job.reserved:   # from this worker's block of ids: no shared row in the batch; the batch failed: unused
        job.reserved.append(uow.incidents.allocate_id(now))
    incident_id = job.reserved[0]
    inc = Incident.from_alert(incident_id, alert, c, now, frozenset(job.core.values()))
    silence = silences.matching(alert, c.tenants, read.silences, now)
    if silence:
        inc.silence = silence
        inc.record(now, "silenced", AUTOMATION, f"Matches silence {silence['id']} ({silence['reason']}): "
                   f"nobody is paged until {silence['until']}", silence_id=silence["id"])
    escalation.plan(inc, runbook, now)
    uow.add(*escalation.fire_due(inc, now, runbook, job.paging))  # the 0-minute step, in the same batch
    remediation.on_alert(inc, alert, runbook, job.remedy, now)
    if "personal_data" in alert.custom_properties:   # GDPR Article 33: the alert answers the question
        reminders.from_alert(inc, alert.custom_properties["personal_data"], alert.fired_at, now)
    uow.create(inc)
    alert_index.index_created(uow, inc, read)
    try:
        uow.commit()
    except ConcurrencyConflict:
        # the id is taken (a counter behind its incidents would collide on every retry): heal, take another;
        # else another row of the batch raced (a metrics row): the retry keeps the id, so the day has no gap
        if uow.incidents.exists(incident_id):
            uow.incidents.heal_counter(now)
            job.reserved.clear()
        raise
    alert_index.indexed(job.store, read)
    log.info("incident %s opened: %s", inc.id, c.reason, extra={"incident_id": inc.id})
    return IntakeResult(inc.id, "created", inc.severity)


def _candidates(read: FiredRead, now: datetime, runbook: Runbook, alert: Alert) -> dict[str, str]:
    """Open incidents this alert may join, and why: same fingerprint, or same core resource recently."""
    found: dict[str, str] = {}
    if read.fingerprint is not None:
        found[read.fingerprint] = alert.fingerprint_basis
    for incident_id, last_at in read.resources:
        if now - last_at <= runbook.correlation_window:
            found.setdefault(incident_id, "same core resource within the correlation window")
    return found


def _maybe_own_action(alert: Alert) -> bool:
    """Resource Health reports a resource down by a user's hand (a remediation's restart is one), or does not
    say why: Azure may log a transition before it knows its cause (Learn, "Create and configure Resource
    Health alerts": "It's possible for the cause field to be null in some events")."""
    return (alert.health_status or "").lower() in ("unavailable", "degraded") and \
        (alert.health_cause or "UserInitiated").lower() == "userinitiated"


def _expected(alert: Alert, read: FiredRead, uow: UnitOfWork, runbook: Runbook, now: datetime,
              core_ids: frozenset[str]) -> Incident | None:
    """The open incident (loaded in `uow`) whose remediation acted on the alert's resource, with the alert
    added as that remediation's expected effect; None when no remediation explains it. The candidate is the
    last incident of the resource (its index row): a remediation acts only on a resource its incident had an
    alert on."""
    for incident_id, _ in read.resources:
        try:
            inc = uow.load(incident_id)
        except NotFound:
            continue
        entry = _explaining(inc, alert, runbook.remediation.verify_after) if inc.is_open else None
        if entry is not None:
            inc.expected_effect(alert, entry, now, core_ids)
            log.info("incident %s: %s is the expected effect of %s", inc.id, alert.alert_id, entry.id,
                     extra={"incident_id": inc.id})
            return inc
    return None


def _explaining(inc: Incident, alert: Alert, verify_after: timedelta) -> Remediation | None:
    """The remediation of `inc` that acted on the alert's resource when the alert fired: executing or
    verifying, or finished at most its verification window before (Resource Health reports late)."""
    for entry in reversed(inc.remediations):
        started = entry.execution.started_at if entry.execution else None
        if started is None or (entry.resource_id or "").lower() not in alert.target_ids \
                or alert.fired_at < started - CLOCK_SKEW:
            continue
        if entry.status in (RemediationStatus.EXECUTING, RemediationStatus.VERIFYING):
            return entry
        finished = (entry.execution.finished_at if entry.execution else None) or started
        until = entry.verification.until if entry.verification else finished + verify_after
        if entry.status in (RemediationStatus.SUCCEEDED, RemediationStatus.FAILED) and alert.fired_at <= until:
            return entry
    return None


def _recovery(alert: Alert, read: FiredRead, uow: UnitOfWork, job: IntakeJob, now: datetime) -> IntakeResult:
    """A recovery notice resolves the open incident of its fingerprint; it never opens one."""
    if read.fingerprint is None:
        return IntakeResult(None, "ignored", None)
    try:
        inc = uow.load(read.fingerprint)
    except NotFound:
        return IntakeResult(None, "ignored", None)
    if not inc.is_open:
        return IntakeResult(inc.id, "ignored", inc.severity)
    inc.recovered(alert, now)
    uow.add(*_transient(inc, job.runbook, now))  # the resolution is part of this change
    uow.save(inc)
    alert_index.index_recovered(uow, inc, read)
    uow.commit()
    alert_index.indexed(job.store, read)
    return IntakeResult(inc.id, "resolved", inc.severity)


def _resolved(alert: Alert, uow: UnitOfWork, store: RecordStore, clock: Clock, runbook: Runbook) -> IntakeResult:
    now = clock.now()
    again, fired = alert_index.read_resolved(store, alert.alert_id)  # redelivery, or the alert it resolves
    if again is not None:
        return IntakeResult(again.incident_id, "duplicate", again.severity)
    if fired is None:
        return IntakeResult(None, "ignored", None)
    inc = uow.load(fired.incident_id)
    inc.resolve_alert(alert.alert_id, alert.alert_rule, alert.resolved_at or now, now)
    uow.add(*_transient(inc, runbook, now))  # the resolution is part of this change
    uow.save(inc)
    alert_index.index_resolved(uow, inc, alert.alert_id)
    uow.commit()
    return IntakeResult(inc.id, "resolved", inc.severity)


def _transient(inc: Incident, runbook: Runbook, now: datetime) -> Sequence[Event]:
    """Every alert resolved while the noise-control pause still held the ladder: the incident resolves at once
    as transient (no stability window; nothing was sent, so nothing follows). Returns the Azure alert-state
    messages of the resolution, like the stability window's."""
    until = escalation.pause_until(inc)
    if until is None or now >= until or inc.firing or not inc.is_open:
        return []
    inc.transient = True
    pause = int((until - inc.created_at).total_seconds() // 60)
    inc.resolve(AUTOMATION, now, f"Transient: every alert resolved within the {pause}-minute pause; no ticket, "
                "no chat", runbook=runbook)
    log.info("incident %s resolved as transient", inc.id, extra={"incident_id": inc.id})
    return escalation.stop_pages(inc, "resolve", now, Paging())
