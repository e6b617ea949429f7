"""A small client for the incident-response HTTP API: one method per route the CLI uses."""
from __future__ import annotations

from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import requests

DEFAULT_URL = "http://127.0.0.1:7071/api"


class ApiError(Exception):
    """The API answered with an error status; `message` is its own `message`/`error` field."""

    def __init__(self, status: int, reason: str, message: str):
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


class Unreachable(Exception):
    """No answer from the API at all (refused, timed out, bad address)."""

    def __init__(self, url: str, why: str):
        super().__init__(f"cannot reach {url}: {why}")
        self.url = url
        self.why = why


class ApiClient:
    def __init__(self, *, base_url: str = DEFAULT_URL, key: str = "", timeout_s: float = 10.0,
                 session: requests.Session | None = None):
        self.base_url = base_url.rstrip("/")
        self._key = key
        self._timeout_s = timeout_s
        self._session = session or requests.Session()

    # ---- routes ------------------------------------------------------------------------------

    def list_incidents(self, *, status: str | None = None, severity: str | None = None, since: str | None = None,
                       limit: int | None = None) -> Any:
        params = {"status": status, "severity": severity, "since": since, "limit": limit}
        return self._call("GET", "incidents", params={k: v for k, v in params.items() if v is not None})

    def incident(self, incident_id: str) -> Any:
        return self._call("GET", f"incidents/{_seg(incident_id)}")

    def acknowledge(self, incident_id: str, *, actor: str, message: str | None = None) -> Any:
        return self._call("POST", f"incidents/{_seg(incident_id)}/acknowledge", body=_with_message(actor, message))

    def resolve(self, incident_id: str, *, actor: str, message: str | None = None) -> Any:
        return self._call("POST", f"incidents/{_seg(incident_id)}/resolve", body=_with_message(actor, message))

    def set_severity(self, incident_id: str, *, severity: str, reason: str, actor: str) -> Any:
        return self._call("POST", f"incidents/{_seg(incident_id)}/severity",
                          body={"severity": severity, "reason": reason, "actor": actor})

    def add_note(self, incident_id: str, *, text: str, actor: str) -> Any:
        return self._call("POST", f"incidents/{_seg(incident_id)}/notes", body={"text": text, "actor": actor})

    def oncall(self) -> Any:
        return self._call("GET", "oncall")

    # ---- transport ---------------------------------------------------------------------------

    def _call(self, method: str, path: str, *, params: dict[str, Any] | None = None,
              body: dict[str, Any] | None = None) -> Any:
        headers = {"Accept": "application/json"}
        if self._key:
            headers["x-functions-key"] = self._key
        try:
            resp = self._session.request(method, f"{self.base_url}/{path}", params=params, json=body,
                                         headers=headers, timeout=self._timeout_s)
        except requests.Timeout:
            raise Unreachable(self.base_url, f"no answer within {self._timeout_s:g}s") from None
        except requests.ConnectionError:
            raise Unreachable(self.base_url, "connection refused or host unreachable") from None
        except requests.RequestException as e:     # e.g. a malformed INCIDENT_API_URL
            raise Unreachable(self.base_url, type(e).__name__) from None
        data = _json(resp)
        if resp.status_code >= 400:
            raise ApiError(resp.status_code, _reason(resp), _message(resp, data))
        return data


def _seg(value: str) -> str:
    return quote(value, safe="")


def _with_message(actor: str, message: str | None) -> dict[str, Any]:
    return {"actor": actor, **({"message": message} if message else {})}


def _json(resp: requests.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return None


def _reason(resp: requests.Response) -> str:
    try:
        return HTTPStatus(resp.status_code).phrase
    except ValueError:
        return resp.reason or "Error"


def _message(resp: requests.Response, data: Any) -> str:
    if isinstance(data, dict):
        for name in ("message", "error"):
            value = data.get(name)
            if isinstance(value, dict):
                value = value.get("message")
            if isinstance(value, str) and value:
                return value
    text = (resp.text or "").strip()
    return text[:300] if text else "(no message)"
