"""Action items follow their Jira issues (issue "Post-incident review", point 3).

Each open action item got an issue of its own when it was added (aftercare.item_messages, delivered by
comms_delivery._item, its key kept as the incident's reference "jira-<item id>"). On every tick of the review timer,
before the digest is built, `follow` reads the Jira status of open items that have an issue; an issue Jira
says is done (status category "done") records its item done on the incident through the normal write path
(aftercare.record_review, actor "jira"), so the review index, the digest and the metrics follow.

Bounded: at most MAX_READS status reads per tick, from a cursor (shared/storage/reviews.py) that goes round
the open items, so each is read in turn however many there are. A failed read is logged and skipped; Jira
answering nothing, a 5xx or a 429 ends the reads of the tick (the rest wait for the next one), so Jira
being down never holds the digest up for long.
"""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from shared.domain.errors import DomainError
from shared.domain.policy import Runbook
from shared.ports import Clock, RecordStore, Tickets
from shared.services import aftercare
from shared.storage import reviews
from shared.storage.reviews import IndexedReview

log = logging.getLogger(__name__)
MAX_READS = 50          # Jira status reads per tick
MAX_LOOKED_AT = 500     # open items whose reference is looked up per tick (50 keys a read of the store)
ACTOR = "jira"
DONE = "done"           # Jira's status category key for Done
_KEY = re.compile(r"^[A-Z][A-Z0-9_]{0,19}-[1-9][0-9]{0,9}$")   # a key ActionItem.ticket accepts (domain/review.py)


@dataclass
class FollowReport:
    read: int = 0
    done: list[str] = field(default_factory=list)      # "<incident id> <item id>" recorded done
    failed: list[str] = field(default_factory=list)    # what could not be read or recorded, and why


@dataclass(frozen=True)
class _Open:
    at: str                 # the cursor position (reviews.item_position)
    incident_id: str
    item: dict[str, Any]


def open_reviews(store: RecordStore) -> list[IndexedReview]:
    """The review index rows of reviews still open (their open action items in `items`, JSON)."""
    return reviews.open_reviews(store)


def follow(*, store: RecordStore, clock: Clock, runbook: Runbook, tickets: Tickets) -> FollowReport:
    """Read the Jira status of open action items that have an issue (at most MAX_READS) and record those Jira
    says are done. Never raises for Jira; raises StoreUnavailable when the store cannot be read."""
    report = FollowReport()
    items = _in_turn(store, _open_items(open_reviews(store)))
    issues, looked_at = _issues(store, items)
    last = looked_at[-1].at if looked_at else ""
    done: dict[str, list[tuple[_Open, str]]] = {}
    for it, key in issues:
        sent = tickets.status(key=key)
        report.read += 1
        d = sent.delivery
        if not d.ok:
            report.failed.append(f"{it.incident_id} {it.item['id']} ({key}): {d.status or 'no answer'} {d.detail}")
            log.warning("action item %s: Jira status of %s not read (%s)", it.item["id"], key, d.status or "no answer",
                        extra={"incident_id": it.incident_id})
            if d.status is None or d.status >= 500 or d.status == 429:   # Jira is unwell: the rest wait their turn
                last = it.at
                break
            continue
        if sent.ref == DONE:
            done.setdefault(it.incident_id, []).append((it, key))
    for incident_id, closed in done.items():
        _record_done(incident_id, closed, store=store, clock=clock, runbook=runbook, report=report)
    if last and (last != looked_at[-1].at or len(looked_at) < len(items)):   # the next tick starts after `last`
        reviews.move_cursor(store, last, clock.now())
    if report.read:
        log.info("Jira status of %d action item(s) read: %d done, %d not read or not recorded", report.read,
                 len(report.done), len(report.failed))
    return report


def _open_items(rows: list[IndexedReview]) -> list[_Open]:
    out = []
    for rev in rows:
        incident_id = str(rev.fields.get("incident_id") or "")
        try:
            items = json.loads(rev.fields.get("items") or "[]")
        except ValueError:   # a row cut at its size limit: its items are read again once it is rewritten
            log.warning("review index row of %s: items unreadable", incident_id, extra={"incident_id": incident_id})
            continue
        out += [_Open(reviews.item_position(rev, i.get("id")), incident_id, i)
                for i in items if isinstance(i, dict) and i.get("id") and i.get("status", "open") == "open"]
    return sorted(out, key=lambda i: i.at)


def _in_turn(store: RecordStore, items: list[_Open]) -> list[_Open]:
    """The items from the cursor on, then round to the start: each gets its turn."""
    after = reviews.cursor(store)
    return [i for i in items if i.at > after] + [i for i in items if i.at <= after]


def _issues(store: RecordStore, items: list[_Open]) -> tuple[list[tuple[_Open, str]], list[_Open]]:
    """The first MAX_READS items that have an issue (with its key), and every item looked at to find them."""
    issues: list[tuple[_Open, str]] = []
    looked_at: list[_Open] = []
    for start in range(0, min(len(items), MAX_LOOKED_AT), 50):
        chunk = items[start:start + 50]
        keys = reviews.issue_keys(store, [(i.incident_id, str(i.item["id"])) for i in chunk])
        for it in chunk:
            if len(issues) >= MAX_READS:
                return issues, looked_at
            looked_at.append(it)
            key = keys.get((it.incident_id, str(it.item["id"])))
            if key:
                issues.append((it, key))
    return issues, looked_at


def _record_done(incident_id: str, closed: list[tuple[_Open, str]], *, store: RecordStore, clock: Clock,
                 runbook: Runbook, report: FollowReport) -> None:
    """Record the items done in one write of the incident (its Jira key too, when the item names none)."""
    body = {"action_items": [{"id": it.item["id"], "status": "done"} | (
        {"ticket": key} if not it.item.get("ticket") and _KEY.match(key) else {}) for it, key in closed]}
    try:
        aftercare.record_review(incident_id, body, ACTOR, store=store, clock=clock, runbook=runbook)
    except DomainError as e:   # a review closed meanwhile, an incident gone: recorded, the others go on
        report.failed.append(f"{incident_id}: not recorded ({type(e).__name__}: {e})")
        log.warning("action items done in Jira not recorded: %s: %s", type(e).__name__, e,
                    extra={"incident_id": incident_id})
        return
    report.done += [f"{incident_id} {it.item['id']}" for it, _ in closed]
    log.info("action items done in Jira: %s", ", ".join(str(it.item["id"]) for it, _ in closed),
             extra={"incident_id": incident_id})
