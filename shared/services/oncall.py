"""On-call: who holds each role now (rotation plus overrides), and the overrides themselves.

The overrides are a listrow list (shared/storage/listrow.py, kind OVERRIDES): an index of compact
entries (id, role, person, start, end and created_at, all that resolving who is on call needs; a
point read for intake and the sweep) and one row per override with the whole of it (reason, who
made it). At most listrow.MAX_ACTIVE overrides may be active at once; the layout and its bounds are
listrow's.
"""
from __future__ import annotations

import re
import uuid
from typing import Any

from shared.domain.errors import InvalidInput, NotFound, PolicyError
from shared.domain.roster import Override, Roster, validate_override
from shared.domain.timeutil import iso
from shared.ports import Clock, RecordStore
from shared.storage import listrow

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _entry(override: dict[str, Any]) -> dict[str, Any]:
    return {k: override.get(k) for k in ("id", "role", "person", "start", "end", "created_at")}


LIST = listrow.ListRow(listrow.OVERRIDES, "overrides", _entry)
INDEX = LIST.index


def overrides_of(entries: list[listrow.Entry]) -> list[Override]:
    """The overrides of the index entries (as intake reads them with its other point reads)."""
    return [Override.from_dict(d) for d in entries]


def load_overrides(store: RecordStore) -> list[Override]:
    """The overrides, ended ones included (one point read)."""
    return overrides_of(LIST.load(store))


def who_is_on_call(*, roster: Roster | None, store: RecordStore, clock: Clock) -> dict[str, Any]:
    if roster is None:
        raise PolicyError("runbook.toml has no [oncall] rotations")
    now = clock.now()
    overrides = [o for o in load_overrides(store) if o.end > now]
    return {"at": iso(now), "oncall": [
        {**o.to_dict(), "until": iso(roster.holds_until(o, now, overrides))}
        for o in roster.now_all(now, overrides)]}


def list_overrides(*, store: RecordStore, clock: Clock) -> list[dict[str, Any]]:
    """The overrides not yet ended, whole (one range scan)."""
    return LIST.read(store, clock.now())


def add_override(body: Any, actor: str, *, store: RecordStore, clock: Clock) -> dict[str, Any]:
    """Raises InvalidInput naming the field; Conflict when listrow.MAX_ACTIVE overrides are active."""
    now = clock.now()
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k != "actor"}  # the actor is recorded as created_by
    fields = validate_override(body, now)
    if _CONTROL.search(fields["person"]):
        raise InvalidInput("$.person", "must not contain control characters")
    override = Override.from_dict({**fields, "id": f"OVR-{uuid.uuid4().hex[:8]}", "created_by": actor,
                                   "created_at": iso(now)}).to_dict()
    LIST.add(store, now, override)
    return override


def remove_override(override_id: str, *, store: RecordStore, clock: Clock) -> None:
    """Raises NotFound."""
    try:
        LIST.remove(store, clock.now(), override_id)
    except NotFound:
        raise NotFound(f"no override {override_id!r}") from None
