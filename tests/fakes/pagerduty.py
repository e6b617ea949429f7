"""FakePagerDuty: a loopback stand-in for the PagerDuty Events API v2 (`POST /v2/enqueue`).

Validates events as the real API does (32-character routing key, required fields per action,
documented lengths and enums) and answers with the real shapes: 202 `{"status": "success", ...}`
or 400 `{"status": "invalid event", ...}`. It models alert de-duplication: a trigger on an open
(triggered or acknowledged) alert with the same routing key and dedup key is folded into it; an
acknowledge or resolve for no open alert is dropped. Faults are injected with `fail_next`, or with
`fault_pattern` (a cycle applied to every request after those, e.g. `[500, None]`: every other call
fails). `answers` logs what each request got: (event_action, dedup_key, status), faults included.

    with FakePagerDuty() as pd:
        pager = PagerDutyPager(events_url=pd.url)
        ...
        assert pd.count("trigger", "INC-1") == 1
"""
from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ROUTING_KEY_LEN = 32
DEDUP_KEY_MAX = 255
SUMMARY_MAX = 1024
BODY_MAX = 512 * 1024
ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")
OPEN = ("triggered", "acknowledged")

_FAULT_BODIES = {
    429: {"status": "throttle event", "message": "Requests for this service are arriving too quickly. "
                                                 "Please retry later."},
}


def validate(event: Any) -> list[str]:
    """The reasons PagerDuty would refuse this event; empty when it would accept it."""
    if not isinstance(event, dict):
        return ["Event object must be a JSON object"]
    errors: list[str] = []
    key = event.get("routing_key")
    if not isinstance(key, str) or not key.strip():
        errors.append("'routing_key' is missing or blank")
    elif len(key) != ROUTING_KEY_LEN:
        errors.append(f"Length of 'routing_key' is incorrect (should be {ROUTING_KEY_LEN} characters)")
    action = event.get("event_action")
    if action not in ACTIONS:
        errors.append("'event_action' is invalid (must be one of: trigger, acknowledge, resolve)")
    dedup = event.get("dedup_key")
    if dedup is not None and (not isinstance(dedup, str) or len(dedup) > DEDUP_KEY_MAX):
        errors.append(f"'dedup_key' must be a string of at most {DEDUP_KEY_MAX} characters")
    if action in ("acknowledge", "resolve") and not (isinstance(dedup, str) and dedup.strip()):
        errors.append("'dedup_key' is missing or blank")
    if action == "trigger":
        errors += _validate_trigger(event)
    return errors


def _validate_trigger(event: dict[str, Any]) -> list[str]:
    payload = event.get("payload")
    if not isinstance(payload, dict):
        return ["'payload' is missing or not an object"]
    errors = []
    for name in ("summary", "source"):
        value = payload.get(name)
        if not isinstance(value, str) or not value.strip():
            errors.append(f"'payload.{name}' is missing or blank")
    if isinstance(payload.get("summary"), str) and len(payload["summary"]) > SUMMARY_MAX:
        errors.append(f"'payload.summary' is longer than {SUMMARY_MAX} characters")
    if payload.get("severity") not in SEVERITIES:
        errors.append("'payload.severity' is invalid (must be one of: critical, error, warning, info)")
    if "custom_details" in payload and not isinstance(payload["custom_details"], (dict, str)):
        errors.append("'payload.custom_details' must be an object")
    for name, required in (("links", "href"), ("images", "src")):
        items = event.get(name, [])
        if not isinstance(items, list) or not all(isinstance(i, dict) and i.get(required) for i in items):
            errors.append(f"'{name}' must be a list of objects with '{required}'")
    return errors


class FakePagerDuty:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[dict[str, Any]] = []
        self._faults: list[tuple[int, float | None, Any]] = []
        self._pattern: list[int | None] = []
        self._pattern_retry_after: float | None = None
        self.answers: list[tuple[str | None, str | None, int]] = []   # (action, dedup_key, status) per request
        self.incidents: dict[tuple[str, str], str] = {}   # (routing_key, dedup_key) -> status
        self.deduplicated = 0       # triggers folded into an open alert
        self.dropped = 0            # acknowledge/resolve with no open alert
        self.requests = 0           # every POST received, faults and 400s included
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v2/enqueue"

    def start(self) -> "FakePagerDuty":
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),  # quick shutdown
                                        name="fake-pagerduty", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> "FakePagerDuty":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ---- fault injection and inspection ------------------------------------------------------

    def fail_next(self, n: int = 1, *, status: int = 500, retry_after: float | None = None,
                  body: Any = None) -> None:
        """Answer the next `n` requests with `status` (and a Retry-After header when given)."""
        with self._lock:
            self._faults += [(status, retry_after, body)] * n

    def fault_pattern(self, pattern: list[int | None], *, retry_after: float | None = None) -> None:
        """After the `fail_next` faults, answer requests by cycling through `pattern`: a status fails the
        request (before it is processed, with Retry-After when given); None answers it normally."""
        with self._lock:
            self._pattern, self._pattern_retry_after = list(pattern), retry_after

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every accepted event, in arrival order."""
        with self._lock:
            return list(self._events)

    def triggers(self, dedup_key: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.events
                if e["event_action"] == "trigger" and dedup_key in (None, e.get("dedup_key"))]

    def count(self, action: str, dedup_key: str | None = None) -> int:
        return sum(1 for e in self.events
                   if e["event_action"] == action and dedup_key in (None, e.get("dedup_key")))

    # ---- the API -----------------------------------------------------------------------------

    def _fault(self) -> tuple[int, float | None, Any] | None:
        with self._lock:
            self.requests += 1
            if self._faults:
                return self._faults.pop(0)
            if self._pattern:
                status = self._pattern[(self.requests - 1) % len(self._pattern)]
                return None if status is None else (status, self._pattern_retry_after, None)
            return None

    def _answered(self, raw: bytes, status: int) -> None:
        try:
            event = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            event = None
        event = event if isinstance(event, dict) else {}
        with self._lock:
            self.answers.append((event.get("event_action"), event.get("dedup_key"), status))

    def _accept(self, event: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            action = event["event_action"]
            dedup = event.get("dedup_key") or uuid.uuid4().hex
            self._events.append(event)
            key = (event["routing_key"], dedup)
            status = self.incidents.get(key)
            if action == "trigger":
                if status in OPEN:
                    self.deduplicated += 1
                else:
                    self.incidents[key] = "triggered"
            elif status in OPEN:
                self.incidents[key] = "acknowledged" if action == "acknowledge" else "resolved"
            else:
                self.dropped += 1
        return {"status": "success", "message": "Event processed", "dedup_key": dedup}


def _handler(fake: FakePagerDuty) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:   # keep test output quiet
            pass

        def do_POST(self) -> None:
            if self.path.split("?")[0] != "/v2/enqueue":
                return self._send(404, {"status": "not found", "message": "Not Found"})
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            fault = fake._fault()
            if fault:
                status, retry_after, body = fault
                fake._answered(raw, status)
                headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
                default = _FAULT_BODIES.get(status, {"status": "error", "message": "Internal Server Error"})
                return self._send(status, default if body is None else body, headers)
            if length > BODY_MAX:
                fake._answered(b"", 413)
                return self._send(413, {"status": "invalid event", "message": "Request entity too large"})
            try:
                event = json.loads(raw)
            except (UnicodeDecodeError, json.JSONDecodeError):
                event, errors = None, ["Event object is not valid JSON"]
            else:
                errors = validate(event)
            if errors:
                fake._answered(raw, 400)
                return self._send(400, {"status": "invalid event", "message": "Event object is invalid",
                                        "errors": errors})
            answer = fake._accept(event)
            fake._answered(raw, 202)
            self._send(202, answer)

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler
