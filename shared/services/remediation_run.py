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
from typing import Any, Mapping

from shared.domain.errors import ConcurrencyConflict, DependencyFailed
from shared.domain.incident import AUTOMATION, Incident
from shared.domain.policy import Runbook
from shared.domain.remediation_lifecycle import RemediationStatus, move, status_of
from shared.domain.remediation_plans import Plan, check_budget, refuse
from shared.domain.remediation_premise import premise_changed
from shared.domain.resources import ArmResult
from shared.domain.timeutil import iso, parse_iso, parse_stored
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


def _plan_of(entry: Mapping[str, Any]) -> Plan:
    p = entry["plan"]
    return Plan(p["playbook"], p["resource_id"], p["action"], p["params"], p["reason"], tuple(p["manual_steps"]),
                p.get("premise") or {})


def _in_settings(entry: Mapping[str, Any], p: Plan, remedy: Remedy) -> bool:
    named = [v.lower() for k, v in p.params.items() if k.endswith("_id")]
    return entry["resource_id"] in remedy.core.values() and all(n == entry["resource_id"] for n in named)


def recheck(entry: Mapping[str, Any], resources: CloudResources) -> str | None:
    """Read the resource again and check the plan's premise: None to act, else why to stand down."""
    p, rid = _plan_of(entry), entry["resource_id"]
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
    if status_of(entry) is not RemediationStatus.APPROVED or not inc.is_open or not entry.get("plan") \
            or entry["plan"]["refused"] \
            or not _in_settings(entry, _plan_of(entry), remedy):
        return None   # the claim decides (and refuses what is not named in settings, unread)
    resources = remedy.resources()
    return recheck(entry, resources) if resources is not None else None


def _claim(uow: UnitOfWork, incident_id: str, rid: str, runbook: Runbook, remedy: Remedy,
           now: datetime, changed: str | None = None) -> Plan | None:
    """Claim the approved remediation. Returns the plan to run, or None when there is nothing to run.
    `changed`: why the plan's premise no longer holds (the remediation stands down), or None."""
    inc = uow.load(incident_id)
    entry = find(inc, rid)
    if status_of(entry) is not RemediationStatus.APPROVED or not inc.is_open:
        return None
    rails = remediation_locks.read(uow, entry["resource_id"])
    ledger, lock = rails.ledger, rails.lock
    p = _plan_of(entry)
    if not _in_settings(entry, p, remedy):
        p = refuse(entry["playbook"], entry["resource_id"], "the resource is not one named in settings")
    else:
        p = check_budget(runbook.remediation, p, past_actions(ledger), now)
    if not p.refused and lock and lock.until > now:
        # before the premise: another action in flight changes the resource, and is the reason
        p = refuse(entry["playbook"], entry["resource_id"],
                   f"remediation {lock.remediation_id} is already in flight on this resource")
    if not p.refused and changed:
        move(entry, RemediationStatus.STOOD_DOWN, execution={"stood_down_at": iso(now), "reason": changed})
        inc.record(now, "remediation", AUTOMATION, f"Remediation {rid} ({entry['playbook']}) stood down before "
                   f"acting: {changed}", remediation_id=rid)
        uow.add(audit(now, inc, entry, "execution", AUTOMATION, "stood-down", reason=changed, plan=entry["plan"]))
        uow.save(inc)
        uow.commit()
        return None
    if p.refused:
        move(entry, RemediationStatus.REFUSED)
        inc.record(now, "remediation", AUTOMATION, f"Remediation {rid} refused at execution: {p.reason}")
        uow.add(audit(now, inc, entry, "execution", AUTOMATION, "refused", reason=p.reason))
    else:
        move(entry, RemediationStatus.EXECUTING, execution={"started_at": iso(now), "action": p.action})
        inc.record(now, "remediation", AUTOMATION, f"Executing {rid} ({entry['playbook']}): {p.action} on "
                   f"{entry['resource_id'].rsplit('/', 1)[-1]}", remediation_id=rid)
        until = now + timedelta(seconds=ACTION_TIMEOUT_S) + runbook.remediation.verify_after
        uow.add(audit(now, inc, entry, "execution", AUTOMATION, "started", action=p.action, params=p.params))
        remediation_locks.claim(uow, rails, remediation_id=rid, incident_id=inc.id, playbook=entry["playbook"],
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
    if status_of(entry) is not RemediationStatus.EXECUTING:
        # a sweep already failed it as an executor that died (it was escalated then): ARM's late answer
        # changes nothing, and the life cycle allows no way back to verifying
        log.warning("outcome of %s arrived after it was %s", rid, entry["status"], extra={"incident_id": inc.id})
        return
    if isinstance(result, str):
        entry["execution"] = {**entry["execution"], "finished_at": iso(now), "status": "Failed", "detail": result}
        uow.add(*_fail(inc, entry, now, f"ARM refused the action: {result}", uow))
    else:
        move(entry, RemediationStatus.VERIFYING,
             execution={**entry["execution"], "finished_at": iso(now), "status": result.status,
                        "request_id": result.request_id, "detail": result.detail},
             verification={"until": iso(now + runbook.remediation.verify_after),
                           "next_at": iso(now + VERIFY_EVERY), "checks": 0})
        inc.record(now, "remediation", AUTOMATION, f"{rid}: ARM {result.operation} {result.status} (request id "
                   f"{result.request_id}); verifying for {int(runbook.remediation.verify_after.total_seconds() // 60)}"
                   " min", remediation_id=rid, request_id=result.request_id)
        uow.add(audit(now, inc, entry, "execution", AUTOMATION, result.status, request_id=result.request_id,
                      detail=result.detail))
    uow.save(inc)
    uow.commit()


def _fail(inc: Incident, entry: dict[str, Any], now: datetime, why: str, uow: UnitOfWork) -> list[Event]:
    move(entry, RemediationStatus.FAILED)
    inc.record(now, "remediation", AUTOMATION, f"Remediation {entry['id']} ({entry['playbook']}) failed: {why}",
               remediation_id=entry["id"])
    escalation.advance_now(inc, now, f"remediation {entry['id']} failed")
    remediation_locks.release(uow, entry["resource_id"], entry["id"])
    return [audit(now, inc, entry, "verification", AUTOMATION, "failed", reason=why)]


def verify(inc: Incident, rid: str, now: datetime, remedy: Remedy, uow: UnitOfWork) -> list[Event] | None:
    """One verification round of an executed remediation (a due step): verified, failed, or check again.
    The resource's lock is released or held in `uow`, the unit of work saving the incident."""
    entry = find(inc, rid)
    status = status_of(entry)
    if status is RemediationStatus.EXECUTING:  # the executor died between claim and result
        return _fail(inc, entry, now, "the executor stopped before recording ARM's answer", uow)
    if status is not RemediationStatus.VERIFYING:
        return None
    v = entry["verification"]
    round_ = checks(inc, entry, remedy.resources(), remedy.core, now)
    v["checks"] += 1
    recover_by = parse_stored(v["until"])
    window = recover_by - (parse_iso(entry["execution"].get("finished_at")) or recover_by)
    d = decide(round_, now=now, recover_by=recover_by, stable_since=parse_iso(v.get("stable_since")),
               window=window, rounds=v["checks"])
    seen = "; ".join(c.line() for c in round_)
    lines = "\n".join(f"  {c.line()}" for c in round_)
    after = f"\nKeep checking: {d.reason}" if d.verdict == "keep-checking" else ""
    inc.record(now, "remediation", AUTOMATION, f"Verification of {rid} ({entry['playbook']}), check {v['checks']}:\n"
               f"{lines}{after}", remediation_id=rid)
    if d.verdict == "failed":
        return _fail(inc, entry, now, d.reason, uow)
    v["stable_since"] = iso(d.stable_since) if d.stable_since else None
    if d.verdict == "verified":
        move(entry, RemediationStatus.SUCCEEDED)
        inc.record(now, "remediation", AUTOMATION, f"Remediation {rid} ({entry['playbook']}) verified: {d.reason}",
                   remediation_id=rid)
        remediation_locks.release(uow, entry["resource_id"], entry["id"])
        return [audit(now, inc, entry, "verification", AUTOMATION, "succeeded", seen=seen, reason=d.reason)]
    v["next_at"] = iso(now + VERIFY_EVERY)
    if v["checks"] == 1:   # keep the lock (one action in flight) until verification can end at the latest
        remediation_locks.hold(uow, entry["resource_id"], entry["id"], recover_by + window)
    return []
