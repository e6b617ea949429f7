"""One outbox for every outbound message: written with the state change that causes it, delivered
by the timer with backoff. Nothing is lost while a receiver is down; the dedup key makes a repeat
delivery (after a crash between send and bookkeeping) harmless. Its rows: shared/storage/outbox_rows.py.

Each channel has a lane of its own, and pages have one per severity, delivered first: a storm of
SEV-3 tickets and chats never stands in front of a SEV-1 page. Nothing sleeps in the timer: the
pager makes one attempt per tick, and a message that must wait (a 5xx, a 429 with Retry-After)
goes back in its lane at its next attempt time. An acknowledge or resolve never overtakes the trigger
of the same PagerDuty alert still waiting for a retry (PagerDuty would drop it, then open the alert).
"""
from __future__ import annotations

import itertools
import json
import logging
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Mapping, Sequence

from shared.domain.events import MessageQueued
from shared.domain.incident import Incident
from shared.domain.timeutil import iso
from shared.ports import AzureAlerts, Clock, Delivery, Pager, PagerEvent, Record, RecordStore
from shared.services import comms_delivery
from shared.services.comms_delivery import Receivers
from shared.storage import outbox_rows, refs as references
from shared.storage.outbox_rows import (ARM_LANES, AZURE_ALERT, LANES, LEGACY, NOT_ARM_LANES,  # noqa: F401
                                        PAGE_LANES, PD_SEVERITY)

log = logging.getLogger(__name__)
BUDGET_S = 7.0                        # real seconds per tick spent delivering
LEASE = timedelta(minutes=5)          # a claimed message is retried after this if its sender died
MAX_BACKOFF = timedelta(minutes=5)
HOLD = timedelta(seconds=10)          # an acknowledge/resolve behind its trigger looks again after this
UNSENT = {"customer_comms": "customer messages are written by people"}
COMMS_LANES = ("chat", "ticket", "status_page")        # shared/services/comms_delivery.py
PAGES_PER_TICK, OTHERS_PER_TICK = 100, 50


_ORDER = itertools.count()   # ties within one change (one instant) keep the order they were written in


def message(now: datetime, inc: Incident, *, channel: str, action: str, role: str = "", person: str = "",
            text: str = "", fields: Mapping[str, Any] | None = None) -> MessageQueued:
    """A message for `inc`, written with the change that causes it (hand it to the unit of work). `fields`:
    what a receiver needs besides the text (a subject, a ticket summary, a public update), flat values."""
    msg_id = uuid.uuid4().hex[:16]
    data = {"incident_id": inc.id, "channel": channel, "action": action, "role": role, "person": person,
            "dedup_key": f"{inc.id}.{role}" if role else inc.id, "severity": inc.severity,
            "summary": f"[{inc.severity}] {inc.id}: {inc.title}"[:1024], "text": text[:8000],
            "details": json.dumps({"incident_id": inc.id, "on_call": person, "role": role,
                                   "classification": {k: v if v is None else str(v)[:1000] for k, v in inc.classification.as_dict().items()
                                                      if k in ("impact", "scope", "reason", "category")}
                                   | {"security": inc.classification.security}}, default=str),
            "attempts": 0, "created_at": iso(now)}
    data.update({k: v[:20000] if isinstance(v, str) else v for k, v in (fields or {}).items()})
    data["order"] = f"{iso(now)}#{next(_ORDER):09d}"   # the order messages were written in, for each channel
    return MessageQueued(now, channel, inc.severity, msg_id, data)


def notice(now: datetime, *, subject: str, text: str, kind: str, dedup_key: str) -> MessageQueued:
    """A chat message that belongs to no incident (the daily review digest): no timeline, no order."""
    data = {"incident_id": "", "channel": "chat", "action": "post", "role": "", "person": "", "dedup_key": dedup_key,
            "severity": "", "summary": subject[:1024], "text": text[:20000], "details": "{}", "attempts": 0,
            "created_at": iso(now), "subject": subject, "opener": True, "kind": kind, "what": f"Chat {kind}",
            "facts": "[]"}
    return MessageQueued(now, "chat", "", f"{kind.replace(' ', '-')}-{dedup_key}"[:64], data)


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    details: list[str] = field(default_factory=list)


def deliver(*, store: RecordStore, clock: Clock, pager: Pager | None, routing_keys: Mapping[str, str],
            base_url: str = "", limit: int = OTHERS_PER_TICK, alerts: AzureAlerts | None = None,
            lanes: Sequence[str] | None = None, receivers: Receivers | None = None) -> DeliveryReport:
    """Send every message due by now, lane by lane (`lanes`, default all), pages first. `alerts` sets
    Azure alert states and `receivers` are chat, Jira and Statuspage (None: those messages are recorded
    as not sent). Raises StoreUnavailable when the store is down."""
    receivers = receivers or Receivers(base_url=base_url)
    now = clock.now()
    report = DeliveryReport()
    started, down = time.monotonic(), set()   # channels that failed this tick: the rest of theirs waits
    todo = [lane for lane in (*LANES, LEGACY) if lanes is None or lane in lanes]
    due = outbox_rows.DueMessages(store, todo, now, lambda lane: PAGES_PER_TICK if lane in PAGE_LANES else limit)
    for lane in todo:
        if time.monotonic() - started > BUDGET_S:
            break  # the rest waits for the next tick
        if lane in PAGE_LANES and "pagerduty" in down:
            continue
        for rec in due.of(lane):
            if time.monotonic() - started > BUDGET_S:
                break
            if rec.data.get("channel") in down:
                continue  # its receiver failed this tick: its other messages wait for the next tick
            failed = _deliver_one(store, clock, rec, pager, routing_keys, base_url, report, alerts, receivers)
            if failed:
                down.add(rec.data.get("channel"))
    return report


def _deliver_one(store: RecordStore, clock: Clock, rec: Record, pager: Pager | None, routing_keys: Mapping[str, str],
                 base_url: str, report: DeliveryReport, alerts: AzureAlerts | None = None,
                 receivers: Receivers | None = None) -> bool:
    """Claim one message (a lease), send it once, settle it. Returns True when the receiver failed."""
    now = clock.now()
    receivers = receivers or Receivers(base_url=base_url)
    comms = rec.data.get("channel") in COMMS_LANES and comms_delivery.not_sent(rec.data, receivers) is None
    if _behind_its_trigger(store, rec) or (comms and _behind_an_earlier(store, rec)):
        outbox_rows.hold(store, rec, now + HOLD)   # back in its lane, a little later: the earlier one goes first
        report.skipped += 1
        return False
    claimed = outbox_rows.claim(store, rec, now + LEASE)
    if claimed is None:
        report.skipped += 1  # another sweep holds it
        return False
    data = claimed.data
    try:
        if comms:   # the receivers' references (thread, ticket, page incident); a digest belongs to no incident
            refs = references.of(store, str(data["incident_id"])) if data.get("incident_id") else {}
            result: Delivery | str = comms_delivery.send(data, receivers, store, now, refs)
        else:
            result = _send(data, pager, routing_keys, base_url, alerts, receivers)
    except (KeyError, TypeError, ValueError) as e:  # a malformed row: isolated, never the whole tick
        _broken(store, clock, claimed.key, claimed.etag, data, e, report)
        return False
    _finish(store, clock, claimed.key, claimed.etag, data, result, report)
    return _retryable(result) and isinstance(result, Delivery) and result.attempts > 0   # a wait is no failure


def _behind_its_trigger(store: RecordStore, rec: Record) -> bool:
    """A PagerDuty acknowledge/resolve whose trigger (same dedup key, queued no later) still waits in a
    page lane, for a retry or in another sender's hands: PagerDuty drops an acknowledge or resolve for an
    alert it does not have, and the trigger arriving after it would page on for an incident handled."""
    data = rec.data
    if data.get("channel") != "pagerduty" or data.get("action") not in ("acknowledge", "resolve"):
        return False
    return outbox_rows.trigger_waits(store, str(data.get("dedup_key", "")), str(data.get("created_at", "")))


def _behind_an_earlier(store: RecordStore, rec: Record) -> bool:
    """A chat message, ticket change or status-page update while an earlier one of the same incident and
    channel still waits in its lane (for its first attempt, a retry, or another sender): each incident's
    messages of a channel arrive in the order they were written, so a thread never starts with a reply, a
    comment never comes before its ticket, and "resolved" is never overtaken by an "identified" retried late."""
    order, incident = str(rec.data.get("order") or ""), str(rec.data.get("incident_id") or "")
    if not order or not incident:
        return False
    return outbox_rows.earlier_waits(store, str(rec.data.get("channel", "")), incident, order)


def _send(data: dict[str, Any], pager: Pager | None, routing_keys: Mapping[str, str],
          base_url: str, alerts: AzureAlerts | None = None, receivers: Receivers | None = None) -> Delivery | str:
    if data["channel"] == AZURE_ALERT:
        return _set_alert_state(data, alerts)
    if data["channel"] in COMMS_LANES:
        return comms_delivery.not_sent(data, receivers or Receivers()) or "not sent"
    if data["channel"] != "pagerduty":
        why = UNSENT.get(data["channel"], "no sender for this channel")
        return f"{data['channel'].replace('_', ' ')}: not sent ({why}); nothing was delivered"
    key = routing_keys.get(data["role"])
    if pager is None or not key:
        return f"PagerDuty {data['action']} for {data['role']}: not sent (no routing key for this role)"
    links = [{"href": f"{base_url}/api/incidents/{data['incident_id']}", "text": data["incident_id"]}] if base_url else []
    event = PagerEvent(action=data["action"], routing_key=key, dedup_key=data["dedup_key"], summary=data["summary"],
                       severity=PD_SEVERITY.get(data["severity"], "error"), source="azure-incident-response",
                       custom_details=json.loads(data["details"]), links=links)
    return pager.send(event=event)


def _set_alert_state(data: dict[str, Any], alerts: AzureAlerts | None) -> Delivery | str:
    """changestate for each alert id of the message. 2xx and 404 (Azure no longer has the alert) are
    done; 429, 5xx and network errors leave the alert in the message, which goes back in its lane
    with backoff (only what is left is sent again: `data` is the row written back); any other refusal
    is recorded and not retried."""
    ids = [i for i in str(data.get("alert_ids") or "").split() if i]
    if alerts is None:
        return (f"Azure alert state {data['action']} for {len(ids)} alert(s): not sent (AZURE_SUBSCRIPTION_ID "
                "is not set, so the app has no Azure Monitor access); nothing was delivered")
    left: list[str]; notes: list[str]; history: list[str]
    retry_after: float | None; status: int | None; refused: int | None
    left, notes, history, retry_after, status, done, refused = [], [], [], None, None, 0, None
    for alert_id in ids:
        if left:   # Azure is failing: the rest waits with it rather than each costing a timeout now
            left.append(alert_id)
            continue
        d = alerts.change_state(alert_id=alert_id, new_state=data["action"])
        history += d.history
        short = alert_id.rsplit("/", 1)[-1]
        if d.ok or d.status == 404:
            done += 1
            notes.append(f"{short} {d.detail}" if d.ok else f"{short}: no such alert in Azure (404), nothing to set")
        elif _retryable(d):
            left.append(alert_id)
            status, retry_after = d.status, max(filter(None, (retry_after, d.retry_after)), default=None)
            notes.append(f"{short}: {d.status or 'no answer'} {d.detail}".strip())
        else:
            refused = d.status
            notes.append(f"{short}: refused ({d.status}: {d.detail})")
    data["alert_ids"] = " ".join(left)
    detail = "; ".join(notes)[:1000]
    if left:
        return Delivery(ok=False, attempts=len(history), status=status, history=tuple(history),
                        retry_after=retry_after, detail=f"{len(left)} of {len(ids)} alert(s) left: {detail}")
    if refused is not None and not done:   # nothing was set: a refusal, recorded and not retried
        return Delivery(ok=False, attempts=len(history), status=refused, history=tuple(history), detail=detail)
    return Delivery(ok=True, attempts=len(history), status=200, history=tuple(history), detail=detail)


def _retryable(result: Delivery | str) -> bool:
    """A failed delivery worth trying again: no answer, the receiver's own trouble (5xx), or "not now"
    (408, 409, 420 and 429: Statuspage rate-limits with 420). Any other 4xx refuses the message itself."""
    if not isinstance(result, Delivery) or result.ok:
        return False
    return result.status is None or result.status >= 500 or result.status in (408, 409, 420, 425, 429)


def _attempts(d: Delivery) -> str:
    """Every attempt, for the timeline: "2 attempts: 500, 202"."""
    n = f"{d.attempts} attempt{'s' if d.attempts != 1 else ''}"
    return f"{n}: {', '.join(d.history)}" if d.history else n


def _finish(store: RecordStore, clock: Clock, claimed: str, etag: str, data: dict[str, Any],
            result: Delivery | str, report: DeliveryReport) -> None:
    """Record what happened in one batch, without loading or rewriting the incident: the claimed message
    goes (or comes back at its next attempt, or is dead-lettered) and the outcome is a timeline event."""
    now = clock.now()
    who = f"{data['role']} ({data['person']})" if data.get("person") else data["role"]
    what = f"Azure alert state {data['action']}" if data["channel"] == AZURE_ALERT else \
        str(data["what"]) if data.get("what") else f"PagerDuty {data['action']} for {who}"
    retry = _retryable(result)
    if isinstance(result, str):
        text, report.skipped = result, report.skipped + 1
    elif result.ok:
        text, report.sent = f"{what}: delivered ({result.status}, {_attempts(result)})" + \
            (f": {result.detail}" if data["channel"] in (AZURE_ALERT, *COMMS_LANES) and result.detail else ""), \
            report.sent + 1
    else:
        report.failed += 1
        text = (f"{what}: failed ({result.status or 'no answer'}, delivery "
                f"{data['attempts']}, {_attempts(result)}: {result.detail})"
                + ("; will retry" if retry else "; refused for good: dead-lettered, not retried"))
    report.details.append(text)
    if not data.get("incident_id"):
        log.info("%s", text)
    dead = not retry and isinstance(result, Delivery) and not result.ok   # kept for people, counted in GET health
    if not outbox_rows.settle(store, claimed, etag, data, now, outcome=text, dead=text if dead else None,
                              again=_again(data, now, getattr(result, "retry_after", None)) if retry else None):
        # the lease ran out and another sweep took the message over
        log.warning("delivery of %s outlived its lease", claimed, extra={"incident_id": data["incident_id"]})


def _again(data: dict[str, Any], now: datetime, retry_after: float | None = None) -> datetime:
    """The message's next attempt: 10 s, 20 s, 40 s, ... up to 5 minutes, with jitter, and never before
    the receiver's Retry-After."""
    backoff = min(MAX_BACKOFF, timedelta(seconds=10 * 2 ** min(max(data["attempts"], 1) - 1, 6)))
    backoff *= random.uniform(0.75, 1.0)   # jitter spreads a burst of retries, never later than the backoff
    if retry_after is not None:
        backoff = max(backoff, timedelta(seconds=min(retry_after, 3600)))
    return now + backoff


def _broken(store: RecordStore, clock: Clock, claimed: str, etag: str, data: dict[str, Any], error: Exception,
            report: DeliveryReport) -> None:
    """A message that could not even be attempted (a malformed row): logged, counted, tried again later;
    it never stops the other messages of the tick."""
    report.failed += 1
    log.error("outbox message %s failed before sending: %s: %s", claimed, type(error).__name__, error,
              extra={"incident_id": data.get("incident_id")})
    data = {**data, "error": f"{type(error).__name__}: {str(error)[:300]}"}
    now = clock.now()
    outbox_rows.settle(store, claimed, etag, data, now, again=_again(data, now))
