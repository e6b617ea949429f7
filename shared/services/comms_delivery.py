"""Delivery of the communications the outbox holds: chat (Slack, Teams), the Jira ticket, Statuspage.

Each receiver gets one attempt per message per tick (the outbox owns the retry schedule). What a
receiver created is kept as a reference of its own (the Slack thread, the Jira key, the Statuspage
incident: shared/storage/refs.py), never in the incident, so delivery never needs its ETag.

An action item of the post-incident review becomes an issue of its own (its reference "jira-<item id>",
labelled `<incident id>-<item id>`), linked to the incident's ticket, which is created first when missing.

A create whose answer was lost must not create twice. Before creating, the sender writes a marker
(with the message id) on the reference, which fails when another sender wrote one first; a marker left
by a create that may have happened (the same message retried, or a sender that died) makes the next
attempt look the incident up first (a JQL label search, the page's unresolved incidents) and create
only when nothing is found.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Mapping

from shared.domain.timeutil import parse_iso
from shared.ports import Chat, ChatPost, Delivery, PublicUpdate, Record, RecordStore, Sent, StatusPage, Ticket, Tickets
from shared.storage import refs as references

MARKER_FRESH = timedelta(minutes=2)   # another sender's create in flight: wait this long before looking it up
SETTLE = timedelta(seconds=60)         # a create without an answer is looked up this long after it
WAIT_S = 30.0                          # a message that waits for another sender's create tries again after this
LINK = "Relates"                       # the Jira link type between an action item's issue and the incident's ticket
NOT_CONFIGURED = {
    "chat": "no chat receiver is configured (SLACK_WEBHOOK_URL, SLACK_BOT_TOKEN with SLACK_CHANNEL, or "
            "TEAMS_WEBHOOK_URL)",
    "ticket": "Jira is not configured (JIRA_BASE_URL, JIRA_USER, JIRA_API_TOKEN, JIRA_PROJECT_KEY)",
    "status_page": "Statuspage is not configured (STATUSPAGE_PAGE_ID, STATUSPAGE_API_KEY); the public status "
                   "page of this app shows it",
}


@dataclass(frozen=True)
class Receivers:
    """The configured receivers; empty when none is (the message is then recorded as not sent)."""
    chats: tuple[Chat, ...] = ()
    tickets: Tickets | None = None
    status_page: StatusPage | None = None
    done_transition: str = "Done"
    components: Mapping[str, str] = field(default_factory=dict)   # core role -> Statuspage component id
    base_url: str = ""

    def configured(self, channel: str) -> bool:
        return bool(self.chats) if channel == "chat" else \
            self.tickets is not None if channel == "ticket" else self.status_page is not None


def not_sent(data: Mapping[str, Any], receivers: Receivers) -> str | None:
    """Why the message cannot be sent at all (its receiver is not configured), or None."""
    channel = str(data["channel"])
    if receivers.configured(channel):
        return None
    return f"{data.get('what') or channel}: not sent ({NOT_CONFIGURED[channel]}); nothing was delivered"


def send(data: dict[str, Any], receivers: Receivers, store: RecordStore, now: datetime,
         refs: dict[str, Record]) -> Delivery:
    """Deliver one message of the chat, ticket or status_page lane to its configured receiver(s). `data`
    is the row written back when the message must be tried again: progress (chat receivers done, the
    ticket comment made before its transition) is kept in it so a retry repeats nothing. `refs`: the
    incident's references as read (receiver -> record); `store` keeps what the receivers create."""
    channel = data["channel"]
    if channel == "chat":
        return _chat(data, receivers, store, refs)
    if channel == "ticket":
        assert receivers.tickets is not None
        if data["action"] == "item":
            return _item(data, receivers.tickets, store, refs, now, receivers.base_url)
        return _ticket(data, receivers.tickets, receivers.done_transition, store, refs, now)
    assert receivers.status_page is not None
    return _status(data, receivers, store, refs, now)


# ---- chat ---------------------------------------------------------------------------------------

def _chat(data: dict[str, Any], receivers: Receivers, store: RecordStore, refs: dict[str, Record]) -> Delivery:
    names = [c.name for c in receivers.chats]
    left = [n for n in str(data.get("targets") or " ".join(names)).split() if n in names]
    post = ChatPost(incident_id=data["incident_id"], severity=data["severity"], subject=str(data.get("subject", "")),
                    text=data["text"], ticket=str(refs.get("jira", _NONE).data.get("ref") or ""),
                    link=f"{receivers.base_url}/api/incidents/{data['incident_id']}" if receivers.base_url else "",
                    facts=tuple(tuple(f) for f in json.loads(data.get("facts") or "[]")))  # type: ignore[misc]
    notes: list[str] = []
    history: list[str] = []
    failed: Delivery | None = None
    for chat in receivers.chats:
        if chat.name not in left:
            continue
        thread = refs.get(chat.name, _NONE)
        sent = chat.post(post=post, thread="" if data.get("opener") else str(thread.data.get("ref") or ""))
        d = sent.delivery
        history += d.history
        if not d.ok:
            failed = failed or d
            notes.append(f"{chat.name}: {d.status or 'no answer'} {d.detail}".strip())
            continue
        left.remove(chat.name)
        notes.append(f"{chat.name} {d.status or ''}".strip())
        if data.get("opener") and sent.ref and not thread.data.get("ref"):
            references.keep(store, data["incident_id"], chat.name, sent.ref, None)
        if data.get("root_text") and thread.data.get("ref"):
            root = ChatPost(incident_id=post.incident_id, severity=post.severity, text=str(data["root_text"]),
                            subject=str(data.get("root_subject", "")), ticket=post.ticket, link=post.link,
                            facts=post.facts)
            chat.update(ref=str(thread.data["ref"]), post=root)   # best effort: the thread has the update
    data["targets"] = " ".join(left)
    detail = "; ".join(notes)[:1000]
    if failed is not None:
        return Delivery(ok=False, attempts=len(history), status=failed.status, history=tuple(history),
                        retry_after=failed.retry_after, detail=f"{len(left)} of {len(names)} receiver(s) left: {detail}")
    return Delivery(ok=True, attempts=len(history), status=200, history=tuple(history), detail=detail)


# ---- the ticket ---------------------------------------------------------------------------------

def _incident_ticket(data: dict[str, Any], tickets: Tickets, store: RecordStore, refs: dict[str, Record],
                     now: datetime, description: str) -> tuple[str, str] | Delivery:
    """The incident's ticket, created first when the message is the first to need it."""
    incident_id = data["incident_id"]
    ticket = Ticket(incident_id=incident_id, summary=str(data.get("summary") or f"[{data['severity']}] {incident_id}"),
                    description=description, severity=data["severity"],
                    labels=tuple(str(data.get("labels") or f"incident {data['severity']} {incident_id}").split()))
    return _ensure(store, refs, "jira", data, now, find=lambda: tickets.find(incident_id=incident_id),
                   create=lambda: tickets.create(ticket=ticket))


def _ticket(data: dict[str, Any], tickets: Tickets, transition: str, store: RecordStore,
            refs: dict[str, Record], now: datetime) -> Delivery:
    got = _incident_ticket(data, tickets, store, refs, now, data["text"])
    if isinstance(got, Delivery):
        return got
    key, created = got
    if data["action"] == "create":
        return Delivery(ok=True, attempts=1, status=201, detail=f"{key} {created}")
    if not data.get("commented"):
        d = tickets.comment(key=key, text=data["text"])
        if not d.ok:
            return d
        data["commented"] = True
    if data["action"] == "resolve":
        d = tickets.transition(key=key, name=transition)
        if not d.ok and d.status != 404:
            return d
        return Delivery(ok=True, attempts=d.attempts + 1, status=200, detail=f"{key}: comment added; "
                        + ("transition " + transition if d.ok else f"no transition {transition!r} ({d.detail})"))
    return Delivery(ok=True, attempts=1, status=201, detail=f"{key}: comment added")


def _item(data: dict[str, Any], tickets: Tickets, store: RecordStore, refs: dict[str, Record], now: datetime,
          base_url: str) -> Delivery:
    """An action item's issue: created once (found again by its label after a lost answer), then linked to the
    incident's ticket; `linked` is kept in the message so a retry repeats nothing."""
    incident_id, item = data["incident_id"], str(data["item_id"])
    got = _incident_ticket(data, tickets, store, refs, now, f"{data['summary']}\n\nOpened for its action item {item}.")
    if isinstance(got, Delivery):
        return got
    key = got[0]
    label = f"{incident_id}-{item}"
    lines = [f"Action item {item} of {incident_id} (post-incident review): {data['text']}", f"Owner: {data['owner']}",
             f"Due: {data.get('due') or 'not set'}"] + ([f"Incident: {base_url}/api/incidents/{incident_id}"]
                                                         if base_url else [])
    issue = Ticket(incident_id=incident_id, summary=f"[action item] {incident_id} {item}: {data['text']}",
                   description="\n".join(lines), severity="", labels=("action-item", label))
    made = _ensure(store, refs, f"jira-{item}", data, now, find=lambda: tickets.find(incident_id=label),
                   create=lambda: tickets.create(ticket=issue))
    if isinstance(made, Delivery):
        return made
    issue_key, how = made
    if how != "updated":   # kept for the delivery's record when the link takes another attempt
        data["issue_note"] = f"{issue_key} {how}"
    note = f"linked to {key}"
    if not data.get("linked"):
        d = tickets.link(inward=key, outward=issue_key, kind=LINK)
        if not d.ok and d.status != 404:
            return d
        data["linked"] = True
        note = note if d.ok else f"not linked to {key} ({d.detail})"
    return Delivery(ok=True, attempts=1, status=201, detail=f"{data.get('issue_note') or issue_key}; {note}")


# ---- the status page ----------------------------------------------------------------------------

def _status(data: dict[str, Any], receivers: Receivers, store: RecordStore, refs: dict[str, Record],
            now: datetime) -> Delivery:
    page = receivers.status_page
    assert page is not None
    roles = str(data.get("roles") or "").split()
    update = PublicUpdate(incident_id=data["incident_id"], name=str(data.get("name") or "Service incident"),
                          status=data["status"], body=data["text"], impact=data.get("impact") or "major",
                          components={receivers.components[r]: str(data.get("component_status") or "major_outage")
                                      for r in roles if r in receivers.components})
    got = _ensure(store, refs, "statuspage", data, now, find=lambda: page.find(incident_id=data["incident_id"]),
                  create=lambda: page.create(update=update))
    if isinstance(got, Delivery):
        return got
    ref, created = got
    if created != "updated" and data.get("opener"):
        return Delivery(ok=True, attempts=1, status=201, detail=f"{data['status']}: page incident {created}")
    d = page.update(ref=ref, update=update)
    return d if not d.ok else Delivery(ok=True, attempts=d.attempts, status=d.status, history=d.history,
                                       detail=f"{data['status']}: page incident updated")


# ---- create once --------------------------------------------------------------------------------

def _ensure(store: RecordStore, refs: dict[str, Record], receiver: str, data: dict[str, Any], now: datetime,
            *, find: Any, create: Any) -> tuple[str, str] | Delivery:
    """The receiver's reference for the incident: (ref, "created" | "found" | "updated") where "updated"
    means it already existed (the message then updates it), or a Delivery saying why not yet."""
    rec = refs.get(receiver)
    if rec is not None and rec.data.get("ref"):
        return str(rec.data["ref"]), "updated"
    msg = str(data.get("msg_id") or "")
    if rec is not None:
        mine = rec.data.get("creating_by") == msg
        since = now - (parse_iso(rec.data.get("creating_at")) or now)
        if not mine and since < MARKER_FRESH:
            return _wait(f"another sender is creating the {receiver} record")
        # a create may have happened (ours got no answer, or another sender's never finished): look it up
        # first; after a create the receiver answered with a refusal or an error, create again at once
        if not mine or data.get("create_unknown", True):
            if since < SETTLE:   # a search right after a create may not see it yet (eventually consistent)
                return _wait(f"an earlier create of the {receiver} record got no answer: looking it up "
                             f"{int(SETTLE.total_seconds())} s after it")
            found = find()
            if not found.delivery.ok:
                return found.delivery
            if found.ref:
                references.keep(store, data["incident_id"], receiver, found.ref, rec.etag)
                return found.ref, "found (its earlier create's answer was lost)"
            data["create_unknown"] = False   # looked up: nothing there (kept if this create fails too)
    etag = references.mark_creating(store, data["incident_id"], receiver, msg, now,   # only one sender creates
                                    None if rec is None else rec.etag)
    if etag is None:
        return _wait(f"another sender is creating the {receiver} record")
    sent: Sent = create()
    if not sent.delivery.ok or not sent.ref:   # no answer, or created without a key: look it up before creating
        data["create_unknown"] = sent.delivery.ok or sent.delivery.status is None
        return sent.delivery if not sent.delivery.ok else Delivery(
            ok=False, attempts=sent.delivery.attempts, status=None, detail="created, but no reference came back")
    references.keep(store, data["incident_id"], receiver, sent.ref, etag)
    return sent.ref, "created"


def _wait(why: str) -> Delivery:
    return Delivery(ok=False, attempts=0, status=None, detail=f"waiting: {why}", retry_after=WAIT_S)


class _Empty:
    data: Mapping[str, Any] = {}
    etag = ""


_NONE: Any = _Empty()
