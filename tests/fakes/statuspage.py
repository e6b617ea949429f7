"""FakeStatuspage: a loopback stand-in for the Statuspage REST API v1, enough for StatuspageStatusPage.

Source: the Statuspage API reference (https://developer.statuspage.io/; its OpenAPI document, as
vendored in sbecker59/statuspage-api-client-go api/v1/statuspage/api/openapi.yaml) unless noted.

    POST  /v1/pages/{page_id}/incidents                 201 Incident; 400, 401, 404, 422
    GET   /v1/pages/{page_id}/incidents/unresolved      200 [Incident], ?page= (from 1) &per_page= (100)
    GET   /v1/pages/{page_id}/incidents/{incident_id}   200 Incident
    PATCH /v1/pages/{page_id}/incidents/{incident_id}   200 Incident (PUT is the same)

Behaviour modelled, with where it comes from:
- Auth: `Authorization: OAuth <key>` ("OAuth", not "Oauth": the docs stress the case) or the
  `api_key` query parameter; anything else is 401 ("Could not authenticate").
- A page other than ours, or an unknown incident, is 404. A `.json` suffix on a path is accepted
  (the older docs' URLs end in .json).
- Body: no `incident` object is 400 (assumed: the spec lists 400 "Bad request" and 422
  "Unprocessable entity"; Rails answers a missing parameter 400 and a failed validation 422).
  On create `name` is required ("required: [name]"), at most 255 characters; `body` at most
  25000; `status` one of investigating | identified | monitoring | resolved (realtime incidents;
  scheduled maintenance is not modelled), default investigating (assumed); `impact_override` one of
  none | maintenance | minor | major | critical; `components` maps component id -> operational |
  under_maintenance | degraded_performance | partial_outage | major_outage; `metadata` must be an
  object whose top-level values are objects. Failures are 422. A component id the page does not
  have is 422 (assumed: not documented).
- The Incident answer: id, page_id, name, status, impact, impact_override, created_at, updated_at,
  monitoring_at, resolved_at, shortlink, metadata, components (Component objects) and
  incident_updates, NEWEST FIRST (as in the docs' sample answers), each with id, incident_id,
  status, body, created_at, display_at, affected_components ({code, name, old_status, new_status})
  and deliver_notifications. A new status or body on PATCH is a new incident update; without
  components the affected ones stay. impact is impact_override when set, else from the affected
  components (support.atlassian.com "Top-level status and incident impact calculations": "incident
  impact is based on the affected components"; the mapping major_outage -> critical, partial_outage
  -> major, degraded_performance -> minor is assumed).
- Errors are `{"error": "<message>"}` (assumed; the spec's ErrorEntity names a `message` field).
- Rate limit: "Error codes 420 or 429" with `Retry-After: <seconds>` (Atlassian Community,
  "Upcoming rate limiting changes to Statuspage REST API"); injected with fail_next/fault_pattern.

Faults as in FakePagerDuty: `fail_next(n, status=, retry_after=)` answers the next n requests with
`status` unprocessed; `fault_pattern([...])` then cycles (a status fails, None answers); `lose_next(n)`
processes the next n requests (an incident IS created) and drops the connection without an answer.
`answers` records (method, path, status) per request, 0 for a lost one.
"""
from __future__ import annotations

import json
import secrets
import string
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from tests.fakes.loopback import LoopbackFake

API_KEY = "a7b9d4aac30956d537ac76850f4d78de30994703680056cc103862d53cf8074"
PAGE_ID = "qfn30z5r6s5h"
REALTIME = ("investigating", "identified", "monitoring", "resolved")
UNRESOLVED = ("investigating", "identified", "monitoring")
IMPACTS = ("none", "maintenance", "minor", "major", "critical")
COMPONENT_STATUSES = ("operational", "under_maintenance", "degraded_performance", "partial_outage", "major_outage")
_IMPACT_OF = {"major_outage": "critical", "partial_outage": "major", "degraded_performance": "minor"}
NAME_MAX, BODY_MAX, PER_PAGE_MAX = 255, 25000, 100
_FAULT_MESSAGES = {420: "Rate limit exceeded", 429: "Rate limit exceeded"}   # wording assumed


def _id() -> str:   # Statuspage ids: 12 lower-case letters and digits ("p31zjtct2jer")
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(12))


def _error(message: str) -> dict[str, Any]:
    return {"error": message}


class FakeStatuspage(LoopbackFake):
    def __init__(self, *, api_key: str = API_KEY, page_id: str = PAGE_ID,
                 components: dict[str, str] | None = None,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        self.api_key, self.page_id, self._now = api_key, page_id, now
        self._last = datetime.min.replace(tzinfo=timezone.utc)
        self.lock = threading.RLock()
        self.components: dict[str, dict[str, Any]] = {}     # id -> Component
        self.incidents: dict[str, dict[str, Any]] = {}      # id -> Incident, in creation order
        self.answers: list[tuple[str, str, int]] = []       # (method, path, status); 0: no answer
        self._faults: list[tuple[int, float | None, Any]] = []
        self._pattern: list[int | None] = []
        self._pattern_retry_after: float | None = None
        self._lose = self.requests = 0
        for cid, name in (components or {"cmp0api00001": "API", "cmp0web00002": "Website"}).items():
            self.components[cid] = {"id": cid, "page_id": page_id, "name": name, "status": "operational",
                                    "group": False, "created_at": self._stamp(), "updated_at": self._stamp()}

    @property
    def api_url(self) -> str:
        return f"{self.url}/v1"

    # ---- fault injection and inspection ------------------------------------------------------

    def fail_next(self, n: int = 1, *, status: int = 500, retry_after: float | None = None, body: Any = None) -> None:
        """Answer the next `n` requests with `status` (and a Retry-After header when given), unprocessed."""
        with self.lock:
            self._faults += [(status, retry_after, body)] * n

    def fault_pattern(self, pattern: list[int | None], *, retry_after: float | None = None) -> None:
        """After the `fail_next` faults, answer requests by cycling through `pattern`: a status fails the
        request (before it is processed, with Retry-After when given); None answers it normally."""
        with self.lock:
            self._pattern, self._pattern_retry_after = list(pattern), retry_after

    def lose_next(self, n: int = 1) -> None:
        """Process the next `n` requests, then drop each connection without an answer."""
        with self.lock:
            self._lose += n

    def count(self, method: str, suffix: str = "") -> int:
        """Requests received with `method` whose path ends with `suffix`, faults and lost ones included."""
        with self.lock:
            return sum(1 for m, p, _ in self.answers if m == method and p.endswith(suffix))

    def unresolved(self) -> list[dict[str, Any]]:
        with self.lock:
            return [i for i in self.incidents.values() if i["status"] in UNRESOLVED]

    def of(self, incident_id: str) -> list[dict[str, Any]]:
        """The incidents whose metadata names our `incident_id`."""
        with self.lock:
            return [i for i in self.incidents.values()
                    if (i["metadata"].get("incident_response") or {}).get("incident_id") == incident_id]

    # ---- the API -----------------------------------------------------------------------------

    def _stamp(self) -> str:   # milliseconds, as Statuspage writes them; never the same twice here
        t = max(self._now().astimezone(timezone.utc), self._last + timedelta(milliseconds=1))
        self._last = t
        return t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    def _fault(self) -> tuple[int, float | None, Any] | None:
        with self.lock:
            self.requests += 1
            if self._faults:
                return self._faults.pop(0)
            if self._pattern:
                status = self._pattern[(self.requests - 1) % len(self._pattern)]
                return None if status is None else (status, self._pattern_retry_after, None)
            return None

    def handle(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        parts = path.removesuffix(".json").strip("/").split("/")
        if parts[:2] != ["v1", "pages"] or len(parts) < 4 or parts[3] != "incidents" or parts[2] != self.page_id:
            return 404, _error("The requested resource could not be found.")
        rest = parts[4:]
        with self.lock:
            if method == "POST" and not rest:
                return self._create(body)
            if method == "GET" and rest == ["unresolved"]:
                return self._list(query)
            if len(rest) == 1 and rest[0] in self.incidents:
                if method == "GET":
                    return 200, self.incidents[rest[0]]
                if method in ("PATCH", "PUT"):
                    return self._patch(self.incidents[rest[0]], body)
            return 404, _error("The requested resource could not be found.")

    def _list(self, query: dict[str, str]) -> tuple[int, Any]:
        try:
            page, per_page = int(query.get("page", 1)), int(query.get("per_page", PER_PAGE_MAX))
        except ValueError:
            return 400, _error("page and per_page must be integers")
        per_page = min(per_page, PER_PAGE_MAX) if per_page > 0 else PER_PAGE_MAX
        found = self.unresolved()[::-1]   # newest first
        start = (max(page, 1) - 1) * per_page
        return 200, found[start:start + per_page]

    def _create(self, body: Any) -> tuple[int, Any]:
        fields = body.get("incident") if isinstance(body, dict) else None
        if not isinstance(fields, dict):
            return 400, _error("param is missing or the value is empty: incident")
        fields = {"status": "investigating", "metadata": {}, **fields}
        problems = self._invalid(fields, creating=True)
        if problems:
            return 422, _error("; ".join(problems))
        now, iid = self._stamp(), _id()
        incident: dict[str, Any] = {
            "id": iid, "page_id": self.page_id, "name": fields["name"], "status": fields["status"],
            "impact": "none", "impact_override": fields.get("impact_override"), "created_at": now,
            "updated_at": now, "monitoring_at": None, "resolved_at": None, "shortlink": f"http://stspg.io/{iid[:9]}",
            "metadata": fields["metadata"], "components": [], "incident_updates": []}
        self.incidents[iid] = incident
        self._apply(incident, fields, first=True)
        return 201, incident

    def _patch(self, incident: dict[str, Any], body: Any) -> tuple[int, Any]:
        fields = body.get("incident") if isinstance(body, dict) else None
        if not isinstance(fields, dict):
            return 400, _error("param is missing or the value is empty: incident")
        problems = self._invalid(fields, creating=False)
        if problems:
            return 422, _error("; ".join(problems))
        for name in ("name", "impact_override"):
            if name in fields:
                incident[name] = fields[name]
        if "metadata" in fields:   # merged key by key (assumed)
            incident["metadata"] = {**incident["metadata"], **fields["metadata"]}
        self._apply(incident, fields, first=False)
        return 200, incident

    def _invalid(self, f: dict[str, Any], *, creating: bool) -> list[str]:
        problems, name = [], f.get("name")
        if (creating or "name" in f) and not (isinstance(name, str) and name.strip()):
            problems.append("Name can't be blank")
        elif isinstance(name, str) and len(name) > NAME_MAX:
            problems.append(f"Name is too long (maximum is {NAME_MAX} characters)")
        if "status" in f and f["status"] not in REALTIME:
            problems.append(f"Status must be one of {', '.join(REALTIME)}")
        if "body" in f and not (isinstance(f["body"], str) and len(f["body"]) <= BODY_MAX):
            problems.append(f"Body must be a string of at most {BODY_MAX} characters")
        if "impact_override" in f and f["impact_override"] not in IMPACTS:
            problems.append(f"Impact override must be one of {', '.join(IMPACTS)}")
        meta = f.get("metadata", {})
        if not isinstance(meta, dict) or not all(isinstance(v, dict) for v in meta.values()):
            problems.append("Metadata must be an object whose top-level values are objects")
        comps, ids = f.get("components", {}), f.get("component_ids", [])
        if not isinstance(comps, dict) or any(s not in COMPONENT_STATUSES for s in comps.values()):
            problems.append(f"Components must map component ids to one of {', '.join(COMPONENT_STATUSES)}")
        elif not isinstance(ids, list) or any(not isinstance(c, str) or c not in self.components
                                              for c in [*comps, *ids]):
            problems.append("Components must name components of this page")
        return problems

    def _apply(self, incident: dict[str, Any], f: dict[str, Any], *, first: bool) -> None:
        """Component changes, timestamps, impact, and (on a new status or body) a new incident update."""
        now, affected = self._stamp(), []
        for cid, status in (f.get("components") or {}).items():
            comp = self.components[cid]
            affected.append({"code": cid, "name": comp["name"], "old_status": comp["status"], "new_status": status})
            comp.update(status=status, updated_at=now)
        listed = {c["id"] for c in incident["components"]}
        for cid in [*(f.get("components") or {}), *(f.get("component_ids") or [])]:
            if cid not in listed:
                listed.add(cid)
                incident["components"].append(self.components[cid])
        if "status" in f:
            incident["status"] = f["status"]
            if f["status"] in ("monitoring", "resolved"):
                incident[f"{f['status']}_at"] = now
        worst = max((_IMPACT_OF.get(c["status"], "none") for c in incident["components"]),
                    key=IMPACTS.index, default="none")
        incident["impact"] = incident["impact_override"] or worst
        incident["updated_at"] = now
        if first or "status" in f or "body" in f:
            incident["incident_updates"].insert(0, {
                "id": _id(), "incident_id": incident["id"], "status": incident["status"], "body": f.get("body", ""),
                "created_at": now, "updated_at": now, "display_at": now, "affected_components": affected or None,
                "deliver_notifications": f.get("deliver_notifications", True)})


class _Handler(BaseHTTPRequestHandler):
    fake: FakeStatuspage

    def log_message(self, *args: Any) -> None:   # keep test output quiet
        pass

    def _any(self) -> None:
        fake, split = self.fake, urlsplit(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        fault, headers = fake._fault(), {}
        if fault is not None:
            status, retry_after, payload = fault
            payload = payload if payload is not None else _error(_FAULT_MESSAGES.get(status, "Internal Server Error"))
            headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        elif self.headers.get("Authorization") != f"OAuth {fake.api_key}" and query.get("api_key") != fake.api_key:
            status, payload = 401, _error("Could not authenticate")
        else:
            try:
                body = json.loads(raw) if raw else None
            except (UnicodeDecodeError, json.JSONDecodeError):
                status, payload = 400, _error("The request body is not valid JSON")
            else:
                status, payload = fake.handle(self.command, split.path, query, body)
        with fake.lock:
            lost = fault is None and fake._lose > 0
            fake._lose -= lost
            fake.answers.append((self.command, split.path, 0 if lost else status))
        if lost:   # processed, never answered: the connection closes with nothing written
            self.close_connection = True
            return
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _any


FakeStatuspage.handler = _Handler
