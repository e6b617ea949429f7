"""Incident metrics kept on write: sharded month aggregates in the record store, and the window read.

    met|<YYYY-MM>|<SEV-n>|<shard>   the incidents of one severity created in one month (UTC) whose id
                                    hashes to <shard> (0..SHARDS-1): a MonthAggregate row
                                    (shared/domain/metrics.py)

Every incident write adds `ops` to its batch: the incident's entry is set in its row (and removed
from the row it was counted in before, after a severity change), ETag-conditional, so two writers
of one row cannot both win; the loser's whole batch fails and its retry reads everything again.
Sharding by incident id keeps concurrent incidents of one severity and month off each other's row.
The incident remembers its row and a digest of its facts (`Incident.metrics`): a write that changes
nothing the metrics count reads and writes no row.

A window's summary is one range scan over its months' rows: its cost depends on the window, never
on how much history the store holds.
"""
from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Mapping

from shared.domain.classification import SEVERITIES
from shared.domain.errors import InvalidInput
from shared.domain.incident import Incident
from shared.domain.metrics import AggregateTooLarge, Entry, IncidentFacts, MonthAggregate, apply, summarise
from shared.domain.timeutil import instant
from shared.ports import Op, Record, RecordStore

log = logging.getLogger(__name__)

SHARDS = 32  # concurrent incidents of one month and severity rarely share a row; a window still reads one page
PREFIX = "met|"
DEFAULT_WINDOW = timedelta(days=30)
MAX_WINDOW = timedelta(days=400)
PAGE = 1000                    # rows per scan page: a 400-day window holds at most 14 x 4 x 8 = 448
_US = timedelta(microseconds=1)


def shard_of(incident_id: str) -> int:
    """A stable shard (the same in every worker and release, unlike hash())."""
    return int.from_bytes(hashlib.sha256(incident_id.encode("utf-8", "surrogatepass")).digest()[:4], "big") % SHARDS


def month_of(t: datetime) -> str:
    t = t.astimezone(UTC)
    return f"{t.year:04d}-{t.month:02d}"   # strftime("%Y") drops the zero padding of years before 1000


def row_key(severity: str, month: str, shard: int) -> str:
    return f"{PREFIX}{month}|{severity}|{shard}"


def facts_of(inc: Incident, now: datetime) -> IncidentFacts:
    """What the metrics count of `inc` as of this write at `now`: its review is overdue when required and
    its meeting's deadline passed before it was held (Review.overdue); its open action items."""
    overdue, open_items = _review(inc, now)
    return IncidentFacts(id=inc.id, severity=inc.severity, created_at=inc.created_at,
                         acknowledged_at=inc.acknowledged_at, resolved_at=inc.resolved_at,
                         response_breached=bool(inc.sla.get("response_breached")),
                         resolution_breached=bool(inc.sla.get("resolution_breached")),
                         transient=bool(inc.transient), review_overdue=overdue, open_action_items=open_items)


def _review(inc: Incident, now: datetime) -> tuple[bool, int]:
    review = inc.pir
    if review is None:
        return False, 0
    overdue = review.required and "meeting" in review.overdue(now)
    return overdue, sum(item.status == "open" for item in review.items)


def digest(facts: IncidentFacts, key: str) -> str:
    """Of the facts and the row they go to: equal digests mean the write changes no aggregate."""
    times = [None if t is None else t.astimezone(UTC).isoformat() for t in
             (facts.created_at, facts.acknowledged_at, facts.resolved_at)]
    doc = [key, facts.id, facts.severity, *times, facts.response_breached, facts.resolution_breached,
           facts.transient, facts.review_overdue, facts.open_action_items]
    return hashlib.sha256(json.dumps(doc).encode()).hexdigest()[:20]


def ops(store: RecordStore, inc: Incident, now: datetime, known: Mapping[str, Record | None] | None = None
        ) -> list[Op]:
    """The aggregate writes of one incident write, for the caller's batch (with the incident, so that a
    conflict on a row fails both): none when the counted facts did not change; else the incident's row
    (insert when new, else replace under its ETag) and, after a severity change, the row it left
    (replaced, or deleted when it empties). Sets `inc.metrics` to {"key", "digest"}. One store.get.
    Raises StoreUnavailable. A row that would outgrow one entity is logged and the write skipped.
    `known`: rows the caller already read (None for one it found missing), which are not read again;
    the shard is the incident's own (`inc.metrics["shard"]`, chosen by whoever created it) or its id's."""
    facts = facts_of(inc, now)
    severity, month = facts.month_key
    key = row_key(severity, month, int(inc.metrics.get("shard") or shard_of(inc.id)))
    mark = digest(facts, key)
    if inc.metrics.get("digest") == mark and inc.metrics.get("key") == key:
        return []
    old = inc.metrics.get("key")
    keys = [key] if not old or old == key else [key, old]
    known = known or {}
    missing = [k for k in keys if k not in known]
    found = {**{k: r for k, r in known.items() if r is not None}, **(store.get(keys=missing) if missing else {})}
    out: list[Op] = []
    try:
        for k in keys:
            rec = found.get(k)
            agg = apply(_aggregate(k, rec) or _empty(k), None, facts)
            if rec is None:
                if agg.entries:
                    out.append(Op("insert", k, agg.to_row()))
            elif agg.entries or k == key:
                out.append(Op("replace", k, agg.to_row(), rec.etag))
            else:
                out.append(Op("delete", k, etag=rec.etag))
    except AggregateTooLarge as e:
        log.error("metrics row full, incident not counted: %s", e, extra={"incident_id": inc.id})
        return []
    inc.metrics = {**inc.metrics, "key": key, "digest": mark}   # other keys (the review index) are kept
    return out


def _empty(key: str) -> MonthAggregate:
    month, severity, _ = key[len(PREFIX):].split("|")
    return MonthAggregate(severity, month)


def _aggregate(key: str, rec: Record | None) -> MonthAggregate | None:
    """The row's aggregate; None when absent, or unreadable (logged: a write starts it afresh rather
    than block every incident of its shard; the next write of each lost incident counts it again)."""
    if rec is None:
        return None
    try:
        agg = MonthAggregate.from_row(rec.data)
    except InvalidInput as e:
        log.error("metrics row %s unreadable (%s): %s", key, e.path, e.message)
        return None
    if (agg.severity, agg.month) != (_empty(key).severity, _empty(key).month):
        log.error("metrics row %s holds %s %s", key, agg.severity, agg.month)
        return None
    return agg


def summary(store: RecordStore, since: datetime, until: datetime) -> dict[str, dict[str, int | None]]:
    """Per severity (every one, zeros included), the metrics of the incidents created in [since, until)
    (tz-aware): shared.domain.metrics.summarise over the window's rows, read in one range scan
    (continuations followed). Unreadable rows are logged and left out. Raises StoreUnavailable."""
    first, last = month_of(since), month_of(until - _US)
    merged: dict[tuple[str, str], dict[str, Entry]] = {}
    after = None
    while True:
        page = store.scan(start=f"{PREFIX}{first}", end=f"{PREFIX}{last}~", limit=PAGE, after=after)
        for rec in page.records:
            agg = _aggregate(rec.key, rec) if rec.key.count("|") == 3 else None
            if agg is not None:
                merged.setdefault((agg.severity, agg.month), {}).update(agg.entries)
        if page.continuation is None:
            break
        after = page.continuation
    aggs = [MonthAggregate(sev, month, entries) for (sev, month), entries in sorted(merged.items())]
    seen = {sev for sev, _ in merged}
    aggs += [MonthAggregate(sev, first) for sev in SEVERITIES if sev not in seen]
    return summarise(aggs, since, until)


def window(params: Mapping[str, str], now: datetime) -> tuple[datetime, datetime]:
    """The query's [since, until): ISO-8601 `since` and `until`, by default the DEFAULT_WINDOW up to `now`.
    Raises InvalidInput naming the parameter: malformed, since not before until, or over MAX_WINDOW."""
    until = instant(params["until"], "until") if params.get("until") else now
    if params.get("since"):
        since = instant(params["since"], "since")
    else:
        try:
            since = until - DEFAULT_WINDOW
        except OverflowError:
            raise InvalidInput("until", f"must be at least {DEFAULT_WINDOW.days} days after year 1") from None
    if since >= until:
        raise InvalidInput("since", "must be before until")
    if until - since > MAX_WINDOW:
        raise InvalidInput("since", f"the window is at most {MAX_WINDOW.days} days")
    return since, until
