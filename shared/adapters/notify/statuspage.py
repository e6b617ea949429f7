"""StatuspageStatusPage: the StatusPage port on the Statuspage REST API v1 (developer.statuspage.io).

    POST  {api}/pages/{page_id}/incidents                  open an incident: 201 and the Incident
    PATCH {api}/pages/{page_id}/incidents/{incident_id}    a new status/body is a new incident update: 200
    GET   {api}/pages/{page_id}/incidents/unresolved       a bare JSON array, paged by ?page=&per_page=

Every request carries `Authorization: OAuth <api key>` ("OAuth", not "Oauth"). The key is a secret:
it goes in that header and nowhere else (never the `api_key` query parameter the API also accepts,
which would put it in URLs and access logs), and every detail is scrubbed of it.

Each call makes ONE attempt (find: one request per page) and never sleeps or raises for an HTTP or
network failure: the Delivery says what happened and the outbox owns the retry schedule. Over the
rate limit (1 request/s per token) the API answers 420 or 429 (its reference names both) with a
Retry-After in seconds, which comes back in the Delivery (as does a 5xx's). A lost create is found
again by `find`: each incident we open carries `metadata.incident_response.incident_id` (metadata's
top-level values must be objects).
"""
from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

import requests

from shared.adapters.notify.wire import retry_after as read_retry_after
from shared.ports import Delivery, PublicUpdate, Sent

log = logging.getLogger(__name__)

NAME_MAX = 255                # incident name: "a maximum limit of 255 characters"
BODY_MAX = 25000              # incident body: "a maximum limit of 25000 characters"
PER_PAGE = 100                # unresolved listing: per_page defaults to 100
MAX_PAGES = 10                # bound on one find: 1,000 unresolved incidents is more than any page has
RATE_LIMITED = (420, 429)     # "Error codes 420 or 429 indicate that you have exceeded the rate limit"
METADATA_KEY = "incident_response"
_DETAIL_MAX = 500


class StatuspageStatusPage:
    def __init__(self, *, api_url: str, page_id: str, api_key: str, session: requests.Session | None = None,
                 timeout_s: float = 5.0):
        self._base = f"{api_url.rstrip('/')}/pages/{quote(page_id, safe='')}/incidents"
        self._key = api_key
        self._session = session
        self._timeout_s = timeout_s

    def __repr__(self) -> str:   # never the key
        return f"StatuspageStatusPage({self._base!r})"

    # ---- the port ----------------------------------------------------------------------------

    def find(self, *, incident_id: str) -> Sent:
        """The unresolved incident whose metadata names `incident_id`; every page of the listing is read
        (up to MAX_PAGES). ref "" and ok when there is none; the first failing page's Delivery otherwise."""
        if not incident_id:
            return self._done("find", incident_id, Delivery(ok=False, attempts=0, status=None,
                                                            detail="incident_id is required"))
        history: list[str] = []
        matches: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            resp = self._call("GET", f"{self._base}/unresolved", history,
                              params={"page": str(page), "per_page": str(PER_PAGE)})
            if isinstance(resp, Delivery):
                return self._done("find", incident_id, resp)
            items = _json(resp)
            if not isinstance(items, list):
                return self._done("find", incident_id, self._delivery(
                    history, ok=False, status=resp.status_code, detail="unresolved listing is not a JSON array"))
            matches += [i for i in items if isinstance(i, dict) and _ours(i) == incident_id]
            if len(items) < PER_PAGE:
                break
        else:
            log.warning("statuspage find %s: stopped after %d pages of unresolved incidents", incident_id,
                        MAX_PAGES, extra={"incident_id": incident_id})
        if not matches:
            return self._done("find", incident_id, self._delivery(
                history, ok=True, status=200, detail="no unresolved incident for it"))
        # two matches: a create was repeated after a lost answer; the oldest is the one to keep updating
        first = min(matches, key=lambda i: str(i.get("created_at") or ""))
        ref = str(first.get("id") or "")
        note = f" (oldest of {len(matches)})" if len(matches) > 1 else ""
        return self._done("find", incident_id, self._delivery(
            history, ok=bool(ref), status=200, detail=f"found {ref}{note}" if ref else "match has no id"), ref)

    def create(self, *, update: PublicUpdate) -> Sent:
        """POST the incident with its first update, components and our metadata. ref: the new incident's id.
        A 201 whose answer holds no id is not ok (status 201): `find` recovers the incident."""
        history: list[str] = []
        resp = self._call("POST", self._base, history, body={"incident": create_body(update)})
        if isinstance(resp, Delivery):
            return self._done("create", update.incident_id, resp)
        answer = _json(resp)
        ref = str(answer.get("id") or "") if isinstance(answer, dict) else ""
        if not ref:
            return self._done("create", update.incident_id, self._delivery(
                history, ok=False, status=resp.status_code, detail="created, but the answer names no incident id"))
        return self._done("create", update.incident_id, self._delivery(
            history, ok=True, status=resp.status_code, detail=f"created {ref} ({update.status})"), ref)

    def update(self, *, ref: str, update: PublicUpdate) -> Delivery:
        """PATCH incident `ref`: status and body become a new incident update; name, impact and
        components are brought up to date. 404 when the page has no incident `ref`."""
        if not ref:
            return self._done("update", update.incident_id, Delivery(ok=False, attempts=0, status=None,
                                                                     detail="ref is required")).delivery
        history: list[str] = []
        url = f"{self._base}/{quote(ref, safe='')}"
        resp = self._call("PATCH", url, history, body={"incident": update_body(update)})
        if isinstance(resp, Delivery):
            return self._done("update", update.incident_id, resp).delivery
        answer = _json(resp)
        now = answer.get("status") if isinstance(answer, dict) else None
        return self._done("update", update.incident_id, self._delivery(
            history, ok=True, status=resp.status_code, detail=f"{ref} now {now or update.status}")).delivery

    # ---- HTTP --------------------------------------------------------------------------------

    def _call(self, method: str, url: str, history: list[str], *, body: dict[str, Any] | None = None,
              params: dict[str, str] | None = None) -> requests.Response | Delivery:
        """One request: its 2xx answer, or the Delivery of its failure."""
        headers = {"Authorization": f"OAuth {self._key}", "Accept": "application/json"}
        try:
            resp = self._http().request(method, url, json=body, params=params, headers=headers,
                                        timeout=self._timeout_s)
        except (requests.ConnectionError, requests.Timeout) as e:
            history.append(type(e).__name__)
            return self._delivery(history, ok=False, status=None, detail=f"network error: {type(e).__name__}")
        except requests.RequestException as e:   # a bad URL and the like: no answer either
            history.append(type(e).__name__)
            return self._delivery(history, ok=False, status=None, detail=f"request failed: {type(e).__name__}")
        history.append(str(resp.status_code))
        if 200 <= resp.status_code < 300:
            return resp
        retry_after = read_retry_after(resp) if resp.status_code in RATE_LIMITED or resp.status_code >= 500 else None
        return self._delivery(history, ok=False, status=resp.status_code, detail=_answer(resp),
                                    retry_after=retry_after)

    def _http(self) -> requests.Session:
        if self._session is None:
            self._session = requests.Session()
        return self._session

    def _delivery(self, history: list[str], *, ok: bool, status: int | None, detail: str,
                  retry_after: float | None = None) -> Delivery:
        return Delivery(ok=ok, attempts=1, status=status, detail=_scrub(detail, self._key)[:_DETAIL_MAX],
                        history=tuple(history), retry_after=retry_after)

    @staticmethod
    def _done(op: str, incident_id: str, d: Delivery, ref: str = "") -> Sent:
        log.log(logging.INFO if d.ok else logging.WARNING, "statuspage %s for %s: %s, status %s: %s", op,
                incident_id, "done" if d.ok else "failed", d.status, d.detail, extra={"incident_id": incident_id})
        return Sent(delivery=d, ref=ref)


def create_body(update: PublicUpdate) -> dict[str, Any]:
    """The `incident` object of a create: an update's fields and our metadata (never shown on the page)."""
    return {**update_body(update), "metadata": {METADATA_KEY: {"incident_id": update.incident_id}}}


def update_body(update: PublicUpdate) -> dict[str, Any]:
    """The `incident` object of an update. Without components the affected ones are left as they are."""
    body: dict[str, Any] = {"name": update.name[:NAME_MAX], "status": update.status, "body": update.body[:BODY_MAX],
                            "impact_override": update.impact, "deliver_notifications": True}
    if update.components:
        body["components"] = dict(update.components)
        body["component_ids"] = list(update.components)
    return body


def _ours(incident: dict[str, Any]) -> str | None:
    meta = incident.get("metadata")
    mine = meta.get(METADATA_KEY) if isinstance(meta, dict) else None
    value = mine.get("incident_id") if isinstance(mine, dict) else None
    return value if isinstance(value, str) else None


def _json(resp: requests.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return None


def _answer(resp: requests.Response) -> str:
    """Statuspage's own words: `error` (a string or a list), or `message` (the spec's ErrorEntity)."""
    data = _json(resp)
    words: Any = None
    if isinstance(data, dict):
        words = data.get("error") or data.get("message") or data.get("errors")
    if isinstance(words, list):
        words = "; ".join(str(w) for w in words)
    status = f"{resp.status_code} {resp.reason or ''}".strip()
    return f"{status}: {words}" if words else status


def _scrub(text: str, secret: str) -> str:
    return text.replace(secret, "[api key]") if secret else text
