"""On-call: who holds each role now (rotation plus overrides), and the overrides themselves.

    ovr|<id>    an override: role, person, start, end (stored in Table Storage, not in the policy)
"""
from __future__ import annotations

import json
import uuid
from typing import Any

from shared.domain.errors import NotFound, PolicyError
from shared.domain.roster import Override, Roster, validate_override
from shared.domain.timeutil import iso
from shared.ports import Clock, Op, RecordStore


def load_overrides(store: RecordStore) -> list[Override]:
    return [Override.from_dict(json.loads(r.data["doc"])) for r in store.scan(start="ovr|", end="ovr}").records]


def who_is_on_call(*, roster: Roster | None, store: RecordStore, clock: Clock) -> dict[str, Any]:
    if roster is None:
        raise PolicyError("runbook.toml has no [oncall] rotations")
    now = clock.now()
    return {"at": iso(now), "oncall": [
        {**o.to_dict(), "until": iso(roster.next_handoff(o.role, now))}
        for o in roster.now_all(now, load_overrides(store))]}


def add_override(body: Any, actor: str, *, store: RecordStore, clock: Clock) -> dict[str, Any]:
    """Raises InvalidInput naming the field."""
    now = clock.now()
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k != "actor"}  # the actor is recorded as created_by
    fields = validate_override(body, now)
    oid = f"OVR-{uuid.uuid4().hex[:8]}"
    override = Override.from_dict({**fields, "id": oid, "created_by": actor, "created_at": iso(now)})
    store.commit(ops=[Op("insert", f"ovr|{oid}", {"doc": json.dumps(override.to_dict())})])
    return override.to_dict()


def remove_override(override_id: str, *, store: RecordStore) -> None:
    """Raises NotFound."""
    key = f"ovr|{override_id}"
    rec = store.get(keys=[key]).get(key)
    if rec is None:
        raise NotFound(f"no override {override_id!r}")
    store.commit(ops=[Op("delete", key, etag=rec.etag)])
