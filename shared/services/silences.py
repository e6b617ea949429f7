"""Silences and maintenance windows: a matching alert still opens an incident, but nobody is paged
while the silence lasts (the escalation ladder starts when it ends).

The silences are a listrow list (shared/storage/listrow.py, kind SILENCES): an index of compact
entries (id, start, end, the matched values hashed, the reason's first words) that intake reads with
its other point reads and matches alerts against, and one row per silence with the whole of it.
At most listrow.MAX_ACTIVE silences may be active at once; the layout and its bounds are listrow's.
"""
from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from shared.domain.alert_values import MAX_ID, arm_id_problem
from shared.domain.alerts import Alert
from shared.domain.errors import ConcurrencyConflict, InvalidInput, NotFound
from shared.domain.policy import Runbook
from shared.domain.timeutil import instant, iso
from shared.ports import Clock, Record, RecordStore
from shared.services.schedule import derive
from shared.storage import listrow
from shared.storage.repository import IncidentRepository, h
from shared.storage.uow import UnitOfWork

log = logging.getLogger(__name__)

MATCH_KEYS = ("target_resource_id", "alert_rule", "tenant")
MAX_TENANT = 200     # characters of a tenant name (an incident keeps as many)
MAX_REASON = 500     # characters kept of the reason
EXCERPT = 80         # characters of the reason kept in the index (shown on the incident it holds)


def _entry(silence: dict[str, Any]) -> dict[str, Any]:
    words = " ".join("".join(c if c.isprintable() else " " for c in silence["reason"][:EXCERPT * 2]).split())
    return {"id": silence["id"], "m": {k: h(v) for k, v in silence["match"].items()},
            "start": silence["start"], "end": silence["end"],
            "why": words if len(words) <= EXCERPT else words[:EXCERPT - 1] + "…"}


LIST = listrow.ListRow(listrow.SILENCES, "silences", _entry)
INDEX = LIST.index


def _when(body: dict[str, Any], key: str, default: datetime | None) -> datetime:
    if body.get(key) is None and default is not None:
        return default
    return instant(body.get(key), f"$.{key}")


def _match(match: Any) -> dict[str, str]:
    if not isinstance(match, dict) or not match:
        raise InvalidInput("$.match", f"must be an object with at least one of {', '.join(MATCH_KEYS)}")
    for k, v in match.items():
        if k not in MATCH_KEYS:
            named = k.isidentifier() and len(k) <= 64
            raise InvalidInput(f"$.match.{k}" if named else "$.match",
                               f"{'is' if named else 'has a key that is'} not one of {', '.join(MATCH_KEYS)}")
        if not isinstance(v, str) or not v.strip():
            raise InvalidInput(f"$.match.{k}", "must be a non-empty string")
    rule, tenant, target = (match.get(k, "").strip() for k in ("alert_rule", "tenant", "target_resource_id"))
    if len(rule) > MAX_ID:
        raise InvalidInput("$.match.alert_rule", f"must be at most {MAX_ID} characters (an alert rule name)")
    if len(tenant) > MAX_TENANT:
        raise InvalidInput("$.match.tenant", f"must be at most {MAX_TENANT} characters")
    problem = arm_id_problem(target) if target else None
    if problem:
        raise InvalidInput("$.match.target_resource_id", problem)
    return {k: v.strip().lower() for k, v in match.items()}


def create_silence(body: dict[str, Any], actor: str, *, store: RecordStore, clock: Clock) -> dict[str, Any]:
    """Validate and store a silence. Raises InvalidInput naming the field; Conflict when
    listrow.MAX_ACTIVE silences are active already."""
    now = clock.now()
    match = _match(body.get("match"))
    start, end = _when(body, "start", now), _when(body, "end", None)
    if end <= start:
        raise InvalidInput("$.end", "must be after start")
    if end <= now:
        raise InvalidInput("$.end", "is in the past")
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInput("$.reason", "is required: say why nobody should be paged")
    silence = {"id": f"SIL-{uuid.uuid4().hex[:8]}", "match": match, "start": iso(start), "end": iso(end),
               "reason": reason.strip()[:MAX_REASON], "created_by": actor, "created_at": iso(now)}
    LIST.add(store, now, silence)
    return silence


def active(rec: Record | None) -> list[dict[str, Any]]:
    """The index entries of an index row as read (intake's read gives them as alert_index.FiredRead.silences)."""
    return listrow.entries(rec)


def list_silences(*, store: RecordStore, clock: Clock) -> list[dict[str, Any]]:
    """The silences not yet ended, whole (one range scan)."""
    return LIST.read(store, clock.now())


def delete_silence(silence_id: str, actor: str, *, store: RecordStore, clock: Clock, runbook: Runbook) -> dict:
    """End a silence now: the incidents it holds start their ladders at once (each its own unit of work:
    one that stays contended keeps the silence until its end time, logged). Raises NotFound."""
    try:
        LIST.remove(store, clock.now(), silence_id)
    except NotFound:
        raise NotFound(f"no silence {silence_id!r}") from None
    released = []
    for held, _ in IncidentRepository(store).held_by(silence_id):
        def release(uow: UnitOfWork, incident_id: str = held.id) -> str:
            inc = uow.load(incident_id)
            now = clock.now()
            if inc.silence and inc.silence["until"] > iso(now):
                inc.silence = {**inc.silence, "until": iso(now)}
                inc.record(now, "silenced", actor, f"Silence {silence_id} ended early by {actor}: the ladder starts now")
            uow.save(inc)
            uow.commit()
            return inc.id
        try:
            released.append(UnitOfWork.run(store, release, f"release from {silence_id}", derive=derive(runbook),
                                           incident=held.id))
        except ConcurrencyConflict:
            log.warning("incident %s stays held by the ended silence %s until its end time", held.id, silence_id,
                        extra={"incident_id": held.id})
    return {"deleted": silence_id, "released": released}


def _hashed(entry: dict[str, Any]) -> dict[str, str]:
    """What an entry matches, hashed (entries of the old layout carry the values themselves)."""
    return entry["m"] if "m" in entry else {k: h(v) for k, v in entry["match"].items()}


def matching(alert: Alert, tenants: tuple[str, ...], silences: list[dict[str, Any]], now: datetime) -> dict | None:
    """The active silence that covers this alert (the one lasting longest), or None."""
    rule = h(alert.alert_rule) if alert.alert_rule else None
    targets = {h(t) for t in alert.target_ids}
    names = {h(t) for t in tenants}
    hits = []
    for s in silences:
        if not (s["start"] <= iso(now) < s["end"]):
            continue
        m = _hashed(s)
        if ("target_resource_id" in m and m["target_resource_id"] not in targets) or \
           ("alert_rule" in m and m["alert_rule"] != rule) or ("tenant" in m and m["tenant"] not in names):
            continue
        hits.append(s)
    best = max(hits, key=lambda s: s["end"], default=None)
    if best is None:
        return None
    return {"id": best["id"], "until": best["end"], "reason": best.get("why") or best.get("reason", "")}
