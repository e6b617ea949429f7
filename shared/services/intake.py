"""ingest_alert: an Azure Monitor alert in, a classified incident in the store out.

Duplicate: answered from the alert index (1 read). New alert: that read, then parallel point reads
of its fingerprint, silences, overrides and core-resource rows, then one atomic batch with the
incident, its timeline, its index rows, its schedule and the pages of its 0-minute step (3 round
trips; a tenth of new incidents add two for the worker's next block of ids). Races are settled by the batch's conditions: the loser re-reads and finds the
winner's incident.

Resource Health reports the app's own remediations too: restarting PostgreSQL or rebooting Redis makes
the resource Unavailable (cause UserInitiated). Such an event joins the incident whose remediation acted
on that resource as an expected effect, found through the resource's `res|` row (one more read).

Noise control ([intake] pause_minutes): a SEV-3/SEV-4 opened by an alert holds its ladder (ticket, chat) for
the pause. Every alert resolving within it resolves the incident at once as transient, nothing sent; another
alert joining (or a severity raise) ends the pause and the held work goes out in that same batch.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Callable

from shared.domain.alerts import Alert, parse_alert
from shared.domain.classification import classify
from shared.domain.errors import ConcurrencyConflict, NotFound
from shared.domain.incident import AUTOMATION, Incident
from shared.domain.policy import Runbook
from shared.domain.timeutil import iso, parse_iso, parse_stored
from shared.ports import Clock, Op, RecordStore
from shared.services import escalation, metrics_store, oncall, remediation, reminders, repository as keys, silences
from shared.services.escalation import Paging
from shared.services.remediation import Remedy
from shared.services.repository import IncidentRepository
from shared.services.retry import retrying
from shared.services.schedule import incident_ops

log = logging.getLogger(__name__)
# Azure's clock (firedDateTime) against ours (a remediation's started_at): an effect a little "before"
# its cause is the two clocks disagreeing, not another cause.
CLOCK_SKEW = timedelta(minutes=2)


@dataclass(frozen=True)
class IntakeResult:
    incident_id: str | None
    outcome: str          # created, correlated, duplicate, resolved, ignored
    severity: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"incident_id": self.incident_id, "outcome": self.outcome, "severity": self.severity}


def ingest_alert(payload: Any, *, store: RecordStore, clock: Clock, runbook: Runbook,
                 core: dict[str, str], remedy: Remedy | None = None, paging: Paging | None = None) -> IntakeResult:
    """Parse, de-duplicate, correlate or create. Raises InvalidInput/UnsupportedSchema for bad input,
    StoreUnavailable when the store is down (nothing is written then)."""
    alert = parse_alert(payload)
    repo = IncidentRepository(store)
    if alert.is_resolved:
        return retrying(lambda: _resolved(alert, repo, clock, runbook), "resolved alert")
    remedy = remedy or Remedy(core=core)
    paging = paging or Paging()
    reserved: list[str] = []   # the id a lost race reserved is used by the retry: no gap in the day's ids
    return retrying(lambda: _fired(alert, repo, clock, runbook, core, remedy, paging, reserved), "fired alert")


def _fired(alert: Alert, repo: IncidentRepository, clock: Clock, runbook: Runbook,
           core: dict[str, str], remedy: Remedy, paging: Paging, reserved: list[str] | None = None) -> IntakeResult:
    now = clock.now()
    akey = keys.alert_key(alert.alert_id, "F")
    seen = repo.store.get(keys=[akey]).get(akey)
    if seen is not None:  # a redelivery: one read
        return IntakeResult(seen.data["incident_id"], "duplicate", seen.data.get("severity"))
    core_ids = frozenset(core.values())
    fkey = keys.fingerprint_key(alert.fingerprint)
    rkeys = [keys.resource_key(t) for t in alert.target_ids if t in core_ids]
    c = classify(alert, runbook.rules, core)
    # the metrics row a new incident is counted in, read with the rest (its shard: from the alert's id)
    shard = metrics_store.shard_of(alert.alert_id)
    mkey = metrics_store.row_key(c.severity, metrics_store.month_of(now), shard)
    rows = repo.store.get(keys=[fkey, silences.INDEX, oncall.INDEX, *rkeys, mkey])
    paging = replace(paging, load_overrides=lambda: oncall.overrides_in(rows.get(oncall.INDEX)))
    if alert.is_recovery_notice:
        return _recovery(alert, rows.get(fkey), akey, repo, runbook, now)

    # written with the incident, in the same batch: this alert, its fingerprint, its core resources
    index = [Op("upsert", fkey, {}), *[Op("upsert", rk, {"last_at": iso(now)}) for rk in rkeys]]
    if _maybe_own_action(alert):
        expected = _expected(alert, [rows[rk] for rk in rkeys if rk in rows], repo, runbook, now, core_ids)
        if expected is not None:
            inc, etag = expected
            repo.store.commit(ops=incident_ops(repo, inc, etag, runbook) + _indexed(inc, akey, index))
            return IntakeResult(inc.id, "correlated", inc.severity)
    for incident_id, why in _candidates(rows, fkey, rkeys, now, runbook, alert).items():
        try:
            inc, etag = repo.load(incident_id)
        except NotFound:  # a dangling index row is not an error: open a new incident
            continue
        if not inc.is_open:
            continue
        outbox = []
        rose = inc.join(alert, c, now, core_ids, why)
        if rose:
            escalation.replan(inc, runbook, now)
        # a second firing is no longer noise: what the pause held goes out in this same change
        ended = escalation.end_pause(inc, now, f"an alert joined and raised it to {inc.severity}" if rose
                                     else f"another alert joined ('{alert.alert_rule or alert.alert_id}')")
        if rose or ended:
            outbox = escalation.fire_due(inc, now, runbook, paging)
        remediation.on_alert(inc, alert, runbook, remedy, now)
        if "personal_data" in alert.custom_properties:
            reminders.from_alert(inc, alert.custom_properties["personal_data"], alert.fired_at, now)
        ops = incident_ops(repo, inc, etag, runbook) + outbox
        repo.store.commit(ops=ops + _indexed(inc, akey, index))
        return IntakeResult(inc.id, "correlated", inc.severity)

    reserved = [] if reserved is None else reserved
    if not reserved:   # from this worker's block of ids: no shared row in the batch; the batch failed: unused
        reserved.append(repo.allocate_id(now))
    incident_id = reserved[0]
    inc = Incident.from_alert(incident_id, alert, c, now, core_ids)
    silence = silences.matching(alert, c.tenants, silences.active(rows.get(silences.INDEX)), now)
    if silence:
        inc.silence = silence
        inc.record(now, "silenced", AUTOMATION, f"Matches silence {silence['id']} ({silence['reason']}): "
                   f"nobody is paged until {silence['until']}", silence_id=silence["id"])
    escalation.plan(inc, runbook, now)
    outbox = escalation.fire_due(inc, now, runbook, paging)  # the 0-minute step, in the same batch
    remediation.on_alert(inc, alert, runbook, remedy, now)
    if "personal_data" in alert.custom_properties:   # GDPR Article 33: the alert answers the question
        reminders.from_alert(inc, alert.custom_properties["personal_data"], alert.fired_at, now)
    inc.metrics = {"shard": str(shard)}
    ops = incident_ops(repo, inc, None, runbook, known={mkey: rows.get(mkey)}) + outbox
    try:
        repo.store.commit(ops=ops + _indexed(inc, akey, _guarded(index, rows)))
    except ConcurrencyConflict:
        # the id is taken (a counter behind its incidents would collide on every retry): heal, take another;
        # else another row of the batch raced (a metrics row): the retry keeps the id, so the day has no gap
        if repo.store.get(keys=[keys.incident_key(incident_id)]):
            repo.heal_counter(now)
            reserved.clear()
        raise
    log.info("incident %s opened: %s", inc.id, c.reason, extra={"incident_id": inc.id})
    return IntakeResult(inc.id, "created", inc.severity)


def _candidates(rows: dict, fkey: str, rkeys: list[str], now: datetime, runbook: Runbook,
                alert: Alert) -> dict[str, str]:
    """Open incidents this alert may join, and why: same fingerprint, or same core resource recently."""
    found: dict[str, str] = {}
    if fkey in rows:
        found[rows[fkey].data["incident_id"]] = alert.fingerprint_basis
    for rk in rkeys:
        r = rows.get(rk)
        if r and now - parse_stored(r.data["last_at"]) <= runbook.correlation_window:
            found.setdefault(r.data["incident_id"], "same core resource within the correlation window")
    return found


def _maybe_own_action(alert: Alert) -> bool:
    """Resource Health reports a resource down by a user's hand (a remediation's restart is one), or does not
    say why: Azure may log a transition before it knows its cause (Learn, "Create and configure Resource
    Health alerts": "It's possible for the cause field to be null in some events")."""
    return (alert.health_status or "").lower() in ("unavailable", "degraded") and \
        (alert.health_cause or "UserInitiated").lower() == "userinitiated"


def _expected(alert: Alert, resource_rows: list, repo: IncidentRepository, runbook: Runbook, now: datetime,
              core_ids: frozenset[str]) -> tuple[Incident, str] | None:
    """The open incident (and its ETag) whose remediation acted on the alert's resource, with the alert added
    as that remediation's expected effect; None when no remediation explains it. The candidate is the last
    incident of the resource (its `res|` row): a remediation acts only on a resource its incident had an
    alert on."""
    for row in resource_rows:
        try:
            inc, etag = repo.load(row.data["incident_id"])
        except NotFound:
            continue
        entry = _explaining(inc, alert, runbook.remediation.verify_after) if inc.is_open else None
        if entry is not None:
            inc.expected_effect(alert, entry, now, core_ids)
            log.info("incident %s: %s is the expected effect of %s", inc.id, alert.alert_id, entry["id"],
                     extra={"incident_id": inc.id})
            return inc, etag
    return None


def _explaining(inc: Incident, alert: Alert, verify_after: timedelta) -> dict[str, Any] | None:
    """The remediation of `inc` that acted on the alert's resource when the alert fired: executing or
    verifying, or finished at most its verification window before (Resource Health reports late)."""
    for entry in reversed(inc.remediations):
        execution = entry.get("execution") or {}
        started = parse_iso(execution.get("started_at"))
        if started is None or (entry.get("resource_id") or "").lower() not in alert.target_ids \
                or alert.fired_at < started - CLOCK_SKEW:
            continue
        if entry["status"] in ("executing", "verifying"):
            return entry
        finished = parse_iso(execution.get("finished_at")) or started
        until = parse_iso((entry.get("verification") or {}).get("until")) or finished + verify_after
        if entry["status"] in ("succeeded", "failed") and alert.fired_at <= until:
            return entry
    return None


def _guarded(index: list[Op], rows: dict[str, Any]) -> list[Op]:
    """The index rows of a new incident, conditional on what was read: a fingerprint or core-resource row
    that was absent is inserted, one that was there is replaced under the ETag read. Two alerts racing to
    open an incident for the same resource (a storm) cannot both win: the loser's batch fails, and its
    retry reads the winner's row and joins that incident."""
    return [Op("insert", op.key, op.data) if op.key not in rows else Op("replace", op.key, op.data, rows[op.key].etag)
            for op in index]


def _indexed(inc: Incident, akey: str, index: list[Op]) -> list[Op]:
    """The alert's index rows, pointing at `inc`."""
    return [Op("insert", akey, {"incident_id": inc.id, "severity": inc.severity}),
            *[Op(op.kind, op.key, {**op.data, "incident_id": inc.id}, op.etag) for op in index]]


def _recovery(alert: Alert, fp_row, akey: str, repo: IncidentRepository, runbook: Runbook,
              now: datetime) -> IntakeResult:
    """A recovery notice resolves the open incident of its fingerprint; it never opens one."""
    if fp_row is None:
        return IntakeResult(None, "ignored", None)
    try:
        inc, etag = repo.load(fp_row.data["incident_id"])
    except NotFound:
        return IntakeResult(None, "ignored", None)
    if not inc.is_open:
        return IntakeResult(inc.id, "ignored", inc.severity)
    inc.recovered(alert, now)
    closed = _transient(inc, runbook, now)  # before incident_ops: the resolution is part of this change
    ops = incident_ops(repo, inc, etag, runbook) + closed
    ops.append(Op("insert", akey, {"incident_id": inc.id, "severity": inc.severity}))
    repo.store.commit(ops=ops)
    return IntakeResult(inc.id, "resolved", inc.severity)


def _resolved(alert: Alert, repo: IncidentRepository, clock: Clock, runbook: Runbook) -> IntakeResult:
    now = clock.now()
    rkey, fkey = keys.alert_key(alert.alert_id, "R"), keys.alert_key(alert.alert_id, "F")
    rows = repo.store.get(keys=[rkey, fkey])  # one parallel read: redelivery, or the alert it resolves
    if rkey in rows:
        return IntakeResult(rows[rkey].data["incident_id"], "duplicate", rows[rkey].data.get("severity"))
    if fkey not in rows:
        return IntakeResult(None, "ignored", None)
    inc, etag = repo.load(rows[fkey].data["incident_id"])
    inc.resolve_alert(alert.alert_id, alert.alert_rule, alert.resolved_at or now, now)
    closed = _transient(inc, runbook, now)  # before incident_ops: the resolution is part of this change
    ops = incident_ops(repo, inc, etag, runbook) + closed
    ops.append(Op("insert", rkey, {"incident_id": inc.id, "severity": inc.severity}))
    repo.store.commit(ops=ops)
    return IntakeResult(inc.id, "resolved", inc.severity)


def _transient(inc: Incident, runbook: Runbook, now: datetime) -> list[Op]:
    """Every alert resolved while the noise-control pause still held the ladder: the incident resolves at once
    as transient (no stability window; nothing was sent, so nothing follows). Returns the Azure alert-state ops
    of the resolution, like the stability window's."""
    until = escalation.pause_until(inc)
    if until is None or now >= until or inc.firing or not inc.is_open:
        return []
    inc.transient = True
    pause = int((until - inc.created_at).total_seconds() // 60)
    inc.resolve(AUTOMATION, now, f"Transient: every alert resolved within the {pause}-minute pause; no ticket, "
                "no chat", runbook=runbook)
    log.info("incident %s resolved as transient", inc.id, extra={"incident_id": inc.id})
    return escalation.stop_pages(inc, "resolve", now, Paging())
