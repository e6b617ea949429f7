"""FakeAlertsManagement: a loopback stand-in for the Alerts Management REST API, enough for ArmAlerts.

Spec: Azure/azure-rest-api-specs, specification/alertsmanagement/resource-manager/Microsoft.AlertsManagement/
AlertsManagement/stable/2019-03-01/AlertsManagement.json and its examples (Alerts_List.json,
Alerts_GetById.json); changestate as in preview/2019-05-05-preview/examples/Alerts_ChangeState.json.

    GET  /subscriptions/{s}/providers/Microsoft.AlertsManagement/alerts     list, filtered, paged
    GET  /subscriptions/{s}/providers/Microsoft.AlertsManagement/alerts/{g} one alert
    POST /subscriptions/{s}/providers/Microsoft.AlertsManagement/alerts/{g}/changestate?newState=...

Alerts are stored in the spec's `Alert` shape (`id`, `name`, `type`, `properties.essentials`). Every
request needs a bearer token and api-version 2019-03-01; every request is recorded; `fail()` makes
the next matching requests answer 429/5xx/4xx (or drop the connection: status 0).
"""
from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable
from urllib.parse import parse_qs, urlencode, urlsplit

API_VERSION = "2019-03-01"
SUBSCRIPTION = "00000000-0000-0000-0000-0000000000aa"
DEFAULT_PAGE = 25                        # pageCount: "Default value is 25" (spec)
MAX_PAGE = 250                           # pageCount: "Permissible value is between 1 to 250" (spec)
STATES = ("New", "Acknowledged", "Closed")
TIME_RANGES = {"1h": timedelta(hours=1), "1d": timedelta(days=1), "7d": timedelta(days=7),
               "30d": timedelta(days=30)}
_BASE = r"/subscriptions/([^/]+)/providers/microsoft\.alertsmanagement/alerts"

from tests.fakes.loopback import LoopbackFake


def _iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _time_or_none(value: Any) -> datetime | None:
    try:
        return _time(value)
    except (TypeError, ValueError, AttributeError):
        return None


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}   # ARM's error envelope (common-types ErrorResponse)


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    status: int


@dataclass
class _Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    times: int


class FakeAlertsManagement(LoopbackFake):
    def __init__(self, *, now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        self._now = now
        self.alerts: dict[str, dict[str, Any]] = {}          # lower-cased id -> Alert resource
        self.requests: list[Recorded] = []
        self.changes: list[tuple[str, str]] = []              # (alert id, new state) of each state change made
        self.lock = threading.RLock()
        self._faults: list[_Fault] = []

    # ---- state -------------------------------------------------------------------------------
    def add(self, *, subscription: str = SUBSCRIPTION, guid: str | None = None, rule: str = "rule",
            target: str = "", severity: str = "Sev1", condition: str = "Fired", state: str = "New",
            started: datetime | None = None, service: str = "Platform", signal: str = "Metric",
            description: str = "", custom: dict[str, str] | None = None,
            raw: dict[str, Any] | None = None) -> str:
        """An alert in the spec's Alert shape (Alerts_List.json); `raw` stores a resource as given.
        Returns the alert id in the webhook's form."""
        guid = guid or str(uuid.uuid4())
        started = started or self._now()
        alert_id = f"/subscriptions/{subscription}/providers/Microsoft.AlertsManagement/alerts/{guid}"
        if raw is None:
            group = target.split("/")[4] if target.count("/") >= 4 else ""
            raw = {"id": alert_id, "type": "Microsoft.AlertsManagement/alerts", "name": rule,
                   "properties": {"essentials": {
                       "severity": severity, "signalType": signal, "alertState": state,
                       "monitorCondition": condition, "monitorService": service, "targetResource": target,
                       "targetResourceName": target.rsplit("/", 1)[-1], "targetResourceGroup": group,
                       "targetResourceType": target.split("/")[-2] if target.count("/") >= 2 else "",
                       "sourceCreatedId": str(uuid.uuid4()),
                       "alertRule": f"/subscriptions/{subscription}/resourceGroups/rg-alerts/providers/"
                                    f"Microsoft.Insights/metricAlerts/{rule}",
                       "startDateTime": _iso(started), "lastModifiedDateTime": _iso(started),
                       "lastModifiedUserName": "System",
                       "monitorConditionResolvedDateTime": _iso(started) if condition == "Resolved" else None,
                       "actionStatus": {"isSuppressed": False}, "description": description},
                       "egressConfig": {}, "context": {}}}
            if custom is not None:
                raw["properties"]["customProperties"] = custom
        with self.lock:
            self.alerts[raw["id"].lower()] = raw
        return alert_id

    def state_of(self, alert_id: str) -> str:
        return self._find(alert_id)["properties"]["essentials"]["alertState"]

    def fail(self, method: str, path: str, *, status: int = 503, times: int = 1) -> None:
        """The next `times` requests with `method` ("*": any) whose path matches the regex `path` answer
        `status` (429 with Retry-After: 0); status 0 drops the connection without an answer."""
        with self.lock:
            self._faults.append(_Fault(method.upper(), re.compile(path, re.I), status, times))

    def calls(self, method: str, suffix: str = "") -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path.lower().endswith(suffix.lower())]

    # ---- the API -----------------------------------------------------------------------------
    def _find(self, alert_id: str) -> dict[str, Any]:
        guid = alert_id.rstrip("/").rsplit("/", 1)[-1].lower()
        sub = alert_id.split("/")[2].lower()
        # an alert can be addressed at its subscription whatever scope its id names (Alerts_GetById:
        # "use scope as parent resource"); the fake keys it by subscription and guid
        for key, alert in self.alerts.items():
            if key.endswith("/" + guid) and key.split("/")[2] == sub:
                return alert
        raise KeyError(alert_id)

    def handle(self, method: str, path: str, query: dict[str, str]) -> tuple[int, Any]:
        p = path.rstrip("/")
        if query.get("api-version") != API_VERSION:
            # ARM answers an api-version the resource type does not offer with 400 (code assumed)
            return 400, _error("InvalidApiVersionParameter", f"api-version {query.get('api-version')!r} is not "
                                                             f"supported; supported: {API_VERSION}")
        if method == "GET" and re.fullmatch(_BASE, p, re.I):
            return self._list(p.split("/")[2], query)
        m = re.fullmatch(_BASE + r"/([^/]+)(/changestate)?", p, re.I)
        if m is None:
            return 404, _error("ResourceNotFound", f"{method} {path} is not modelled by FakeAlertsManagement")
        try:
            alert = self._find(p[:m.start(3)] if m.group(3) else p)
        except KeyError:
            return 404, _error("AlertNotFound", f"no alert {m.group(2)}")
        if method == "GET" and not m.group(3):
            return 200, alert
        if method == "POST" and m.group(3):
            state = query.get("newState")
            if state not in STATES:   # newState: required, New | Acknowledged | Closed (spec)
                return 400, _error("InvalidParameter", f"newState must be one of {', '.join(STATES)}")
            alert["properties"]["essentials"]["alertState"] = state
            alert["properties"]["essentials"]["lastModifiedDateTime"] = _iso(self._now())
            self.changes.append((alert["id"], state))
            return 200, alert
        return 405, _error("MethodNotAllowed", f"{method} {path}")

    def _list(self, sub: str, query: dict[str, str]) -> tuple[int, Any]:
        try:
            size = int(query.get("pageCount", DEFAULT_PAGE))
            offset = int(query.get("ctoken", 0))
        except ValueError:
            return 400, _error("InvalidParameter", "pageCount must be an integer")
        if not 1 <= size <= MAX_PAGE:
            return 400, _error("InvalidParameter", f"pageCount must be between 1 and {MAX_PAGE}")
        if "timeRange" in query and "customTimeRange" in query:
            # "Either timeRange or customTimeRange could be used but not both" (spec)
            return 400, _error("InvalidParameter", "use timeRange or customTimeRange, not both")
        now = self._now()
        start, end = now - timedelta(days=1), now          # timeRange: "Default value is 1 day" (spec)
        if "customTimeRange" in query:
            try:
                start, end = (_time(t) for t in query["customTimeRange"].split("/"))
            except ValueError:
                return 400, _error("InvalidParameter", "customTimeRange must be <start>/<end> in ISO-8601")
            if now - start > timedelta(days=30):     # "within 30 days from query time" (spec)
                return 400, _error("InvalidParameter", "customTimeRange must be within 30 days")
        elif "timeRange" in query:
            if query["timeRange"] not in TIME_RANGES:
                return 400, _error("InvalidParameter", "timeRange must be 1h, 1d, 7d or 30d")
            start = now - TIME_RANGES[query["timeRange"]]
        found = []
        for alert in self.alerts.values():
            ess = alert["properties"]["essentials"]
            if alert["id"].split("/")[2].lower() != sub.lower():
                continue
            if any(query.get(k) and ess.get(k) != query[k] for k in ("monitorCondition", "alertState", "severity")):
                continue
            started = _time_or_none(ess.get("startDateTime"))
            if started is not None and not start <= started <= end:
                continue   # (one without a readable start is listed: tests of a broken alert need it)
            found.append(alert)
        if query.get("sortBy") == "startDateTime":
            found.sort(key=lambda a: str(a["properties"]["essentials"].get("startDateTime")),
                       reverse=query.get("sortOrder", "desc") == "desc")   # time fields: desc by default
        page = found[offset:offset + size]
        body: dict[str, Any] = {"value": page}
        if offset + size < len(found):
            # like ARM's (Alerts_List.json): an absolute link with the api-version and the filters
            # written in, plus a continuation token
            rest = {k: v for k, v in query.items() if k != "ctoken"}
            body["nextLink"] = f"{self.url}/subscriptions/{sub}/providers/Microsoft.AlertsManagement/alerts?" + \
                urlencode({**rest, "ctoken": str(offset + size)})
        return 200, body

    def fault_for(self, method: str, path: str) -> _Fault | None:
        for f in self._faults:
            if f.times > 0 and f.method in ("*", method) and f.pattern.search(path):
                f.times -= 1
                return f
        return None




class _Handler(BaseHTTPRequestHandler):
    fake: FakeAlertsManagement
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def _any(self) -> None:
        fake, split = self.fake, urlsplit(self.path)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        extra: dict[str, str] = {}
        with fake.lock:
            fault = fake.fault_for(self.command, split.path)
            if not self.headers.get("Authorization", "").startswith("Bearer "):
                status, payload = 401, _error("AuthenticationFailed", "no bearer token")
            elif fault is not None:
                status, payload = fault.status, _error("Injected", f"injected {fault.status}")
                if fault.status == 429:
                    extra["Retry-After"] = "0"
            else:
                status, payload = fake.handle(self.command, split.path, query)
            fake.requests.append(Recorded(self.command, split.path, query, status))
        if status == 0:
            self.close_connection = True
            self.connection.close()
            return
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("x-ms-request-id", str(uuid.uuid4()))
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any


FakeAlertsManagement.handler = _Handler
