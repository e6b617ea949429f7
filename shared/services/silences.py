"""Silences and maintenance windows: a matching alert still opens an incident, but nobody is paged
while the silence lasts (the escalation ladder starts when it ends).

    sil|index   every silence not yet ended, in one row: intake reads it with its other point reads
"""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from shared.domain.alerts import Alert
from shared.domain.errors import ConcurrencyConflict, InvalidInput, NotFound
from shared.domain.policy import Runbook
from shared.domain.timeutil import instant, iso
from shared.ports import Clock, Record, RecordStore
from shared.services import listrow
from shared.services.repository import IncidentRepository
from shared.services.schedule import schedule_for

INDEX = "sil|index"
MATCH_KEYS = ("target_resource_id", "alert_rule", "tenant")


def _when(body: dict[str, Any], key: str, default: datetime | None) -> datetime:
    if body.get(key) is None and default is not None:
        return default
    return instant(body.get(key), f"$.{key}")


def create_silence(body: dict[str, Any], actor: str, *, store: RecordStore, clock: Clock) -> dict[str, Any]:
    """Validate and store a silence. Raises InvalidInput naming the field."""
    now = clock.now()
    match = body.get("match")
    if not isinstance(match, dict) or not match:
        raise InvalidInput("$.match", f"must be an object with at least one of {', '.join(MATCH_KEYS)}")
    for k, v in match.items():
        if k not in MATCH_KEYS:
            raise InvalidInput(f"$.match.{k}", f"is not one of {', '.join(MATCH_KEYS)}")
        if not isinstance(v, str) or not v.strip():
            raise InvalidInput(f"$.match.{k}", "must be a non-empty string")
    start, end = _when(body, "start", now), _when(body, "end", None)
    if end <= start:
        raise InvalidInput("$.end", "must be after start")
    if end <= now:
        raise InvalidInput("$.end", "is in the past")
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInput("$.reason", "is required: say why nobody should be paged")
    silence = {"id": f"SIL-{uuid.uuid4().hex[:8]}", "match": {k: v.strip().lower() for k, v in match.items()},
               "start": iso(start), "end": iso(end), "reason": reason.strip()[:500], "created_by": actor,
               "created_at": iso(now)}
    listrow.change(store, INDEX, now, lambda current: [*current, silence])
    return silence


def active(rec: Record | None) -> list[dict[str, Any]]:
    """The silences held by the index row (as read by intake)."""
    return listrow.items(rec)


def list_silences(*, store: RecordStore, clock: Clock) -> list[dict[str, Any]]:
    now = iso(clock.now())
    return [s for s in active(store.get(keys=[INDEX]).get(INDEX)) if s["end"] > now]


def delete_silence(silence_id: str, actor: str, *, store: RecordStore, clock: Clock, runbook: Runbook) -> dict:
    """End a silence now: the incidents it holds start their ladders at once. Raises NotFound."""
    if not any(s["id"] == silence_id for s in list_silences(store=store, clock=clock)):
        raise NotFound(f"no silence {silence_id!r}")
    listrow.change(store, INDEX, clock.now(), lambda current: [s for s in current if s["id"] != silence_id])
    repo = IncidentRepository(store)
    released = []
    for inc, etag in repo.held_by(silence_id):
        for _ in range(8):
            now = clock.now()
            if inc.silence and inc.silence["until"] > iso(now):
                inc.silence = {**inc.silence, "until": iso(now)}
                inc.record(now, "silenced", actor, f"Silence {silence_id} ended early by {actor}: the ladder starts now")
            try:
                store.commit(ops=repo.save_ops(inc, etag, schedule_for(inc, runbook)))
                released.append(inc.id)
                break
            except ConcurrencyConflict:
                inc, etag = repo.load(inc.id)
    return {"deleted": silence_id, "released": released}


def matching(alert: Alert, tenants: tuple[str, ...], silences: list[dict[str, Any]], now: datetime) -> dict | None:
    """The active silence that covers this alert (the one lasting longest), or None."""
    rule = (alert.alert_rule or "").lower()
    names = {t.lower() for t in tenants}
    hits = []
    for s in silences:
        if not (s["start"] <= iso(now) < s["end"]):
            continue
        m = s["match"]
        if ("target_resource_id" in m and m["target_resource_id"] not in alert.target_ids) or \
           ("alert_rule" in m and m["alert_rule"] != rule) or ("tenant" in m and m["tenant"] not in names):
            continue
        hits.append(s)
    best = max(hits, key=lambda s: s["end"], default=None)
    return None if best is None else {"id": best["id"], "until": best["end"], "reason": best["reason"]}
