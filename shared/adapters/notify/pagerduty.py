"""PagerDutyPager: the Pager port on the PagerDuty Events API v2 (`POST /v2/enqueue`).

PagerDuty answers 202 when it accepted an event, 400 when the event is invalid (not worth a
retry), 429 when the integration key is over its rate limit and 5xx on its own trouble; the
last two, and network errors, are retried here a bounded number of times. Whatever happens,
`send` returns a Delivery for the timeline and never raises for an HTTP failure, so the outbox
can try again later. The routing key is a secret: it goes in the request body and nowhere else.
"""
from __future__ import annotations

import json
import logging
import time
from typing import Any, Callable

import requests

from shared.adapters.notify.wire import retry_after as read_retry_after
from shared.ports import Delivery, PagerEvent

log = logging.getLogger(__name__)

CLIENT = "incident-response"
SUMMARY_MAX = 1024            # Events API v2: payload.summary
DEDUP_KEY_MAX = 255           # Events API v2: dedup_key
RETRY_AFTER_CAP_S = 30.0      # a Retry-After beyond this is not worth holding a worker for
_DETAIL_MAX = 500
# PD-CEF fields sent when the event carries them (attribute on PagerEvent -> payload field)
_OPTIONAL_FIELDS = (("component", "component"), ("event_class", "class"))
_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


class PagerDutyPager:
    def __init__(self, *, events_url: str, session: requests.Session | None = None, max_attempts: int = 4,
                 backoff_s: float = 0.5, sleep: Callable[[float], None] = time.sleep, timeout_s: float = 5.0,
                 client_url: str = ""):
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._url = events_url
        self._session = session
        self._max_attempts = max_attempts
        self._backoff_s = backoff_s
        self._sleep = sleep
        self._timeout_s = timeout_s
        self._client_url = client_url

    def send(self, *, event: PagerEvent) -> Delivery:
        """POST one event, retrying 429, 5xx and network errors with exponential backoff."""
        if not event.dedup_key or len(event.dedup_key) > DEDUP_KEY_MAX:
            # Sending it would only earn a 400; truncating would break trigger/resolve correlation.
            return Delivery(ok=False, attempts=0, status=None,
                            detail=f"dedup_key must be 1..{DEDUP_KEY_MAX} characters")
        # default=str: an odd value in custom_details must not turn a page into an exception
        data = json.dumps(event_body(event, client_url=self._client_url), default=str).encode()
        status: int | None = None
        detail = ""
        history: list[str] = []
        for attempt in range(1, self._max_attempts + 1):
            retry_after: float | None = None
            try:
                resp = self._http().post(self._url, data=data, headers=_HEADERS, timeout=self._timeout_s)
            except (requests.ConnectionError, requests.Timeout) as e:
                status, detail = None, f"network error: {type(e).__name__}"
                history.append(type(e).__name__)
            except requests.RequestException as e:   # a bad URL and the like: retrying cannot help
                return self._done(event, history, ok=False, attempts=attempt, status=None,
                                  detail=f"request failed: {type(e).__name__}")
            else:
                status = resp.status_code
                history.append(str(status))
                if 200 <= status < 300:
                    return self._done(event, history, ok=True, attempts=attempt, status=status,
                                      detail=_scrub(_answer(resp), event.routing_key))
                detail = _scrub(_answer(resp), event.routing_key)
                if status != 429 and status < 500:
                    return self._done(event, history, ok=False, attempts=attempt, status=status, detail=detail)
                retry_after = read_retry_after(resp)
            log.warning("pagerduty %s %s: attempt %d/%d failed (%s)", event.action, event.dedup_key, attempt,
                        self._max_attempts, status if status is not None else detail,
                        extra={"dedup_key": event.dedup_key})
            if attempt < self._max_attempts:
                self._sleep(self._delay(attempt, retry_after))
        return self._done(event, history, ok=False, attempts=self._max_attempts, status=status,
                          detail=f"gave up after {self._max_attempts} attempt(s): {detail}", retry_after=retry_after)

    def _http(self) -> requests.Session:
        if self._session is None:
            self._session = requests.Session()
        return self._session

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, RETRY_AFTER_CAP_S)
        return self._backoff_s * 2 ** (attempt - 1)

    @staticmethod
    def _done(event: PagerEvent, history: list[str], *, ok: bool, attempts: int, status: int | None,
              detail: str, retry_after: float | None = None) -> Delivery:
        level = logging.INFO if ok else logging.WARNING
        log.log(level, "pagerduty %s %s: %s after %d attempt(s), status %s", event.action, event.dedup_key,
                "delivered" if ok else "not delivered", attempts, status, extra={"dedup_key": event.dedup_key})
        return Delivery(ok=ok, attempts=attempts, status=status, detail=detail[:_DETAIL_MAX],
                        history=tuple(history), retry_after=retry_after)


def event_body(event: PagerEvent, *, client_url: str = "") -> dict[str, Any]:
    """The Events API v2 JSON for one event. Acknowledge and resolve carry only the keys."""
    body: dict[str, Any] = {"routing_key": event.routing_key, "event_action": event.action,
                            "dedup_key": event.dedup_key}
    if event.action != "trigger":
        return body
    # summary and source are required by PagerDuty: never send them blank.
    payload: dict[str, Any] = {
        "summary": (event.summary or event.dedup_key)[:SUMMARY_MAX],
        "source": event.source or CLIENT,
        "severity": event.severity,
        "custom_details": dict(event.custom_details),
    }
    for attr, name in _OPTIONAL_FIELDS:
        value = getattr(event, attr, None)
        if value:
            payload[name] = value
    body["payload"] = payload
    body["links"] = [dict(link) for link in event.links]
    body["client"] = CLIENT
    if client_url:
        body["client_url"] = client_url
    return body


def _answer(resp: requests.Response) -> str:
    """PagerDuty's own words: `message` and `errors` of its JSON answer, else the status line."""
    try:
        data = resp.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return f"{resp.status_code} {resp.reason or ''}".strip()
    parts = [str(data.get("message") or data.get("status") or resp.status_code)]
    errors = data.get("errors")
    if isinstance(errors, list) and errors:
        parts.append("; ".join(str(e) for e in errors))
    return ": ".join(parts)


def _scrub(text: str, secret: str) -> str:
    return text.replace(secret, "[routing key]") if secret else text
