"""Slack: the Chat port on an incoming webhook (SlackWebhookChat) or on the Web API (SlackWebApiChat).

Incoming webhook (https://api.slack.com/messaging/webhooks): POST {"text", "blocks"} to the hook's
URL; 200 "ok", or a status with a short text: 400 invalid_payload, 403 action_prohibited, 404
channel_not_found or no_service (the hook was removed), 410 channel_is_archived, 500 rollup_error
(https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks). It cannot thread
or edit: `post` ignores `thread` and returns ref "", `update` answers "not supported".

Web API (https://api.slack.com/methods/chat.postMessage, .../chat.update): JSON with the bot token as a
bearer token; HTTP 200 with {"ok": true, "channel", "ts"} or {"ok": false, "error"}, and HTTP 429 with
Retry-After when rate limited (https://api.slack.com/docs/rate-limits). An ok:false is given the
status the outbox reads as permanent (400, 401, 403, 404) unless Slack says it is passing (429, 503).
A message's ref is "<channel id>/<ts>".

One attempt per call, no sleep, never raises for HTTP or network failures (shared/ports/notify.py).
The webhook URL and the token are secrets: kept out of every Delivery.detail and every log line, the
HTTP library's debug lines included (hide_in_http_logs).
"""
from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from shared.adapters.notify.wire import retry_after
from shared.ports import ChatPost, Delivery, Sent

log = logging.getLogger(__name__)

TEXT_MAX = 40_000           # Slack truncates `text` beyond this (changelog 2018-04-truncating-really-long-messages)
SECTION_TEXT_MAX = 3_000    # Block Kit section text: at most 3000 characters (reference/block-kit/blocks#section)
FIELD_TEXT_MAX = 2_000      # ... each of its fields at most 2000, and at most 10 fields
FIELDS_MAX = 10
BLOCKS_MAX = 50             # "up to 50 blocks in each message" (reference/block-kit/blocks)
RETRY_AFTER_CAP_S = 3600.0
DETAIL_MAX = 300
NOT_SUPPORTED = Delivery(ok=True, attempts=0, status=None, detail="not supported")
_JSON = {"Content-Type": "application/json; charset=utf-8", "Accept": "application/json"}
_HTTP_LOGGERS = ("urllib3.connectionpool", "urllib3.util.retry", "urllib3.poolmanager")

# Web API errors Slack documents as passing (retry) and those that name what is wrong (never retried).
_PASSING = {"ratelimited": 429, "rate_limited": 429, "internal_error": 503, "fatal_error": 503,
            "service_unavailable": 503, "request_timeout": 503, "team_added_to_org": 503,
            "org_login_required": 503, "update_failed": 503, "external_channel_migrating": 503}
_UNAUTHORIZED = {"not_authed", "invalid_auth", "account_inactive", "token_revoked", "token_expired"}
_FORBIDDEN = {"missing_scope", "no_permission", "not_in_channel", "is_archived", "is_inactive", "access_denied",
              "ekm_access_denied", "not_allowed_token_type", "team_access_not_granted", "cant_update_message",
              "edit_window_closed"}                 # and restricted_action, restricted_action_*
_NOT_FOUND = {"channel_not_found", "message_not_found", "thread_not_found"}


def error_status(error: str) -> int:
    """The status an ok:false answer is recorded with: 429/503 retried, 401/403/404/400 not."""
    if error in _PASSING:
        return _PASSING[error]
    if error in _UNAUTHORIZED:
        return 401
    return 403 if error in _FORBIDDEN or error.startswith("restricted_action") else 404 if error in _NOT_FOUND else 400


# ---- the message -----------------------------------------------------------------------------

def _esc(text: str) -> str:
    # the three characters Slack's mrkdwn reserves (https://api.slack.com/reference/surfaces/formatting#escaping)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _chunks(text: str, size: int) -> list[str]:
    """`text` in pieces of at most `size`, cut at a line end when one is near, never inside an entity."""
    pieces = []
    while len(text) > size:
        cut = text.rfind("\n", size // 2, size) + 1 or size
        amp = text.rfind("&", cut - 5, cut)
        if amp != -1 and ";" not in text[amp:cut]:
            cut = amp
        pieces.append(text[:cut])
        text = text[cut:]
    return pieces + [text] if text.strip() else pieces


def message_text(post: ChatPost) -> str:
    """The message text (the notification and the fallback): bold subject, body, ticket, link."""
    lines = [f"*{_esc(post.subject)}*", _esc(post.text), f"Ticket: {_esc(post.ticket)}" if post.ticket else "",
             _esc(post.link)]
    return _cut("\n".join(line for line in lines if line), TEXT_MAX)


def message_blocks(post: ChatPost) -> list[dict[str, Any]]:
    """Block Kit: the subject, the body in sections of at most 3000 characters, the facts and ticket as
    fields, the link; within Slack's limits (a body too long for 50 blocks ends with "…")."""
    def section(text: str) -> dict[str, Any]:
        return {"type": "section", "text": {"type": "mrkdwn", "text": text}}

    fields = [*post.facts, *([("Ticket", post.ticket)] if post.ticket else [])][:FIELDS_MAX]
    room = BLOCKS_MAX - 1 - bool(fields) - bool(post.link)
    body = _chunks(_esc(post.text), SECTION_TEXT_MAX)
    if len(body) > room:
        body = body[:room - 1] + [body[room - 1][:SECTION_TEXT_MAX - 1] + "…"]
    blocks = [section(_cut(f"*{_esc(post.subject)}*", SECTION_TEXT_MAX))] + [section(b) for b in body]
    if fields:
        blocks.append({"type": "section", "fields": [
            {"type": "mrkdwn", "text": _cut(f"*{_esc(name)}*\n{_esc(value) or '-'}", FIELD_TEXT_MAX)}
            for name, value in fields]})
    if post.link:
        blocks.append(section(f"<{_esc(post.link).replace('|', '%7C')}|Open the incident>"))
    return blocks


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def parse_ref(ref: str) -> tuple[str, str] | None:
    """(channel id, ts) of a "<channel id>/<ts>" ref; None for anything else."""
    channel, _, ts = ref.partition("/")
    return (channel, ts) if channel and ts and "/" not in ts else None


# ---- plumbing shared with teams.py -----------------------------------------------------------

def check_url(url: str) -> str:
    """A secret-bearing URL must be https (plain http only on loopback, for the fakes)."""
    parts = urlsplit(url or "")
    if parts.scheme == "https" and parts.hostname or \
            parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1"):
        return url
    raise ValueError("a URL that carries a secret must be https (plain http only on loopback)")


_HIDDEN: set[str] = set()        # what hide_in_http_logs keeps out of the HTTP library's records


def _redact(record: logging.LogRecord) -> bool:
    """A filter on urllib3's loggers, which write each request's path and query at DEBUG (where a
    webhook's secret lives): known secrets become "[secret]"."""
    try:
        text = record.getMessage()
    except (TypeError, ValueError):       # a malformed record is the logging module's to report
        return True
    if any(s in text for s in _HIDDEN):
        for s in sorted(_HIDDEN, key=len, reverse=True):
            text = text.replace(s, "[secret]")
        record.msg, record.args = text, None
    return True


def hide_in_http_logs(*secrets: str) -> None:
    """Keep `secrets` (and their URL-encoded forms) out of urllib3's log records from now on."""
    for name in _HTTP_LOGGERS:
        if _redact not in logging.getLogger(name).filters:
            logging.getLogger(name).addFilter(_redact)
    _HIDDEN.update(f for s in secrets if len(s) >= 4 for f in (s, quote(s, safe=""), quote(s)))


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    """`text` without `secrets` (as is or URL-encoded), then cut to a detail's length: cutting first could
    leave part of a secret."""
    for s in sorted(secrets, key=len, reverse=True):
        text = text.replace(s, "[secret]").replace(quote(s, safe=""), "[secret]")
    return text[:DETAIL_MAX]


def post_json(session: requests.Session, url: str, body: Any, *, headers: dict[str, str],
              timeout_s: float) -> requests.Response | Delivery:
    """One POST; a Delivery (status None) when no answer came. Redirects are not followed: a secret
    goes to the configured origin only."""
    try:
        return session.post(url, data=json.dumps(body).encode(), headers=headers, timeout=timeout_s,
                            allow_redirects=False)
    except requests.RequestException as e:      # its type only: its text names the URL
        what = "network error" if isinstance(e, (requests.ConnectionError, requests.Timeout)) else "request failed"
        return Delivery(ok=False, attempts=1, status=None, detail=f"{what}: {type(e).__name__}",
                        history=(type(e).__name__,))


def http_failure(resp: requests.Response, detail: str) -> Delivery:
    """A non-2xx answer: 429 and 5xx carry the receiver's Retry-After; the outbox decides on retries."""
    passing = resp.status_code == 429 or resp.status_code >= 500
    return Delivery(ok=False, attempts=1, status=resp.status_code, detail=detail, history=(str(resp.status_code),),
                    retry_after=retry_after(resp, RETRY_AFTER_CAP_S) if passing else None)


def log_delivery(logger: logging.Logger, what: str, post: ChatPost, d: Delivery) -> Delivery:
    logger.log(logging.INFO if d.ok else logging.WARNING, "%s for %s: %s (status %s)", what, post.incident_id,
               "delivered" if d.ok else "not delivered", d.status, extra={"incident_id": post.incident_id})
    return d


# ---- the adapters ----------------------------------------------------------------------------

class SlackWebhookChat:
    name = "slack"

    def __init__(self, *, webhook_url: str, session: requests.Session | None = None, timeout_s: float = 5.0):
        self._url = check_url(webhook_url)
        parts = urlsplit(webhook_url)
        self._secrets = (webhook_url, parts.path, parts.path.rstrip("/").rsplit("/", 1)[-1])
        hide_in_http_logs(*self._secrets)
        self._session = session
        self._timeout_s = timeout_s

    def post(self, *, post: ChatPost, thread: str = "") -> Sent:
        """POST the message to the hook's channel; `thread` is ignored (a hook cannot reply)."""
        self._session = self._session or requests.Session()
        body = {"text": message_text(post), "blocks": message_blocks(post)}
        resp = post_json(self._session, self._url, body, headers=_JSON, timeout_s=self._timeout_s)
        if isinstance(resp, Delivery):
            return Sent(log_delivery(log, "slack webhook post", post, resp))
        answer = scrub(f"{resp.status_code} {resp.text.strip()}".strip(), self._secrets)   # scrubbed, then cut
        if 200 <= resp.status_code < 300:
            d = Delivery(ok=True, attempts=1, status=resp.status_code, detail=answer, history=(str(resp.status_code),))
        else:
            d = http_failure(resp, answer)
        return Sent(log_delivery(log, "slack webhook post", post, d))

    def update(self, *, ref: str, post: ChatPost) -> Delivery:
        return NOT_SUPPORTED


class SlackWebApiChat:
    name = "slack"

    def __init__(self, *, token: str, channel: str, api_url: str = "https://slack.com/api",
                 session: requests.Session | None = None, timeout_s: float = 5.0):
        if not token or not channel:
            raise ValueError("a bot token and a channel are required")
        self._api = check_url(api_url).rstrip("/")
        self._token = token
        self._secrets = (token,)
        hide_in_http_logs(token)
        self._channel = channel
        self._session = session
        self._timeout_s = timeout_s

    def post(self, *, post: ChatPost, thread: str = "") -> Sent:
        """chat.postMessage; with `thread` (a ref), a reply in that message's thread. ref "<channel>/<ts>"."""
        body: dict[str, Any] = {"channel": self._channel, "text": message_text(post),
                                "blocks": message_blocks(post), "unfurl_links": False}
        if thread:
            parent = parse_ref(thread)
            if parent is None:
                return Sent(Delivery(ok=False, attempts=0, status=400, detail="thread is not a Slack message ref"))
            body["channel"], body["thread_ts"] = parent     # the reply goes where its parent is
        d, answer = self._call("chat.postMessage", body)
        ref = f"{answer['channel']}/{answer['ts']}" if d.ok and answer.get("channel") and answer.get("ts") else ""
        return Sent(log_delivery(log, "slack chat.postMessage", post, d), ref)

    def update(self, *, ref: str, post: ChatPost) -> Delivery:
        """chat.update of the message `ref` with the new text and blocks."""
        target = parse_ref(ref)
        if target is None:
            return Delivery(ok=False, attempts=0, status=400, detail="not a Slack message ref")
        body = {"channel": target[0], "ts": target[1], "text": message_text(post), "blocks": message_blocks(post)}
        return log_delivery(log, "slack chat.update", post, self._call("chat.update", body)[0])

    def _call(self, method: str, body: dict[str, Any]) -> tuple[Delivery, dict[str, Any]]:
        self._session = self._session or requests.Session()
        headers = {**_JSON, "Authorization": f"Bearer {self._token}"}
        resp = post_json(self._session, f"{self._api}/{method}", body, headers=headers, timeout_s=self._timeout_s)
        if isinstance(resp, Delivery):
            return resp, {}
        try:
            answer = resp.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            detail = scrub(f"{method}: {resp.status_code}, the answer is not a Slack JSON object", self._secrets)
            if resp.status_code != 200:
                return http_failure(resp, detail), {}
            return Delivery(ok=False, attempts=1, status=200, detail=detail, history=("200",)), {}
        meta = answer.get("response_metadata")
        warnings = meta.get("warnings") if isinstance(meta, dict) else None
        notes = "; ".join(str(m) for m in [*_listed(warnings), *_listed(answer.get("errors"))])
        if resp.status_code == 200 and answer.get("ok") is True:
            detail = scrub(f"{method}: ok" + (f" ({notes})" if notes else ""), self._secrets)
            return Delivery(ok=True, attempts=1, status=200, detail=detail, history=("200",)), answer
        error = str(answer.get("error") or f"HTTP {resp.status_code}")
        detail = scrub(f"{method}: {error}" + (f" ({notes})" if notes else ""), self._secrets)
        if resp.status_code != 200:
            return http_failure(resp, detail), answer
        status = error_status(error)
        return Delivery(ok=False, attempts=1, status=status, detail=detail, history=(f"200 {error}",),
                        retry_after=retry_after(resp, RETRY_AFTER_CAP_S) if status == 429 else None), answer
