"""The alert index: what intake reads and writes besides the incident (layout: repository.py).

    alert|<h>|F / |R   an alert (hashed id) and its condition -> its incident and severity: de-duplication
    fp|<h>             a fingerprint (rule + targets) -> the incident it opened or last joined
    res|<h>            a core resource -> its last incident and when its last alert came: the correlation
                       window

Intake's reads are one parallel point read (`read_fired`): the alert's own `alert|..|F` row (is it a
redelivery?), its fingerprint, the silences' and overrides' index rows, its core resources' rows and
the metrics row a new incident is counted in. A new alert so costs two sequential waits: that read,
then one batch. A redelivery this worker indexed itself (the same webhook call retried, a reconcile of
an alert it took) is the exception: its `alert|` row is read alone first, so it is answered with one
request. The worker's memory of the alerts it indexed (a bounded set per store) only chooses which
read goes first: every answer comes from the rows read.

The rows of a change go into the unit of work's batch. A new incident's fingerprint and core-resource
rows are guarded (`index_created`): inserted when they were absent, replaced under the ETag read when
they were there. Two alerts racing to open an incident for one resource (a storm) cannot both win:
the loser's batch fails, and its retry reads the winner's row and joins its incident. Several alerts joining
one incident in one batch (intake's group commit) write their rows together (`index_joined_together`: a
row they share once); a group that lost a race re-reads only their de-duplication rows (`read_seen`).
"""
from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Sequence

from shared.domain.alerts import Alert
from shared.domain.incident import Incident
from shared.domain.timeutil import iso, parse_stored
from shared.ports import Op, Record, RecordStore
from shared.storage import listrow, metrics_store
from shared.storage.repository import alert_key, fingerprint_key, resource_key
from shared.storage.uow import UnitOfWork

SILENCES = listrow.index_key(listrow.SILENCES)
OVERRIDES = listrow.index_key(listrow.OVERRIDES)
REMEMBERED = 4096   # alerts per store this worker remembers having indexed (a few hundred KB)


@dataclass(frozen=True)
class Seen:
    """An alert condition already indexed: the incident it went to, and that incident's severity then."""
    incident_id: str
    severity: str | None


@dataclass(frozen=True)
class FiredRead:
    """The rows intake read for a fired alert, as intake needs them."""
    alert_id: str
    now: datetime
    seen: Seen | None = None                     # set: a redelivery (and nothing else is kept)
    fingerprint: str | None = None               # the incident the fingerprint points at
    resources: tuple[tuple[str, datetime], ...] = ()   # (incident, last alert at) of the core resources
    silences: list[listrow.Entry] = field(default_factory=list)
    overrides: list[listrow.Entry] = field(default_factory=list)
    shard: int = 0                               # the metrics shard of a new incident
    guarded: dict[str, Record | None] = field(default_factory=dict)   # fp| and res| rows (None: absent)
    counted_in: dict[str, Record | None] = field(default_factory=dict)  # the metrics row of a new incident


class _Remembered:
    """The alerts this worker indexed lately, per store (thread-safe, bounded, least recent dropped)."""

    def __init__(self) -> None:
        self._keys: weakref.WeakKeyDictionary[Any, OrderedDict[str, None]] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def __contains__(self, item: tuple[Any, str]) -> bool:
        store, key = item
        with self._lock:
            return key in self._keys.get(store, ())

    def add(self, store: Any, key: str) -> None:
        with self._lock:
            keys = self._keys.setdefault(store, OrderedDict())
            keys[key] = None
            keys.move_to_end(key)
            while len(keys) > REMEMBERED:
                keys.popitem(last=False)


_indexed = _Remembered()


def _seen(rec: Record | None) -> Seen | None:
    return None if rec is None else Seen(rec.data["incident_id"], rec.data.get("severity"))


def read_fired(store: RecordStore, alert: Alert, core_ids: frozenset[str], severity: str, now: datetime
               ) -> FiredRead:
    """Everything intake needs to decide on a fired alert, in one parallel point read (two when this
    worker indexed the alert before: its de-duplication row alone first). `severity`: the alert's
    classification, for the metrics row a new incident would be counted in (its shard from the alert
    id). Raises StoreUnavailable."""
    akey = alert_key(alert.alert_id, "F")
    keys: list[str] = [akey]
    if (store, akey) in _indexed:   # most likely a redelivery: one request answers it
        seen = _seen(store.get(keys=[akey]).get(akey))
        if seen is not None:
            return FiredRead(alert.alert_id, now, seen=seen)
        keys = []
    fkey = fingerprint_key(alert.fingerprint)
    rkeys = [resource_key(t) for t in alert.target_ids if t in core_ids]
    shard = metrics_store.shard_of(alert.alert_id)
    mkey = metrics_store.row_key(severity, metrics_store.month_of(now), shard)
    found = store.get(keys=[*keys, fkey, SILENCES, OVERRIDES, *rkeys, mkey])
    if akey in found:
        _indexed.add(store, akey)
        return FiredRead(alert.alert_id, now, seen=_seen(found[akey]))
    fp = found.get(fkey)
    return FiredRead(
        alert.alert_id, now, fingerprint=fp.data["incident_id"] if fp else None,
        resources=tuple((found[k].data["incident_id"], parse_stored(found[k].data["last_at"]))
                        for k in rkeys if k in found),
        silences=listrow.entries(found.get(SILENCES)), overrides=listrow.entries(found.get(OVERRIDES)),
        shard=shard, guarded={k: found.get(k) for k in [fkey, *rkeys]}, counted_in={mkey: found.get(mkey)})


def read_resolved(store: RecordStore, alert_id: str) -> tuple[Seen | None, Seen | None]:
    """(the alert's Resolved row: a redelivery, its Fired row: the incident it resolves), in one parallel
    read. Raises StoreUnavailable."""
    rkey, fkey = alert_key(alert_id, "R"), alert_key(alert_id, "F")
    rows = store.get(keys=[rkey, fkey])
    return _seen(rows.get(rkey)), _seen(rows.get(fkey))


def _index(read: FiredRead) -> list[Op]:
    """The fingerprint and core-resource rows of the alert (without their incident)."""
    fkey, *rkeys = read.guarded
    return [Op("upsert", fkey, {}), *[Op("upsert", rk, {"last_at": iso(read.now)}) for rk in rkeys]]


def _pointing(inc: Incident, read: FiredRead, index: list[Op], severity: str | None = None) -> list[Op]:
    """The alert's rows, pointing at `inc` (its severity as of this change, or `severity`)."""
    row = {"incident_id": inc.id, "severity": severity or inc.severity}
    return [Op("insert", alert_key(read.alert_id, "F"), row),
            *[Op(op.kind, op.key, {**op.data, "incident_id": inc.id}, op.etag) for op in index]]


def index_joined(uow: UnitOfWork, inc: Incident, read: FiredRead) -> None:
    """Add to the batch the rows of a fired alert that joined `inc`: its de-duplication row, its
    fingerprint and core resources (now) pointing at `inc`. Call after the domain change (the row keeps
    the incident's severity)."""
    uow.include(_pointing(inc, read, _index(read)))


def index_joined_together(uow: UnitOfWork, inc: Incident, joined: Sequence[tuple[FiredRead, str | None]]) -> None:
    """`index_joined` for several alerts that joined `inc` in one change (intake's group commit), each with
    the incident's severity as of its own join. A fingerprint or core resource several of them share is
    written once, with the latest alert's time: a batch may touch a row only once."""
    rows: dict[str, Op] = {}
    for read, severity in sorted(joined, key=lambda j: j[0].now):
        rows.update((op.key, op) for op in _pointing(inc, read, _index(read), severity))
    uow.include(list(rows.values()))


def rows_joined(read: FiredRead) -> int:
    """How many rows `index_joined` adds for the alert at most (a group keeps its batch under 100 rows)."""
    return 1 + len(read.guarded)


def read_seen(store: RecordStore, alert_ids: Sequence[str]) -> dict[str, Seen]:
    """The fired alerts among `alert_ids` already indexed (alert id -> its incident and severity), in one
    parallel point read: a group that lost a race learns which of its alerts another writer took meanwhile.
    Raises StoreUnavailable."""
    keys = {alert_key(a, "F"): a for a in alert_ids}
    return {keys[k]: Seen(r.data["incident_id"], r.data.get("severity")) for k, r in store.get(keys=list(keys)).items()}


def index_created(uow: UnitOfWork, inc: Incident, read: FiredRead) -> None:
    """Add to the batch the rows of a fired alert that opened `inc` (the guarded index rows, see the
    module), count `inc` in the metrics row already read (its shard), and hand that row to the unit of
    work so its commit does not read it again."""
    index = [_guard(op, read.guarded.get(op.key)) for op in _index(read)]
    uow.include(_pointing(inc, read, index))
    inc.metrics = {"shard": str(read.shard)}
    uow.remember(read.counted_in)


def _guard(op: Op, rec: Record | None) -> Op:
    return Op("insert", op.key, op.data) if rec is None else Op("replace", op.key, op.data, rec.etag)


def index_recovered(uow: UnitOfWork, inc: Incident, read: FiredRead) -> None:
    """Add to the batch the de-duplication row of a recovery notice that resolved `inc`."""
    uow.include(_pointing(inc, read, []))


def index_resolved(uow: UnitOfWork, inc: Incident, alert_id: str) -> None:
    """Add to the batch the Resolved row of an alert that resolved in `inc`."""
    uow.include([Op("insert", alert_key(alert_id, "R"), {"incident_id": inc.id, "severity": inc.severity})])


def indexed(store: RecordStore, read: FiredRead) -> None:
    """After the commit: remember that this worker indexed the alert (its redelivery reads 1 row first)."""
    _indexed.add(store, alert_key(read.alert_id, "F"))
