"""Reminders that keep the after-work from being forgotten, all through the outbox's chat lane.

    gdpr:<24h|48h|66h|overdue>   the personal-data breach clock (due steps of the incident, on the sweep):
                                 to the security lead and the VP engineering; at 72 h the incident is
                                 marked overdue
    gdpr:ask                     a security incident nobody has said yes or no about: asked daily
    daily digest                 the review timer (REVIEW_SCHEDULE): reviews due within a working day or
                                 overdue, and action items due or overdue by owner, once per working day
                                 at 09:00 in the calendar's time zone, whatever the number of timer instances

The digest reads the review index (shared/storage/reviews.py: one row per review still open, written with
the incident: see review_indexed), never the incidents. With Jira configured, every tick of the review timer first brings the
action items up to date with their issues (action_items.follow), so an item done in Jira is done in the digest.
"""
from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timedelta
from typing import Any

from shared.domain.breach import REMINDERS, BreachClock
from shared.domain.communication import Rendered
from shared.domain.events import Event, ReviewIndexed
from shared.domain.errors import ConcurrencyConflict
from shared.domain.incident import AUTOMATION, Incident
from shared.domain.policy import Runbook
from shared.domain.review import Review
from shared.domain.timeutil import iso, parse_iso
from shared.ports import Clock, RecordStore, Tickets
from shared.services import communications, outbox
from shared.storage import reviews
from shared.storage.uow import UnitOfWork

log = logging.getLogger(__name__)
GDPR = "gdpr:"
ASK = "gdpr:ask"
ASK_FOR = timedelta(days=30)       # the daily question stops after this long
DIGEST_HOUR = 9                    # local time of the daily digest, in the calendar's time zone
GDPR_ROLES = ("security_lead", "vp_engineering")


# ---- the breach clock -----------------------------------------------------------------------------

def schedule(inc: Incident) -> dict[str, datetime]:
    """The next GDPR reminder, and the daily question for a security incident without an answer."""
    clock = BreachClock.from_dict(inc.breach or None)
    sent = set(inc.breach.get("sent") or ())
    steps: dict[str, datetime] = {}
    if clock.running and clock.aware_at is not None:
        for name, after in REMINDERS:
            if name not in sent:
                steps[GDPR + name] = clock.aware_at + after
                break
    if inc.classification.security and clock.personal_data is None:
        asked = parse_iso(inc.breach.get("asked_at"))
        if inc.created_at + ASK_FOR > (asked or inc.created_at):
            steps[ASK] = inc.created_at if asked is None else \
                datetime.combine(asked.date() + timedelta(days=1), datetime.min.time(), asked.tzinfo)
    return steps


def run(inc: Incident, step: str, now: datetime, runbook: Runbook) -> list[Event] | None:
    """Send one GDPR reminder (or the daily question). None when it no longer applies."""
    clock = BreachClock.from_dict(inc.breach or None)
    who = _people(runbook, now)
    if step == ASK:
        if not clock.question_due(now, parse_iso(inc.breach.get("asked_at"))):
            return None
        inc.breach = {**inc.breach, "asked_at": iso(now)}
        text = (f"{inc.id} is a security incident. Does it involve personal data (GDPR Article 33)? Answer with "
                f"POST incidents/{inc.id}/breach {{\"personal_data\": true|false, \"aware_at\": ...}} "
                f"(incidentctl breach {inc.id}). {', '.join(who)}: asked once a day until answered.")
        inc.record(now, "breach", AUTOMATION, "Asked in chat whether personal data is involved")
        return _chat(inc, now, runbook, f"{inc.id}: personal data involved?", text)
    due = clock.reminders_due(now, inc.breach.get("sent") or ())
    if not due or GDPR + due[0] != step:
        return None
    sent = list(inc.breach.get("sent") or ()) + due      # a clock started late owes several: one message
    inc.breach = {**inc.breach, "sent": sent, **({"overdue": True} if "overdue" in due else {})}
    late = "overdue" in due
    text = (f"GDPR Article 33: the supervisory authority must be notified of the personal data breach of "
            f"{inc.id} by {iso(clock.deadline)} (72 hours from awareness at {iso(clock.aware_at)}). "
            + ("The deadline has passed: notify now and record the reasons for the delay. " if late else
               f"{due[-1]} since awareness. ")
            + f"Record it with POST incidents/{inc.id}/breach {{\"notified_at\", \"authority\", \"reference\"}}. "
            f"For: {', '.join(who)}")
    inc.record(now, "breach", AUTOMATION, ("GDPR notification OVERDUE: " if late else f"GDPR reminder ({due[-1]}): ")
               + f"deadline {iso(clock.deadline)}; told {', '.join(who)}")
    return _chat(inc, now, runbook, f"{inc.id}: GDPR notification {'overdue' if late else f'due {iso(clock.deadline)}'}",
                 text)


def _people(runbook: Runbook, now: datetime) -> list[str]:
    if runbook.roster is None:
        return [r.replace("_", " ") for r in GDPR_ROLES]
    return [f"{runbook.roster.on_call(role, now, []).person} ({role.replace('_', ' ')})" for role in GDPR_ROLES]


def _chat(inc: Incident, now: datetime, runbook: Runbook, subject: str, text: str) -> list[Event]:
    return [communications.chat_message(inc, now, Rendered(template="gdpr", subject=subject, text=text), runbook,
                                 "GDPR reminder", opener=True)]


def from_alert(inc: Incident, personal_data: Any, aware_at: datetime, now: datetime) -> None:
    """An alert's customProperties.personal_data (true/false) answers the question; true starts the clock
    at the alert's firing time (the moment of awareness)."""
    flag = {"true": True, "yes": True, "false": False, "no": False}.get(str(personal_data).strip().lower())
    if flag is None or inc.breach.get("personal_data") is not None:
        return
    clock = BreachClock.from_dict(inc.breach or None).answer(flag, aware_at=min(aware_at, now), now=now)
    inc.breach = {**inc.breach, **clock.to_dict()}
    inc.record(now, "breach", "azure-monitor", f"The alert flags a personal data breach: GDPR notification due by "
               f"{iso(clock.deadline)}" if flag else "The alert says no personal data is involved")


# ---- the review index and the daily digest --------------------------------------------------------

def review_indexed(inc: Incident) -> ReviewIndexed | None:
    """The incident's row in the review index, when its review changed since it was last written."""
    if inc.pir is None or not inc.pir.required:
        return None
    pir = inc.pir.to_dict()   # the stored spelling of its times and items
    row = {"incident_id": inc.id, "title": inc.title[:300], "severity": inc.severity,
           "status": inc.pir.status, "due_at": pir["due_at"] or "", "report_due_at": pir["report_due_at"] or "",
           "items": json.dumps([i for i in pir["action_items"] if i.get("status") == "open"])[:30000]}
    digest = hashlib.sha256(json.dumps(row, sort_keys=True).encode()).hexdigest()[:16]
    if inc.metrics.get("review") == digest:
        return None
    inc.metrics = {**inc.metrics, "review": digest}
    return ReviewIndexed(inc.id, row)


def daily(*, store: RecordStore, clock: Clock, runbook: Runbook, tickets: Tickets | None = None) -> str | None:
    """Post the day's review digest once (09:00 in the calendar's time zone, working days; the first tick
    at or after it claims the day). With `tickets` (Jira), every tick first records the action items whose
    issues Jira says are done (action_items.follow; a Jira failure is logged, never stops the digest).
    Returns the digest's text, or None when there is nothing to do now. Raises StoreUnavailable."""
    if tickets is not None:
        # imported here: it writes through aftercare, whose commands import this module (schedule.py)
        from shared.services import action_items
        action_items.follow(store=store, clock=clock, runbook=runbook, tickets=tickets)
    now = clock.now()
    cal = runbook.calendar
    local = now.astimezone(cal.zone)
    if local.hour < DIGEST_HOUR or not cal.is_working_day(local.date()):
        return None
    day = local.date().isoformat()
    if reviews.digest_sent(store, day):
        return None          # today's digest is out: the rest of the day's ticks read one row, nothing more
    text = digest_text([dict(r.fields) for r in reviews.open_reviews(store)], now, runbook)
    uow = UnitOfWork(store)  # no retry: a lost race means another instance posted today's digest
    reviews.claim_day(uow, day, now, text.count("\n") + 1 if text else 0)
    if text:
        uow.add(outbox.notice(now, subject=f"Post-incident reviews and action items, {day}", text=text,
                              kind="review digest", dedup_key=day))
    try:
        uow.commit()
    except ConcurrencyConflict:
        return None          # another instance posted today's digest
    return text or None


def digest_text(rows: list[dict[str, Any]], now: datetime, runbook: Runbook) -> str:
    """Reviews due within a working day or overdue, and action items due by the next working day or
    overdue, grouped by owner; "" when there is nothing to say."""
    cal = runbook.calendar
    horizon = cal.add_business_days(now, 1)
    reviews: list[str] = []
    items: dict[str, list[str]] = {}
    for row in rows:
        try:
            _digest_row(row, now, horizon, reviews, items)
        except (KeyError, TypeError, ValueError) as e:   # one unreadable row never hides the others
            log.error("review index row of %s skipped in the digest: %s: %s", row.get("incident_id"),
                      type(e).__name__, e, extra={"incident_id": row.get("incident_id")})
    parts = []
    if reviews:
        parts += ["Post-incident reviews:"] + reviews
    for owner in sorted(items):
        parts += [f"Action items for {owner}:"] + items[owner]
    return "\n".join(parts)


def _digest_row(row: dict[str, Any], now: datetime, horizon: datetime, reviews: list[str],
                items: dict[str, list[str]]) -> None:
    """One review index row's lines: its review when due or overdue, its action items by owner."""
    review = Review.from_dict({"required": True, "status": row.get("status"), "due_at": row.get("due_at"),
                               "report_due_at": row.get("report_due_at")})
    late = review.overdue(now)
    due = review.due_at if review.status in ("pending", "scheduled") else review.report_due_at
    if late:
        reviews.append(f"- {row['incident_id']} ({row.get('severity')}) {row.get('title', '')}: "
                       f"{' and '.join(late)} OVERDUE (was due {iso(due)})")
    elif due is not None and due <= horizon:
        reviews.append(f"- {row['incident_id']} ({row.get('severity')}) {row.get('title', '')}: "
                       f"{'meeting' if review.status in ('pending', 'scheduled') else 'report'} due {iso(due)}")
    for item in json.loads(row.get("items") or "[]"):
        due_day = item.get("due")
        if due_day and due_day <= horizon.date().isoformat():
            state = "OVERDUE" if due_day < now.date().isoformat() else "due"
            items.setdefault(item.get("owner") or "unassigned", []).append(
                f"  - {row['incident_id']} {item.get('id')}: {item.get('text')} ({state} {due_day})")
