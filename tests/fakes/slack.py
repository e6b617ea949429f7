"""FakeSlack: a loopback stand-in for a Slack incoming webhook and the Web API's chat.postMessage and chat.update.

    POST /services/T000/B000/<secret>   the incoming webhook (`webhook_url`), posting to `webhook_channel`
    POST /api/chat.postMessage          (`api_url` + "/chat.postMessage"): JSON with a bearer token
    POST /api/chat.update

The webhook answers 200 "ok" or a status with the error as text/html (https://api.slack.com/messaging/webhooks,
https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks); the Web API HTTP 200 with
{"ok": true, ...} or {"ok": false, "error"} (https://api.slack.com/web#evaluating_responses), and HTTP 429 with
Retry-After when rate limited (https://api.slack.com/docs/rate-limits). Only JSON posts are modelled (Slack
also takes form posts: the fake refuses them, invalid_post_type). Faults: ChatFake, below.
"""
from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, replace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.loopback import LoopbackFake

TOKEN = "xoxb-0000-fake-BOT-token"
HOOK_SECRET = "XXXXXXXXXXXXXXXXXXXXXXXX"         # the shape of Slack's own example hook URL
TEXT_MAX, BLOCKS_MAX, SECTION_TEXT_MAX, FIELDS_MAX, FIELD_TEXT_MAX = 40_000, 50, 3_000, 10, 2_000
BLOCK_TYPES = {"section", "header", "context", "divider", "actions", "image", "input", "rich_text", "file", "video"}


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: Any = None
    thread_ts: str | None = None
    via: str = "api"                  # "api" | "webhook"


def _text_errors(obj: Any, limit: int, where: str) -> list[str]:
    # Slack's wording: "must be less than 3001 characters [json-pointer:/blocks/0/text/text]" (java-slack-sdk#1017)
    if not isinstance(obj, dict) or obj.get("type") not in ("mrkdwn", "plain_text") or \
            not isinstance(obj.get("text"), str):
        return [f"must be a text object [json-pointer:{where}]"]
    n = len(obj["text"])
    return [f"must be more than 0 characters [json-pointer:{where}/text]"] if n == 0 else \
        [f"must be less than {limit + 1} characters [json-pointer:{where}/text]"] if n > limit else []


def block_errors(blocks: Any) -> list[str]:
    """Why Slack would answer invalid_blocks: at most 50 blocks; a section's text at most 3000 characters, at most
    10 fields of at most 2000 (https://api.slack.com/reference/block-kit/blocks#section); other types by name."""
    if not isinstance(blocks, list):
        return ["must be an array [json-pointer:/blocks]"]
    errors = ["no more than 50 items allowed [json-pointer:/blocks]"] if len(blocks) > BLOCKS_MAX else []
    for i, block in enumerate(blocks):
        where = f"/blocks/{i}"
        if not isinstance(block, dict) or block.get("type") not in BLOCK_TYPES:
            errors.append(f"unknown or missing block type [json-pointer:{where}]")
        elif block["type"] == "section":
            if "text" not in block and "fields" not in block:
                errors.append(f"must define either `text` or `fields` [json-pointer:{where}]")
            if "text" in block:
                errors += _text_errors(block["text"], SECTION_TEXT_MAX, f"{where}/text")
            fields = block.get("fields", [])
            if not isinstance(fields, list) or len(fields) > FIELDS_MAX:
                errors.append(f"no more than {FIELDS_MAX} items allowed [json-pointer:{where}/fields]")
                fields = []
            errors += [e for j, f in enumerate(fields) for e in _text_errors(f, FIELD_TEXT_MAX, f"{where}/fields/{j}")]
    return errors


class ChatFake(LoopbackFake):
    """What the chat fakes share: the faults of tests/fakes/pagerduty.py (`fail_next`, `fault_pattern`: the
    request fails unprocessed) and `lose_next` (the request is processed, then its connection dropped without
    an answer: a lost answer). A subclass answers with `answer(path, query, headers, raw) -> (status, body)` (a str
    body goes as text/html, None as nothing, anything else as JSON), `fault_body` and `answered`."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.requests = 0
        self._faults: list[tuple[int, float | None, Any]] = []
        self._pattern: list[int | None] = []
        self._pattern_retry_after: float | None = None
        self._lose = 0

    def fail_next(self, n: int = 1, *, status: int = 500, retry_after: float | None = None, body: Any = None) -> None:
        """Answer the next `n` requests with `status` (and a Retry-After header when given), unprocessed."""
        with self.lock:
            self._faults += [(status, retry_after, body)] * n

    def fault_pattern(self, pattern: list[int | None], *, retry_after: float | None = None) -> None:
        """After the `fail_next` faults, answer requests by cycling through `pattern`: a status fails the
        request (unprocessed, with Retry-After when given); None answers it normally."""
        with self.lock:
            self._pattern, self._pattern_retry_after = list(pattern), retry_after

    def lose_next(self, n: int = 1) -> None:
        """Process the next `n` requests that are not failed, then drop the connection without answering."""
        with self.lock:
            self._lose += n

    def _next_fault(self) -> tuple[int, float | None, Any] | None:
        self.requests += 1
        if self._faults:
            return self._faults.pop(0)
        status = self._pattern[(self.requests - 1) % len(self._pattern)] if self._pattern else None
        return None if status is None else (status, self._pattern_retry_after, None)

    def answer(self, path: str, query: str, headers: Any, raw: bytes) -> tuple[int, Any]: raise NotImplementedError
    def fault_body(self, path: str, status: int) -> Any: raise NotImplementedError
    def answered(self, path: str, status: int, body: Any, lost: bool) -> None: raise NotImplementedError


class _Handler(BaseHTTPRequestHandler):
    fake: ChatFake
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        fake, (path, query) = self.fake, self.path.partition("?")[::2]
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with fake.lock:
            fault, retry_after = fake._next_fault(), None
            if fault is not None:
                status, retry_after, body = fault
                body = fake.fault_body(path, status) if body is None else body
            else:
                status, body = fake.answer(path, query, self.headers, raw)
            lost = fault is None and fake._lose > 0
            fake._lose -= lost
            fake.answered(path, status, body, lost)
        if lost:
            self.close_connection = True
            self.connection.close()
            return
        data = b"" if body is None else (body if isinstance(body, str) else json.dumps(body)).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type",
                             "text/html" if isinstance(body, str) else "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        if retry_after is not None:
            self.send_header("Retry-After", f"{retry_after:g}")
        self.end_headers()
        self.wfile.write(data)


ChatFake.handler = _Handler


class FakeSlack(ChatFake):
    def __init__(self, *, token: str = TOKEN, hook_secret: str = HOOK_SECRET,
                 channels: dict[str, str] | None = None, webhook_channel: str = "C0INCIDENTS"):
        super().__init__()
        self.token = token
        self.hook_path = f"/services/T000/B000/{hook_secret}"
        self.channels = dict(channels or {"C0INCIDENTS": "incidents", "C0GENERAL": "general"})   # id -> name
        self.members = set(self.channels)          # where the bot may post (else not_in_channel)
        self.archived: set[str] = set()
        self.webhook_channel = webhook_channel
        self.messages: list[Message] = []
        self.updates: list[Message] = []             # each edited message, as the edit left it
        self.answers: list[tuple[str, int, str, bool]] = []   # (endpoint, status, error, lost) per request
        self._ts = itertools.count(1)

    @property
    def webhook_url(self) -> str:
        return self.url + self.hook_path

    @property
    def api_url(self) -> str:
        return self.url + "/api"

    # ---- inspection ------------------------------------------------------------------------------
    def in_channel(self, channel: str) -> list[Message]:
        """What the channel shows: its top-level messages."""
        return [m for m in self.messages if m.channel == channel and m.thread_ts is None]

    def replies(self, channel: str, ts: str) -> list[Message]:
        """The thread of message `ts`; a reply to no message is in no thread."""
        return [m for m in self.messages if m.channel == channel and m.thread_ts == ts] \
            if self.message(channel, ts) else []

    def message(self, channel: str, ts: str) -> Message | None:
        return next((m for m in self.messages if m.channel == channel and m.ts == ts), None)

    # ---- the API -----------------------------------------------------------------------------
    def _channel_id(self, value: Any) -> str | None:
        # `channel` may be an id or a name ("#incidents" or "incidents") (chat.postMessage, arg channel)
        if not isinstance(value, str) or value in self.channels:
            return value if isinstance(value, str) else None
        return next((cid for cid, name in self.channels.items() if name == value.lstrip("#")), None)

    def _record(self, channel: str, text: str, blocks: Any, thread_ts: str | None, via: str) -> Message:
        n = next(self._ts)
        msg = Message(channel, f"{1767225600 + n}.{n:06d}", text[:TEXT_MAX], blocks, thread_ts, via)
        self.messages.append(msg)
        return msg

    def answer(self, path: str, query: str, headers: Any, raw: bytes) -> tuple[int, Any]:
        if path.startswith("/services/"):
            return self.webhook(path, headers.get("Content-Type") or "", raw)
        if path not in ("/api/chat.postMessage", "/api/chat.update"):
            return 404, {"ok": False, "error": "unknown_method"}
        return self.api(path.removeprefix("/api/"), headers, raw)

    def fault_body(self, path: str, status: int) -> Any:
        if path.startswith("/services/"):    # 500: "rollup_error" (the changelog above); 429's text assumed
            return {429: "rate_limited", 500: "rollup_error"}.get(status, HTTPStatus(status).phrase)
        return {"ok": False, "error": "ratelimited" if status == 429 else "internal_error"}

    def answered(self, path: str, status: int, body: Any, lost: bool) -> None:
        error = body if isinstance(body, str) and status != 200 else \
            str(body.get("error") or "") if isinstance(body, dict) else ""
        self.answers.append(("webhook" if path.startswith("/services/") else path.removeprefix("/api/"), status,
                             error, lost))

    def webhook(self, path: str, ctype: str, raw: bytes) -> tuple[int, str]:
        if path != self.hook_path:
            return 404, "no_service"     # a removed or unknown hook (slackapi/slack-github-action#249)
        try:
            payload = json.loads(raw) if ctype.split(";")[0].strip().lower() == "application/json" else None
        except (ValueError, UnicodeDecodeError):
            payload = None
        if not isinstance(payload, dict):
            return 400, "invalid_payload"
        if self.webhook_channel not in self.channels:
            return 404, "channel_not_found"
        if self.webhook_channel in self.archived:
            return 410, "channel_is_archived"
        if not payload.get("text") and not payload.get("blocks") and not payload.get("attachments"):
            # what Slack answers a payload with nothing to show (slackapi/slack-github-action#117)
            return 400, "missing_text_or_fallback_or_attachments"
        if "blocks" in payload and block_errors(payload["blocks"]):
            return 400, "invalid_blocks"  # (slackapi/java-slack-sdk#1017: a webhook's 400 invalid_blocks)
        self._record(self.webhook_channel, str(payload.get("text") or ""), payload.get("blocks"), None, "webhook")
        return 200, "ok"

    def api(self, method: str, headers: Any, raw: bytes) -> tuple[int, dict[str, Any]]:
        mime, _, params = (headers.get("Content-Type") or "").partition(";")
        if mime.strip().lower() != "application/json":
            return 200, {"ok": False, "error": "invalid_post_type" if mime else "missing_post_type"}
        # a JSON body cannot carry the token: it comes as a bearer token (https://api.slack.com/web#posting_json)
        auth = headers.get("Authorization") or ""
        if auth != f"Bearer {self.token}":
            return 200, {"ok": False, "error": "invalid_auth" if auth else "not_authed"}
        try:
            args = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            args = None
        if not isinstance(args, dict):
            return 200, {"ok": False, "error": "invalid_json" if args is None else "json_not_object"}
        # JSON without a charset is taken, with a warning (https://api.slack.com/web#posting_json)
        warnings = [] if "charset" in params.lower() else ["missing_charset"]
        status, answer = self._post(args, warnings) if method == "chat.postMessage" else self._update(args)
        if warnings and answer.get("ok"):
            answer["response_metadata"] = {"warnings": warnings}
        return status, answer

    def _content(self, args: dict[str, Any], warnings: list[str]) -> dict[str, Any] | None:
        """The error answer for the message content, or None when it is fine."""
        text, blocks = args.get("text"), args.get("blocks")
        if not text and not blocks:
            return {"ok": False, "error": "no_text"}
        errors = block_errors(blocks) if blocks is not None else []
        if errors:
            return {"ok": False, "error": "invalid_blocks", "errors": errors,
                    "response_metadata": {"messages": [f"[ERROR] {e}" for e in errors]}}
        if isinstance(text, str) and len(text) > TEXT_MAX:
            # truncated, posted, with a warning (api.slack.com/changelog/2018-04-truncating-really-long-messages)
            warnings.append("message_truncated")
        return None

    def _post(self, args: dict[str, Any], warnings: list[str]) -> tuple[int, dict[str, Any]]:
        channel = self._channel_id(args.get("channel"))
        error = "channel_not_found" if channel is None else "is_archived" if channel in self.archived else \
            "not_in_channel" if channel not in self.members else ""
        if error or channel is None:
            return 200, {"ok": False, "error": error or "channel_not_found"}
        if refused := self._content(args, warnings):
            return 200, refused
        # A thread_ts naming no message (a number is taken as its string, which rarely names one) is accepted
        # and the reply shown nowhere (slackapi/node-slack-sdk#780, slackapi/python-slack-sdk#840).
        thread_ts = None if args.get("thread_ts") in (None, "") else str(args["thread_ts"])
        msg = self._record(channel, str(args.get("text") or ""), args.get("blocks"), thread_ts, "api")
        shown = {"type": "message", "subtype": "bot_message", "bot_id": "B0FAKE", "text": msg.text, "ts": msg.ts,
                 **({"thread_ts": thread_ts} if thread_ts else {}), **({"blocks": msg.blocks} if msg.blocks else {})}
        return 200, {"ok": True, "channel": channel, "ts": msg.ts, "message": shown}

    def _update(self, args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        channel = self._channel_id(args.get("channel"))
        msg = self.message(channel, str(args.get("ts"))) if channel else None
        error = "channel_not_found" if channel is None else "message_not_found" if msg is None else \
            "is_inactive" if channel in self.archived else ""
        if error or msg is None:
            return 200, {"ok": False, "error": error or "message_not_found"}
        if refused := self._content(args, []):
            return 200, refused
        msg.text, msg.blocks = str(args.get("text") or "")[:TEXT_MAX], args.get("blocks", msg.blocks)
        self.updates.append(replace(msg))
        return 200, {"ok": True, "channel": channel, "ts": msg.ts, "text": msg.text,
                     "message": {"type": "message", "text": msg.text, "ts": msg.ts}}
