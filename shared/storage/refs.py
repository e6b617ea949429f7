"""The receivers' references for an incident, kept beside it and never in it (delivery never needs the
incident's ETag):

    ref|<inv>|<receiver>    {"ref": ...}: the Slack thread, the Jira key (receiver "jira"; an action
                            item's issue: "jira-<item id>"), the Statuspage incident
                            {"creating_by": <message id>, "creating_at": <ISO>}: a create in flight

A create whose answer was lost must not create twice: before creating, a sender writes the marker with
an insert (or a replace under the ETag it read), which fails when another sender wrote first.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

from shared.domain.errors import ConcurrencyConflict
from shared.domain.timeutil import iso
from shared.ports import Op, Record, RecordStore
from shared.storage.repository import inverted, ref_key


def of(store: RecordStore, incident_id: str) -> dict[str, Record]:
    """The incident's references (receiver -> record), in one range scan (one page in practice: a
    receiver per channel, plus one per Jira action item)."""
    prefix = f"ref|{inverted(incident_id)}|"
    found: dict[str, Record] = {}
    after = None
    while True:
        page = store.scan(start=prefix, end=prefix + "~", limit=100, after=after)
        found.update({r.key[len(prefix):]: r for r in page.records})
        if page.continuation is None:
            return found
        after = page.continuation


def _op(incident_id: str, receiver: str, data: Mapping[str, Any], etag: str | None) -> Op:
    """Insert when new (fails if another sender wrote it first), else replace under the ETag read."""
    k = ref_key(incident_id, receiver)
    return Op("insert", k, dict(data)) if etag is None else Op("replace", k, dict(data), etag)


def keep(store: RecordStore, incident_id: str, receiver: str, ref: str, etag: str | None) -> None:
    """Record the receiver's reference (`etag`: of the row read, None when there was none). Another
    sender having recorded it first is no error: the receiver's own record is the same."""
    try:
        store.commit(ops=[_op(incident_id, receiver, {"ref": ref}, etag)])
    except ConcurrencyConflict:
        pass


def mark_creating(store: RecordStore, incident_id: str, receiver: str, msg_id: str, now: datetime,
                  etag: str | None) -> str | None:
    """Write the create-once marker for message `msg_id` (`etag`: of the row read, None when there was
    none). Returns the marker's ETag, or None when another sender wrote first (it creates, not us)."""
    try:
        got = store.commit(ops=[_op(incident_id, receiver, {"creating_by": msg_id, "creating_at": iso(now)}, etag)])
    except ConcurrencyConflict:
        return None
    return got.get(ref_key(incident_id, receiver))
