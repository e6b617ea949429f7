"""TeamsWorkflowChat: the Chat port on a Microsoft Teams Workflows webhook (the Power Automate template
"Post to a channel when a webhook request is received", trigger "When a Teams webhook request is received").

The flow takes the documented message body, {"type": "message", "attachments": [{"contentType":
"application/vnd.microsoft.card.adaptive", "content": <Adaptive Card>}]} (Microsoft Learn,
https://learn.microsoft.com/en-us/connectors/teams/#microsoft-teams-webhook), and posts each card.
The trigger answers 202 Accepted with an empty body as soon as the flow is started (not 200 as the
retired Office 365 connectors did: robusta-dev/robusta#2113, nicholas-fedor/shoutrrr#900), so a 202
says the flow has the card, not that the channel shows it: a card the "Post card" action refuses fails
in the flow's run history, where no sender sees it. Hence the card is kept well inside what Teams takes:
Adaptive Card 1.4 (MicrosoftDocs/msteams-docs#9801: 1.5 is not rendered when posted by a flow) and a
message under about 28 KB ("Request Entity too large" beyond it: Microsoft Learn, connectors/teams,
known issues and limitations). 429 and 5xx are passing (Retry-After passed on: Microsoft Learn,
azure/logic-apps/handle-throttling-problems-429-errors); another 4xx is not. A card cannot be threaded
or edited: `post` returns ref "", `update` answers "not supported". One attempt per call, no sleep,
never raises. The URL carries the flow's signature (`sig=`), a secret kept out of details and logs.
"""
from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from shared.adapters.notify.slack import (NOT_SUPPORTED, check_url, hide_in_http_logs, http_failure, log_delivery,
                                          post_json, scrub)
from shared.ports import ChatPost, Delivery, Sent

log = logging.getLogger(__name__)

CARD_VERSION = "1.4"
MESSAGE_MAX_BYTES = 27 * 1024     # under Teams' ~28 KB for a posted message, with room for the flow's wrapping
_HEADERS = {"Content-Type": "application/json; charset=utf-8"}


def card(post: ChatPost, *, text: str | None = None) -> dict[str, Any]:
    """The Adaptive Card: subject, body, the facts (and the ticket) as a FactSet, a button to the incident."""
    body: list[dict[str, Any]] = [{"type": "TextBlock", "text": post.subject, "weight": "Bolder", "size": "Medium",
                                   "wrap": True}]
    text = post.text if text is None else text
    if text:
        body.append({"type": "TextBlock", "text": text, "wrap": True})
    facts = [*post.facts, *([("Ticket", post.ticket)] if post.ticket else [])]
    if facts:
        body.append({"type": "FactSet", "facts": [{"title": name, "value": value} for name, value in facts]})
    actions = [{"type": "Action.OpenUrl", "title": "Open the incident", "url": post.link}] if post.link else []
    return {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
            "version": CARD_VERSION, "body": body, "actions": actions}


def message(post: ChatPost) -> dict[str, Any]:
    """The webhook's message body, with the body text shortened ("…") when the card would be too large."""
    def wrap(content: dict[str, Any]) -> dict[str, Any]:
        return {"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
                                                    "contentUrl": None, "content": content}]}

    msg = wrap(card(post))
    size = len(json.dumps(msg).encode())
    text = post.text
    while size > MESSAGE_MAX_BYTES and text:
        # escaping and multi-byte characters make bytes and characters differ: cut by the excess, then measure
        text = text[:max(0, len(text) - (size - MESSAGE_MAX_BYTES) - 16)]
        msg = wrap(card(post, text=text + "…"))
        size = len(json.dumps(msg).encode())
    return msg


class TeamsWorkflowChat:
    name = "teams"

    def __init__(self, *, webhook_url: str, session: requests.Session | None = None, timeout_s: float = 5.0):
        self._url = check_url(webhook_url)
        parts = urlsplit(webhook_url)
        signatures = parse_qs(parts.query).get("sig", [])
        self._secrets = (webhook_url, f"{parts.path}?{parts.query}", *signatures) if parts.query else (webhook_url,)
        hide_in_http_logs(*self._secrets)
        self._session = session
        self._timeout_s = timeout_s

    def post(self, *, post: ChatPost, thread: str = "") -> Sent:
        """POST the card; `thread` is ignored (the flow posts a new message each time)."""
        self._session = self._session or requests.Session()
        resp = post_json(self._session, self._url, message(post), headers=_HEADERS, timeout_s=self._timeout_s)
        if isinstance(resp, Delivery):
            return Sent(log_delivery(log, "teams post", post, resp))
        if 200 <= resp.status_code < 300:
            d = Delivery(ok=True, attempts=1, status=resp.status_code, history=(str(resp.status_code),),
                         detail="accepted by the workflow")
        else:
            d = http_failure(resp, scrub(f"{resp.status_code} {_error(resp)}".strip(), self._secrets))
        return Sent(log_delivery(log, "teams post", post, d))

    def update(self, *, ref: str, post: ChatPost) -> Delivery:
        return NOT_SUPPORTED


def _error(resp: requests.Response) -> str:
    """The flow service's own words: {"error": {"code", "message"}} (the Logic Apps envelope), else the text
    (uncut: the caller scrubs, then cuts)."""
    try:
        data = resp.json()
    except ValueError:
        return resp.text.strip()
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict):
        return f"{err.get('code', '')}: {err.get('message', '')}".strip(": ")
    return json.dumps(data)
