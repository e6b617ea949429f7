"""A small client for the incident-response HTTP API: one method per route the CLI uses."""
from __future__ import annotations

from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import requests

DEFAULT_URL = "http://127.0.0.1:7071/api"
JSON = "application/json"


class ApiError(Exception):
    """The API answered with an error status.

    `message` is the body's `message` (or its text) and `error` its `error` code; both are "" when
    the body said nothing (the Functions host answers a bad key with an empty 401)."""

    def __init__(self, status: int, reason: str, message: str, *, error: str = "", method: str = "",
                 url: str = "", retry_after: str = "", challenge: str = ""):
        super().__init__(f"{status} {reason}: {message or '(no message)'}")
        self.status = status
        self.reason = reason
        self.message = message
        self.error = error
        self.method = method
        self.url = url
        self.retry_after = retry_after
        self.challenge = challenge    # WWW-Authenticate of a 401: "Bearer ..." when the API wants a token

    @property
    def wants_token(self) -> bool:
        return self.status == 401 and self.challenge.lower().startswith("bearer")


class Unreachable(Exception):
    """No answer from the API at all (refused, timed out, bad address)."""

    def __init__(self, url: str, why: str):
        super().__init__(f"cannot reach {url}: {why}")
        self.url = url
        self.why = why


class ApiClient:
    """`scope` (INCIDENT_API_SCOPE, e.g. api://<app id>/.default) is asked of `credential` (default: the
    Azure CLI's sign-in, azure.identity.AzureCliCredential, imported only then) the first time the API
    answers 401 with `WWW-Authenticate: Bearer`; the call is then repeated once with the token, which
    is kept for the next calls. The function key is sent as well: it stays the outer gate."""

    def __init__(self, *, base_url: str = DEFAULT_URL, key: str = "", timeout_s: float = 10.0,
                 session: requests.Session | None = None, scope: str = "", credential: Any = None):
        self.base_url = base_url.rstrip("/")
        self.has_key = bool(key)
        self._key = key
        self._timeout_s = timeout_s
        self._session = session or requests.Session()
        self.scope = scope
        self._credential = credential
        self._token = ""

    # ---- incidents ---------------------------------------------------------------------------

    def list_incidents(self, *, status: str | None = None, severity: str | None = None, since: str | None = None,
                       limit: int | None = None) -> Any:
        params = {"status": status, "severity": severity, "since": since, "limit": limit}
        return self._call("GET", "incidents", params=_present(params))

    def incident(self, incident_id: str) -> Any:
        return self._call("GET", f"incidents/{_seg(incident_id)}")

    def declare(self, *, title: str, actor: str, severity: str | None = None, impact: str | None = None,
                scope: str | None = None, tenants: list[str] | None = None, security: bool = False) -> Any:
        body = _present({"title": title, "severity": severity, "impact": impact, "scope": scope,
                         "tenants": tenants or None, "security": security or None, "actor": actor})
        return self._call("POST", "incidents", body=body)

    def acknowledge(self, incident_id: str, *, actor: str, message: str | None = None) -> Any:
        return self._call("POST", f"incidents/{_seg(incident_id)}/acknowledge", body=_with_message(actor, message))

    def resolve(self, incident_id: str, *, actor: str, message: str | None = None) -> Any:
        return self._call("POST", f"incidents/{_seg(incident_id)}/resolve", body=_with_message(actor, message))

    def set_severity(self, incident_id: str, *, severity: str, reason: str, actor: str) -> Any:
        return self._call("POST", f"incidents/{_seg(incident_id)}/severity",
                          body={"severity": severity, "reason": reason, "actor": actor})

    def set_status(self, incident_id: str, *, phase: str, actor: str, message: str | None = None,
                   external: bool = False) -> Any:
        """`external` records customer impact (sent only when true)."""
        body = {"phase": phase, **_with_message(actor, message), **({"external": True} if external else {})}
        return self._call("POST", f"incidents/{_seg(incident_id)}/status", body=body)

    def add_note(self, incident_id: str, *, text: str, actor: str) -> Any:
        return self._call("POST", f"incidents/{_seg(incident_id)}/notes", body={"text": text, "actor": actor})

    def decide(self, incident_id: str, remediation_id: str, *, decision: str, actor: str,
               reason: str | None = None) -> Any:
        """Approve or reject a remediation that waits for approval (one route, `decision` in the body)."""
        return self._call("POST", f"incidents/{_seg(incident_id)}/remediations/{_seg(remediation_id)}/approve",
                          body=_present({"decision": decision, "reason": reason, "actor": actor}))

    def communication(self, incident_id: str, template: str, *, message: str | None = None,
                      estimate: str | None = None, workaround: str | None = None) -> Any:
        """`{"template", "subject", "text"}`: one of the runbook's texts rendered for the incident."""
        return self._call("GET", f"incidents/{_seg(incident_id)}/communications/{_seg(template)}",
                          params=_present({"message": message, "estimate": estimate, "workaround": workaround}))

    # ---- after the fire ----------------------------------------------------------------------

    def postmortem(self, incident_id: str, *, structured: bool = False) -> Any:
        """The post-incident report draft: its Markdown as text, or with `structured` the JSON draft."""
        path = f"incidents/{_seg(incident_id)}/postmortem"
        if structured:
            return self._call("GET", path, params={"format": "json"})
        return self._call("GET", path, accept="text/markdown")

    def record_review(self, incident_id: str, *, actor: str, meeting: dict[str, Any] | None = None,
                      report_url: str | None = None, root_cause: str | None = None,
                      action_items: list[dict[str, Any]] | None = None, close: bool = False) -> Any:
        """The review record; the answer is the incident, its `pir` the review."""
        return self._call("POST", f"incidents/{_seg(incident_id)}/pir", body=_present({
            "meeting": meeting, "report_url": report_url, "root_cause": root_cause,
            "action_items": action_items or None, "status": "closed" if close else None, "actor": actor}))

    def record_breach(self, incident_id: str, *, actor: str, personal_data: bool | None = None,
                      aware_at: str | None = None, notified_at: str | None = None, authority: str | None = None,
                      reference: str | None = None) -> Any:
        """GDPR Article 33: the personal-data answer and/or the notification; the answer is the incident,
        its `breach` the clock."""
        return self._call("POST", f"incidents/{_seg(incident_id)}/breach", body=_present({
            "personal_data": personal_data, "aware_at": aware_at, "notified_at": notified_at,
            "authority": authority, "reference": reference, "actor": actor}))

    def metrics(self, *, since: str | None = None, until: str | None = None, prometheus: bool = False) -> Any:
        """Per severity over [since, until) as JSON, or the Prometheus text format as text."""
        params = _present({"since": since, "until": until, "format": "prometheus" if prometheus else None})
        return self._call("GET", "metrics", params=params, accept="text/plain" if prometheus else JSON)

    # ---- on-call -----------------------------------------------------------------------------

    def oncall(self) -> Any:
        return self._call("GET", "oncall")

    def overrides(self) -> Any:
        """`{"overrides": [...]}`. The API has no `GET oncall/overrides` yet: then the overrides that
        hold a role now are read from `GET oncall` (id, role, person; no start, end or reason), and
        the answer says so in `derived_from`."""
        try:
            answer = self._call("GET", "oncall/overrides")
            return {"overrides": answer} if isinstance(answer, list) else answer
        except ApiError as e:
            if e.status not in (404, 405):
                raise
        now = self.oncall()
        return {"overrides": [{"id": o.get("override_id"), "role": o.get("role"), "person": o.get("person")}
                              for o in now.get("oncall") or [] if o.get("source") == "override"],
                "at": now.get("at"), "derived_from": "GET oncall"}

    def add_override(self, *, role: str, person: str, start: str, end: str, actor: str,
                     reason: str | None = None) -> Any:
        return self._call("POST", "oncall/overrides", body=_present(
            {"role": role, "person": person, "start": start, "end": end, "reason": reason, "actor": actor}))

    def end_override(self, override_id: str) -> Any:
        return self._call("DELETE", f"oncall/overrides/{_seg(override_id)}")

    # ---- silences ----------------------------------------------------------------------------

    def silences(self) -> Any:
        return self._call("GET", "silences")

    def add_silence(self, *, match: dict[str, str], end: str, reason: str, actor: str,
                    start: str | None = None) -> Any:
        return self._call("POST", "silences", body=_present(
            {"match": match, "start": start, "end": end, "reason": reason, "actor": actor}))

    def end_silence(self, silence_id: str, *, actor: str) -> Any:
        return self._call("DELETE", f"silences/{_seg(silence_id)}", body={"actor": actor})

    # ---- transport ---------------------------------------------------------------------------

    def _call(self, method: str, path: str, *, params: dict[str, Any] | None = None,
              body: dict[str, Any] | None = None, accept: str = JSON) -> Any:
        """The answer's JSON; with a non-JSON `accept`, a success's body as text (errors are JSON still)."""
        try:
            return self._once(method, path, params=params, body=body, accept=accept)
        except ApiError as e:
            if not e.wants_token or self._token:
                raise
            self._token = self._get_token(e)
            return self._once(method, path, params=params, body=body, accept=accept)

    def _get_token(self, refused: ApiError) -> str:
        """An Entra ID access token for `scope`. Raises ApiError (a 401 saying what to do) when there
        is no scope or the credential cannot get a token; never shows the token."""
        if not self.scope:
            raise ApiError(401, "Unauthorized", f"{refused.message or 'the API wants an Entra ID token'} "
                           "(INCIDENT_API_SCOPE is not set)", error=refused.error, challenge=refused.challenge)
        from azure.core.exceptions import ClientAuthenticationError
        try:
            if self._credential is None:
                from azure.identity import AzureCliCredential   # only when the API asks for a token
                self._credential = AzureCliCredential()
            return self._credential.get_token(self.scope).token
        except ClientAuthenticationError as e:   # CredentialUnavailableError too: not signed in, no az
            first = (str(e).strip().splitlines() or [""])[0][:200]
            raise ApiError(401, "Unauthorized", f"could not get an Entra ID token for {self.scope} "
                           f"({type(e).__name__}: {first})", error="token_unavailable",
                           challenge=refused.challenge) from None

    def _once(self, method: str, path: str, *, params: dict[str, Any] | None = None,
              body: dict[str, Any] | None = None, accept: str = JSON) -> Any:
        headers = {"Accept": accept if accept == JSON else f"{accept}, {JSON};q=0.5"}
        if self._key:
            headers["x-functions-key"] = self._key
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        url = f"{self.base_url}/{path}"
        try:
            resp = self._session.request(method, url, params=params, json=body, headers=headers,
                                         timeout=self._timeout_s)
        except requests.Timeout:
            raise Unreachable(self.base_url, f"no answer within {self._timeout_s:g}s") from None
        except requests.ConnectionError:
            raise Unreachable(self.base_url, "connection refused or host unreachable") from None
        except requests.RequestException as e:     # e.g. a malformed INCIDENT_API_URL
            raise Unreachable(self.base_url, type(e).__name__) from None
        if accept != JSON and resp.status_code < 400:
            return _text(resp)
        data = _json(resp)
        if resp.status_code >= 400:
            found = data.get("error") if isinstance(data, dict) else None
            error = found if isinstance(found, str) else ""
            raise ApiError(resp.status_code, _reason(resp), _message(resp, data), error=error, method=method,
                           url=url, retry_after=resp.headers.get("Retry-After", ""),
                           challenge=resp.headers.get("WWW-Authenticate", ""))
        return data


def _seg(value: str) -> str:
    return quote(value, safe="")


def _present(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _with_message(actor: str, message: str | None) -> dict[str, Any]:
    return {"actor": actor, **({"message": message} if message else {})}


def _json(resp: requests.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return None


def _text(resp: requests.Response) -> str:
    """The body as text: in the charset the answer names, else UTF-8 (not requests' ISO-8859-1 for text/*)."""
    if "charset=" in resp.headers.get("Content-Type", "").lower():
        return resp.text
    return resp.content.decode("utf-8", errors="replace")


def _reason(resp: requests.Response) -> str:
    try:
        return HTTPStatus(resp.status_code).phrase
    except ValueError:
        return resp.reason or "Error"


def _message(resp: requests.Response, data: Any) -> str:
    """The body's `message` (or a nested `error.message`); else a text body; "" when there is none."""
    if isinstance(data, dict):
        value = data.get("message")
        if not value and isinstance(data.get("error"), dict):
            value = data["error"].get("message")
        return value.strip() if isinstance(value, str) else ""
    return (resp.text or "").strip()[:300]
