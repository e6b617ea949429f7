"""The review index and the rows of its readers (the review timer: the daily digest, action items).

    rev|<inv>                the review index (repository.review_key): one row per required review, written
                             with the incident (the ReviewIndexed event): incident_id, title, severity, status,
                             due_at, report_due_at, items (JSON list of the open action items)
    ref|<inv>|jira-<item>    an action item's Jira issue (written by delivery): its key in `ref`
    meta|action-items        where action_items.follow goes on next tick: {"after": <item position>, "at"}
    meta|reminders|<day>     the day's digest is out (the first instance to insert it posted it): {"at", "lines"}
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping, Sequence

from shared.domain.timeutil import iso
from shared.ports import Filter, Op, RecordStore
from shared.storage.repository import ref_key
from shared.storage.uow import UnitOfWork

REVIEWS = "rev|"
CURSOR = "meta|action-items"
READ_AT_ONCE = 50        # references read in one store.get


@dataclass(frozen=True)
class IndexedReview:
    """One row of the review index. `position` orders it among the others (opaque to callers: positions
    compare, nothing more)."""
    position: str
    fields: Mapping[str, Any]


def open_reviews(store: RecordStore) -> list[IndexedReview]:
    """The review index rows of reviews still open (their open action items in `items`, JSON), in index
    order. One range scan. Raises StoreUnavailable."""
    rows = store.scan(start=REVIEWS, end=REVIEWS[:-1] + "}", limit=1000,
                      filters=[Filter("status", "ne", "closed")]).records
    return [IndexedReview(r.key, dict(r.data)) for r in rows]


def item_position(review: IndexedReview, item_id: Any) -> str:
    """An action item's place in the round the Jira follow-up makes (its review's, then its id's)."""
    return f"{review.position}|{str(item_id).rjust(8)}"


# ---- action items and their Jira issues -------------------------------------------------------------

def cursor(store: RecordStore) -> str:
    """The item position the last follow-up stopped after ("" when it starts from the first item)."""
    rec = store.get(keys=[CURSOR]).get(CURSOR)
    return str(rec.data.get("after") or "") if rec else ""


def move_cursor(store: RecordStore, after: str, now: datetime) -> None:
    """The next follow-up starts after the item at `after`."""
    store.commit(ops=[Op("upsert", CURSOR, {"after": after, "at": iso(now)})])


def issue_keys(store: RecordStore, items: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """The Jira issue key of each (incident id, item id) that has one, READ_AT_ONCE references a read."""
    found: dict[tuple[str, str], str] = {}
    for start in range(0, len(items), READ_AT_ONCE):
        chunk = items[start:start + READ_AT_ONCE]
        keys = {item: ref_key(item[0], f"jira-{item[1]}") for item in chunk}
        refs = store.get(keys=list(dict.fromkeys(keys.values())))
        for item, key in keys.items():
            rec = refs.get(key)
            if rec is not None and rec.data.get("ref"):
                found[item] = str(rec.data["ref"])
    return found


# ---- the daily digest ---------------------------------------------------------------------------------

def _day_key(day: str) -> str:
    return f"meta|reminders|{day}"


def digest_sent(store: RecordStore, day: str) -> bool:
    """Whether the digest of `day` (an ISO date) is out: one point read."""
    return bool(store.get(keys=[_day_key(day)]))


def claim_day(uow: UnitOfWork, day: str, now: datetime, lines: int) -> None:
    """The day's digest claimed in the unit's batch: an insert, so of two instances only one commits
    (the other's commit raises ConcurrencyConflict)."""
    uow.include([Op("insert", _day_key(day), {"at": iso(now), "lines": lines})])
