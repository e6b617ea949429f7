"""On-call: who holds each role now (rotation plus overrides), and the overrides themselves.

    ovr|index   every override not yet ended, in one row (a point read for intake and the sweep)
"""
from __future__ import annotations

import uuid
from typing import Any

from shared.domain.errors import NotFound, PolicyError
from shared.domain.roster import Override, Roster, validate_override
from shared.domain.timeutil import iso
from shared.ports import Clock, Record, RecordStore
from shared.services import listrow

INDEX = "ovr|index"


def overrides_in(rec: Record | None) -> list[Override]:
    return [Override.from_dict(d) for d in listrow.items(rec)]


def load_overrides(store: RecordStore) -> list[Override]:
    return overrides_in(store.get(keys=[INDEX]).get(INDEX))


def who_is_on_call(*, roster: Roster | None, store: RecordStore, clock: Clock) -> dict[str, Any]:
    if roster is None:
        raise PolicyError("runbook.toml has no [oncall] rotations")
    now = clock.now()
    return {"at": iso(now), "oncall": [
        {**o.to_dict(), "until": iso(roster.next_handoff(o.role, now))}
        for o in roster.now_all(now, load_overrides(store))]}


def list_overrides(*, store: RecordStore, clock: Clock) -> list[dict[str, Any]]:
    now = clock.now()
    return [o.to_dict() for o in load_overrides(store) if o.end > now]


def add_override(body: Any, actor: str, *, store: RecordStore, clock: Clock) -> dict[str, Any]:
    """Raises InvalidInput naming the field."""
    now = clock.now()
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k != "actor"}  # the actor is recorded as created_by
    fields = validate_override(body, now)
    override = Override.from_dict({**fields, "id": f"OVR-{uuid.uuid4().hex[:8]}", "created_by": actor,
                                   "created_at": iso(now)}).to_dict()
    listrow.change(store, INDEX, now, lambda current: [*current, override])
    return override


def remove_override(override_id: str, *, store: RecordStore, clock: Clock) -> None:
    """Raises NotFound."""
    if not any(o["id"] == override_id for o in list_overrides(store=store, clock=clock)):
        raise NotFound(f"no override {override_id!r}")
    listrow.change(store, INDEX, clock.now(), lambda current: [o for o in current if o["id"] != override_id])
