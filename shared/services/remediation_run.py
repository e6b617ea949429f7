"""Execution and verification of an approved remediation, behind the guardrails.

Just before acting, the resource is read again and the plan's premise checked
(domain/remediation_premise.py): when a fix was deployed, a failover happened or a reboot is under
way since the plan was made, the remediation stands down (`stood-down`, with why, on the timeline
and in the audit) instead of acting on a past it no longer matches.

Execution is claimed before ARM is called, in one batch with the incident's ETag: the entry turns
`executing`, the app-wide ledger (cooldown per playbook and resource, cap per hour) gains the
action under its ETag, and the resource's lock row is inserted (one action in flight per
resource). Two sweeps racing on the same step: one claim commits, the other finds the entry
executing and stops. Only then is ARM called; its request id and outcome are recorded, and the
remediation is verified as runbook step 4 says (domain/verification.py has the rule): every 30 s a
round checks the resource's health, the API's health URL, its 5xx rate against the hour before the
incident and the smoke tests, each on the timeline; verified once every round stayed clean through
the verification window, failed (and escalated) when it never recovers or relapses.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from shared.domain.errors import ConcurrencyConflict, DependencyFailed
from shared.domain.incident import AUTOMATION, Incident
from shared.domain.policy import Runbook
from shared.domain.remediation_entry import Execution, Remediation, Verification
from shared.domain.remediation_lifecycle import RemediationStatus
from shared.domain.remediation_plans import Plan, check_budget, refuse
from shared.domain.remediation_premise import premise_changed
from shared.domain.resources import ArmResult
from shared.domain.verification import decide
from shared.domain.events import Event
from shared.ports import CloudResources, RecordStore
from shared.services import escalation
from shared.services.remediation import ACTION_TIMEOUT_S, VERIFY_EVERY, Remedy, audit, find, past_actions
from shared.services.schedule import derive
from shared.services.verification_round import checks
from shared.storage import remediation_locks
from shared.storage.repository import IncidentRepository
from shared.storage.uow import UnitOfWork

log = logging.getLogger(__name__)


def _in_settings(entry: Remediation, p: Plan, remedy: Remedy) -> bool:
    named = [v.lower() for k, v in p.params.items() if k.endswith("_id")]
    return entry.resource_id in remedy.core.values() and all(n == entry.resource_id for n in named)


def recheck(entry: Remediation, resources: CloudResources) -> str | None:
    """Read the resource again and check the plan's premise: None to act, else why to stand down."""
    p, rid = entry.plan, entry.resource_id or ""
    if p is None:
        return None
    try:
        if p.action in ("set_traffic", "activate_revision_template"):
            app, revisions = resources.container_app(app_id=rid), resources.revisions(app_id=rid)
            return premise_changed(p, app=app, revisions=revisions)
        if p.action == "scale":
            return premise_changed(p, app=resources.container_app(app_id=rid))
        if p.action == "restart_postgres":
            return premise_changed(p, server=resources.postgres(server_id=rid))
        if p.action == "reboot_redis":
            return premise_changed(p, cache=resources.redis(cache_id=rid))
    except DependencyFailed as e:
        return f"could not read the resource again before acting: {e}"
    return None


def _premise(repo: IncidentRepository, incident_id: str, rid: str, remedy: Remedy) -> str | None:
    """The re-read, outside the claim's retry loop: ARM is read once per attempt to execute."""
    inc, _ = repo.load(incident_id)
    entry = find(inc, rid)
    if entry.status is not RemediationStatus.APPROVED or not inc.is_open or entry.plan is None \
            or entry.plan.refused or not _in_settings(entry, entry.plan, remedy):
        return None   # the claim decides (and refuses what is not named in settings, unread)
    resources = remedy.resources()
    return recheck(entry, resources) if resources is not None else None


def _claim(uow: UnitOfWork, incident_id: str, rid: str, runbook: Runbook, remedy: Remedy,
           now: datetime, changed: str | None = None) -> Plan | None:
    """Claim the approved remediation. Returns the plan to run, or None when there is nothing to run.
    `changed`: why the plan's premise no longer holds (the remediation stands down), or None."""
    inc = uow.load(incident_id)
    entry = find(inc, rid)
    if entry.status is not RemediationStatus.APPROVED or not inc.is_open:
        return None
    name, resource_id = entry.playbook or "", entry.resource_id or ""
    rails = remediation_locks.read(uow, resource_id)
    ledger, lock = rails.ledger, rails.lock
    planned = entry.plan
    if planned is None:
        p = refuse(name, resource_id, "the remediation has no plan")
    elif not _in_settings(entry, planned, remedy):
        p = refuse(name, resource_id, "the resource is not one named in settings")
    else:
        p = check_budget(runbook.remediation, planned, past_actions(ledger), now)
    if not p.refused and lock and lock.until > now:
        # before the premise: another action in flight changes the resource, and is the reason
        p = refuse(name, resource_id, f"remediation {lock.remediation_id} is already in flight on this resource")
    if not p.refused and changed:
        entry.move(RemediationStatus.STOOD_DOWN, execution=Execution.stood_down(now, changed))
        inc.record(now, "remediation", AUTOMATION, f"Remediation {rid} ({name}) stood down before "
                   f"acting: {changed}", remediation_id=rid)
        uow.add(audit(now, inc, entry, "execution", AUTOMATION, "stood-down", reason=changed,
                      plan=planned.as_dict() if planned else None))
        uow.save(inc)
        uow.commit()
        return None
    if p.refused:
        entry.move(RemediationStatus.REFUSED)
        inc.record(now, "remediation", AUTOMATION, f"Remediation {rid} refused at execution: {p.reason}")
        uow.add(audit(now, inc, entry, "execution", AUTOMATION, "refused", reason=p.reason))
    else:
        entry.move(RemediationStatus.EXECUTING, execution=Execution.started(now, p.action))
        inc.record(now, "remediation", AUTOMATION, f"Executing {rid} ({name}): {p.action} on "
                   f"{resource_id.rsplit('/', 1)[-1]}", remediation_id=rid)
        until = now + timedelta(seconds=ACTION_TIMEOUT_S) + runbook.remediation.verify_after
        uow.add(audit(now, inc, entry, "execution", AUTOMATION, "started", action=p.action, params=p.params))
        remediation_locks.claim(uow, rails, remediation_id=rid, incident_id=inc.id, playbook=name,
                                now=now, keep=max(runbook.remediation.cooldown, timedelta(hours=1)), until=until)
    uow.save(inc)
    uow.commit()
    return None if p.refused else p


def execute(*, store: RecordStore, incident_id: str, rid: str, runbook: Runbook, remedy: Remedy, clock) -> bool:
    """Re-read the resource, claim, act on ARM, record. Returns True when this call ran the action.

    Stands the remediation down, without acting, when its premise changed since it was planned."""
    changed = _premise(IncidentRepository(store), incident_id, rid, remedy)
    try:
        p = UnitOfWork.run(store, lambda uow: _claim(uow, incident_id, rid, runbook, remedy, clock.now(), changed),
                           f"claim of {rid}", derive=derive(runbook), incident=incident_id)
    except ConcurrencyConflict:
        return False
    if p is None:
        return False
    assert p.action is not None  # _claim returns only a plan that acts (a refusal comes back as None)
    resources = remedy.resources()
    try:
        if resources is None:
            raise DependencyFailed("AZURE_SUBSCRIPTION_ID is not set")
        result: ArmResult | str = getattr(resources, p.action)(**p.params, timeout_s=ACTION_TIMEOUT_S)
    except DependencyFailed as e:
        result = str(e)
    try:
        UnitOfWork.run(store, lambda uow: _record(uow, incident_id, rid, result, runbook, clock.now()),
                       f"outcome of {rid}", derive=derive(runbook), incident=incident_id)
    except ConcurrencyConflict:
        log.error("could not record the outcome of %s", rid, extra={"incident_id": incident_id})
    return True


def _record(uow: UnitOfWork, incident_id: str, rid: str, result: ArmResult | str, runbook: Runbook,
            now: datetime) -> None:
    inc = uow.load(incident_id)
    entry = find(inc, rid)
    if entry.status is not RemediationStatus.EXECUTING:
        # a sweep already failed it as an executor that died (it was escalated then): ARM's late answer
        # changes nothing, and the life cycle allows no way back to verifying
        log.warning("outcome of %s arrived after it was %s", rid, entry.status.value, extra={"incident_id": inc.id})
        return
    started = entry.execution or Execution()
    if isinstance(result, str):
        entry.execution = started.failed(now, result)
        uow.add(*_fail(inc, entry, now, f"ARM refused the action: {result}", uow))
    else:
        entry.move(RemediationStatus.VERIFYING,
                   execution=started.answered(now, result.status, result.request_id, result.detail),
                   verification=Verification(until=now + runbook.remediation.verify_after,
                                             next_at=now + VERIFY_EVERY))
        inc.record(now, "remediation", AUTOMATION, f"{rid}: ARM {result.operation} {result.status} (request id "
                   f"{result.request_id}); verifying for {int(runbook.remediation.verify_after.total_seconds() // 60)}"
                   " min", remediation_id=rid, request_id=result.request_id)
        uow.add(audit(now, inc, entry, "execution", AUTOMATION, result.status, request_id=result.request_id,
                      detail=result.detail))
    uow.save(inc)
    uow.commit()


def _fail(inc: Incident, entry: Remediation, now: datetime, why: str, uow: UnitOfWork) -> list[Event]:
    entry.move(RemediationStatus.FAILED)
    inc.record(now, "remediation", AUTOMATION, f"Remediation {entry.id} ({entry.playbook}) failed: {why}",
               remediation_id=entry.id)
    escalation.advance_now(inc, now, f"remediation {entry.id} failed")
    remediation_locks.release(uow, entry.resource_id or "", entry.id)
    return [audit(now, inc, entry, "verification", AUTOMATION, "failed", reason=why)]


def verify(inc: Incident, rid: str, now: datetime, remedy: Remedy, uow: UnitOfWork) -> list[Event] | None:
    """One verification round of an executed remediation (a due step): verified, failed, or check again.
    The resource's lock is released or held in `uow`, the unit of work saving the incident."""
    entry = find(inc, rid)
    if entry.status is RemediationStatus.EXECUTING:  # the executor died between claim and result
        return _fail(inc, entry, now, "the executor stopped before recording ARM's answer", uow)
    if entry.status is not RemediationStatus.VERIFYING or entry.verification is None:
        return None
    v = entry.verification
    round_ = checks(inc, entry, remedy.resources(), remedy.core, now)
    v.checks += 1
    recover_by = v.until
    window = recover_by - ((entry.execution.finished_at if entry.execution else None) or recover_by)
    d = decide(round_, now=now, recover_by=recover_by, stable_since=v.stable_since, window=window, rounds=v.checks)
    seen = "; ".join(c.line() for c in round_)
    lines = "\n".join(f"  {c.line()}" for c in round_)
    after = f"\nKeep checking: {d.reason}" if d.verdict == "keep-checking" else ""
    inc.record(now, "remediation", AUTOMATION, f"Verification of {rid} ({entry.playbook}), check {v.checks}:\n"
               f"{lines}{after}", remediation_id=rid)
    if d.verdict == "failed":
        return _fail(inc, entry, now, d.reason, uow)
    v.stable_since = d.stable_since
    resource_id = entry.resource_id or ""
    if d.verdict == "verified":
        entry.move(RemediationStatus.SUCCEEDED)
        inc.record(now, "remediation", AUTOMATION, f"Remediation {rid} ({entry.playbook}) verified: {d.reason}",
                   remediation_id=rid)
        remediation_locks.release(uow, resource_id, entry.id)
        return [audit(now, inc, entry, "verification", AUTOMATION, "succeeded", seen=seen, reason=d.reason)]
    v.next_at = now + VERIFY_EVERY
    if v.checks == 1:   # keep the lock (one action in flight) until verification can end at the latest
        remediation_locks.hold(uow, resource_id, entry.id, recover_by + window)
    return []
