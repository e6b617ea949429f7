"""The outbox's rows: one lane per channel, pages by severity first.

    out|<lane>|<next attempt ISO>|<message id>   a message waiting (or claimed until its lease ends)
    out|<ISO>|<message id>                       a message written before lanes (the legacy lane "2")
    dead|<lane>|<ISO>|<message id>               a message a receiver refused for good (a permanent 4xx)

A lane is a key range, so a tick reads each lane's due messages in one bounded range scan, and a
storm in one lane never stands in front of another's. A quiet outbox is read in one scan for all
the lanes a tick delivers (see `DueMessages`).

A message is claimed by moving it to its lease's end (delete + insert in one batch under the ETag it
was read with: two senders never both hold it), and settled by one batch: the claimed row goes (or
comes back at its next attempt, or becomes a dead letter) and the outcome is a timeline row of its
incident's own, written without the incident's ETag.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Literal, Mapping, Sequence

from shared.domain.errors import ConcurrencyConflict
from shared.domain.events import MessageQueued
from shared.domain.incident import AUTOMATION
from shared.domain.timeutil import iso
from shared.ports import Filter, Op, Record, RecordStore
from shared.storage.repository import IncidentRepository

PD_SEVERITY: dict[str, Literal["critical", "error", "warning", "info"]] = {
    "SEV-1": "critical", "SEV-2": "error", "SEV-3": "warning", "SEV-4": "info"}
PAGE_LANES = ("p1", "p2", "p3", "p4")                 # PagerDuty, by severity: first
AZURE_ALERT = "azure_alert"                            # Azure Monitor alert state (Acknowledged, Closed)
OTHER_LANES = ("chat", "ticket", "status_page", "customer_comms", AZURE_ALERT)
LANES = (*PAGE_LANES, *OTHER_LANES)
LEGACY = "2"                                           # rows written before lanes: out|<ISO>|<id>
ARM_LANES = (AZURE_ALERT,)                             # delivered by the ARM timer: never in front of a page
NOT_ARM_LANES = tuple(lane for lane in (*LANES, LEGACY) if lane not in ARM_LANES)
DEAD = "dead|"
QUIET = 100           # a tick's lanes holding fewer rows than this (due or not) are read in one scan


def lane_of(channel: str, severity: str) -> str:
    if channel == "pagerduty":
        return f"p{severity[-1]}" if severity in PD_SEVERITY else "p2"
    return channel if channel in OTHER_LANES else "chat"


def key(lane: str, at: datetime, msg_id: str) -> str:
    return f"out|{lane}|{iso(at)}|{msg_id}"


def queued(msg: MessageQueued) -> Op:
    """The row of a message written with the change that queued it."""
    return Op("insert", key(lane_of(msg.channel, msg.severity), msg.at, msg.msg_id), dict(msg.fields))


# ---- finding due messages -------------------------------------------------------------------------

def _due_range(lane: str, now: datetime) -> tuple[str, str]:
    """The keys of a lane's messages due by `now`: [start, end)."""
    if lane == LEGACY:
        return "out|2", f"out|{iso(now)}~"
    return f"out|{lane}|", f"out|{lane}|{iso(now)}~"


def due(store: RecordStore, lane: str, now: datetime, limit: int) -> list[Record]:
    """The lane's messages due by `now`, at most `limit`, earliest next attempt first."""
    start, end = _due_range(lane, now)
    return store.scan(start=start, end=end, limit=limit).records


class DueMessages:
    """A tick's due messages, lane by lane. The first lane's turn reads the span of all the tick's lanes
    (adjacent key ranges: "out|2" .. "out|ticket|~") in one scan of at most QUIET rows, due or not: in a
    quiet outbox that is every lane's due messages, for one request instead of one per lane. When the
    span holds more, the lanes it did not see whole are read on their turn by their own bounded scan,
    as before, so a storm in one lane (or in a lane inside the span the tick does not deliver) never
    crowds out another's, and pages still go first: the delivery order is the tick's, not the keys'."""

    def __init__(self, store: RecordStore, lanes: Sequence[str], now: datetime, limit: Callable[[str], int]):
        self._store, self._lanes, self._now, self._limit = store, list(lanes), now, limit
        self._read: dict[str, list[Record]] | None = None

    def of(self, lane: str) -> list[Record]:
        if self._read is None:
            self._read = self._span()
        if lane in self._read:
            return self._read[lane]
        return due(self._store, lane, self._now, self._limit(lane))

    def _span(self) -> dict[str, list[Record]]:
        """The due messages of each lane the scan of the span saw whole (every lane when the span is
        quiet; when it is not, the lanes before the row it stopped at); the others are read on their turn."""
        if len(self._lanes) < 2:
            return {}
        ranges = {lane: _due_range(lane, self._now) for lane in self._lanes}
        page = self._store.scan(start=min(s for s, _ in ranges.values()), end=max(e for _, e in ranges.values()),
                                limit=QUIET)
        seen = None                      # every key of the span up to `seen` was read (None: all of it)
        if page.continuation is not None:
            if not page.records:
                return {}
            seen = page.records[-1].key
        return {lane: [r for r in page.records if start <= r.key < end][:self._limit(lane)]
                for lane, (start, end) in ranges.items() if seen is None or end <= seen}


def trigger_waits(store: RecordStore, dedup_key: str, created_by: str) -> bool:
    """Whether a PagerDuty trigger of `dedup_key` queued no later than `created_by` (ISO) still waits in
    a page lane (due, for a retry, or in another sender's hands)."""
    waiting = store.scan(start="out|p", end="out|q", limit=20, filters=[
        Filter("dedup_key", "eq", dedup_key), Filter("action", "eq", "trigger")]).records
    return any(str(r.data.get("created_at", "")) <= created_by for r in waiting)


def earlier_waits(store: RecordStore, channel: str, incident_id: str, order: str) -> bool:
    """Whether a message of `incident_id` written before `order` still waits in the channel's lane."""
    lane = lane_of(channel, "")
    return bool(store.scan(start=f"out|{lane}|", end=f"out|{lane}|~", limit=1, filters=[
        Filter("incident_id", "eq", incident_id), Filter("order", "lt", order)]).records)


# ---- claiming and settling ------------------------------------------------------------------------

def _lane(data: Mapping[str, Any]) -> str:
    return lane_of(str(data.get("channel", "")), str(data.get("severity", "")))


def _msg_id(row_key: str) -> str:
    return row_key.rsplit("|", 1)[1]


def hold(store: RecordStore, rec: Record, until: datetime) -> None:
    """The message back in its lane, not due before `until` (nothing when another sender holds it)."""
    try:
        store.commit(ops=[Op("delete", rec.key, etag=rec.etag),
                          Op("insert", key(_lane(rec.data), until, _msg_id(rec.key)), rec.data)])
    except ConcurrencyConflict:
        pass


@dataclass(frozen=True)
class Claimed:
    """A message this sender holds until its lease ends: `key` and `etag` name the claimed row (pass
    them back to settle it); `data` is the message, its attempt counted and its id in "msg_id"."""
    key: str
    etag: str
    data: dict[str, Any]


def claim(store: RecordStore, rec: Record, lease_until: datetime) -> Claimed | None:
    """Take the message for one attempt, leased until `lease_until` (then another sender may take it
    over). None when another sender took it first."""
    msg_id = _msg_id(rec.key)
    claimed = key(_lane(rec.data), lease_until, msg_id)
    data = {**rec.data, "attempts": int(rec.data.get("attempts") or 0) + 1, "msg_id": msg_id}
    try:
        etag = store.commit(ops=[Op("delete", rec.key, etag=rec.etag), Op("insert", claimed, data)])[claimed]
    except ConcurrencyConflict:
        return None
    return Claimed(claimed, etag, data)


def settle(store: RecordStore, claimed: str, etag: str, data: Mapping[str, Any], now: datetime, *,
           again: datetime | None = None, dead: str | None = None, outcome: str | None = None) -> bool:
    """One batch: the claimed message goes, back in its lane at `again` when given (with `data`, its
    progress), or kept as a dead letter when `dead` (the reason) is given; and `outcome` becomes a
    delivery event on its incident's timeline (when it belongs to one). False when the lease ran out
    and another sender took the message over (nothing written)."""
    ops = [Op("delete", claimed, etag=etag)]
    if again is not None:
        ops.append(Op("insert", key(_lane(data), again, _msg_id(claimed)), dict(data)))
    elif dead is not None:   # kept for people, counted in GET health
        ops.append(Op("insert", f"{DEAD}{claimed.split('|')[1]}|{iso(now)}|{_msg_id(claimed)}",
                      {**data, "dead_reason": dead[:2000]}))
    if outcome is not None and data.get("incident_id"):
        ops.append(IncidentRepository.side_event(str(data["incident_id"]), now, "delivery", AUTOMATION, outcome,
                                                 channel=data["channel"], role=data["role"],
                                                 message=data.get("kind", "")))
    try:
        store.commit(ops=ops)
    except ConcurrencyConflict:
        return False
    return True
