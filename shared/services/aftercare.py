"""After the fire (runbook section 6, and the Security Breach playbook's GDPR step): the review record,
the post-mortem draft, and the personal-data breach clock.

    record_review   POST incidents/{id}/pir: the meeting, the report link, the root cause, action items (each
                    new one queued as a Jira issue of its own: comms_delivery._item)
    postmortem      GET incidents/{id}/postmortem: the runbook's report template, pre-filled (Markdown or JSON)
    record_breach   POST incidents/{id}/breach: personal data yes/no, awareness time, the notification
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.domain import postmortem as pm
from shared.domain.breach import BreachClock
from shared.domain.errors import InvalidInput
from shared.domain.incident import Incident
from shared.domain.policy import Runbook
from shared.domain.review import Review
from shared.domain.timeutil import instant
from shared.domain.events import Event
from shared.ports import Clock, RecordStore
from shared.services import outbox
from shared.services.commands import _change
from shared.storage.repository import IncidentRepository

BREACH_FIELDS = ("personal_data", "aware_at", "notified_at", "authority", "reference", "actor")


def record_review(incident_id: str, body: dict[str, Any], actor: str, *, store: RecordStore, clock: Clock,
                  runbook: Runbook) -> dict[str, Any]:
    """Apply a review record to a resolved incident; repeating it changes nothing. Each action item it adds
    (open) is queued in the same batch as a Jira issue of its own, delivered after the incident's ticket.
    Raises InvalidInput (naming the JSON path), NotFound, Conflict (open incident, a transition the review's
    status forbids)."""
    fields = {k: v for k, v in body.items() if k != "actor"}

    def apply(inc: Incident) -> list[Event]:
        now = clock.now()
        before = Review.from_incident(inc, runbook)
        review, events = before.record(fields, now=now, calendar=runbook.calendar)
        inc.pir = review
        for kind, text in events:
            inc.record(now, kind, actor, text)
        return item_messages(inc, before, review, now)
    return _change(incident_id, apply, store=store, runbook=runbook)


def item_messages(inc: Incident, before: Review, after: Review, now: datetime) -> list[Event]:
    """One ticket message per action item `after` adds (open ones: an item recorded as already done needs no
    issue). The outbox delivers it after the incident's earlier ticket messages; without Jira it is recorded
    as not sent."""
    known = {i.id for i in before.items}
    return [outbox.message(now, inc, channel="ticket", action="item", text=i.text, fields={
        "item_id": i.id, "owner": i.owner, "due": i.due or "", "opener": False, "kind": "action item",
        "what": f"Jira action item {i.id}"}) for i in after.items if i.id not in known and i.status == "open"]


def postmortem(incident_id: str, *, store: RecordStore, clock: Clock, runbook: Runbook) -> dict[str, Any]:
    """The post-incident report draft as data (`markdown` holds the rendered text). Raises NotFound."""
    repo = IncidentRepository(store)
    inc, _ = repo.load(incident_id)
    timeline, _ = repo.timeline(incident_id)
    review = Review.from_incident(inc, runbook) if inc.resolved_at else None
    draft = pm.draft(inc, timeline, review, clock.now())
    return {**draft, "markdown": pm.to_markdown(draft)}


def record_breach(incident_id: str, body: dict[str, Any], actor: str, *, store: RecordStore, clock: Clock,
                  runbook: Runbook) -> dict[str, Any]:
    """GDPR Article 33: {"personal_data": true|false, "aware_at"} answers the question and starts the
    72-hour clock from awareness; {"notified_at", "authority", "reference"} records the notification and
    stops it. Raises InvalidInput (naming the field), NotFound, Conflict (already notified, no breach)."""
    unknown = sorted(set(body) - set(BREACH_FIELDS))
    if unknown:
        raise InvalidInput(f"$.{unknown[0][:40]}", f"unknown field: give {', '.join(BREACH_FIELDS[:5])}")
    if not ({"personal_data", "notified_at"} & set(body)):
        raise InvalidInput("$.personal_data", "give personal_data (true or false), or notified_at with authority")

    def apply(inc: Incident) -> list[Event]:
        now = clock.now()
        clock_ = BreachClock.from_dict(inc.breach or None, at="$")
        if "personal_data" in body:
            aware = _instant(body.get("aware_at"), "$.aware_at")
            clock_ = clock_.answer(body["personal_data"], aware_at=aware, now=now)
            inc.record(now, "breach", actor, "Personal data breach (GDPR Article 33): notification to the "
                       f"supervisory authority due by {_iso(clock_.deadline)}, 72 hours from awareness at "
                       f"{_iso(clock_.aware_at)}" if clock_.personal_data else "No personal data involved: "
                       "no GDPR notification clock")
        if "notified_at" in body:
            when = _instant(body.get("notified_at"), "$.notified_at")
            if when is None:
                raise InvalidInput("$.notified_at", "is required with authority and reference")
            clock_ = clock_.notify(when, _str(body.get("authority"), "$.authority"),
                                   _str(body.get("reference", ""), "$.reference"), now=now)
            inc.record(now, "breach", actor, f"Supervisory authority notified at {_iso(when)} "
                       f"({clock_.authority}{', ref ' + clock_.reference if clock_.reference else ''})"
                       + ("; after the 72-hour deadline" if clock_.notified_late else "; within 72 hours"))
        inc.breach = {**inc.breach, **clock_.to_dict()}
        return []
    return _change(incident_id, apply, store=store, runbook=runbook)


def _instant(value: Any, path: str) -> Any:
    if value is None:
        return None
    return instant(value, path)


def _str(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput(path, "must be a string")
    return value


def _iso(t: Any) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ") if t is not None else "?"
