"""FakeArm: a loopback stand-in for Azure Resource Manager, enough for the ARM adapter's SDK calls.

It models one container app (tests/fakes/arm_containerapps.py: revisions, traffic with labels,
scale, secrets; tests/fakes/arm_metrics.py: its Requests metric), one PostgreSQL flexible server
and one Azure Cache for Redis (tests/fakes/arm_data.py). Writes change that state. This module is
the server: routing, authentication and api-version checks, injected faults, and long-running
operations, which answer 202 with Azure-AsyncOperation and Location headers; the operation status
resource says InProgress until it has been polled `lro_polls` times (None: never), then Succeeded
(or `lro_outcome`).
Every request is recorded; `fail()` injects 429/500/4xx answers.
"""
from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from tests.fakes.arm_containerapps import ContainerAppsFake
from tests.fakes.arm_data import DataTierFake
from tests.fakes.arm_metrics import CacheMetricsFake, RequestsMetricFake
from tests.fakes.arm_wire import API_VERSIONS, GROUP, SUBSCRIPTION, error
from tests.fakes.loopback import LoopbackFake

__all__ = ["FakeArm", "Recorded", "SUBSCRIPTION", "GROUP"]
_RG = f"/subscriptions/{{sub}}/resourceGroups/{GROUP}/providers"


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    api_version: str | None
    query: dict[str, str]
    body: Any                          # decoded JSON, None when empty
    headers: dict[str, str]            # Authorization kept as "<scheme> ***"
    status: int
    request_id: str                    # the x-ms-request-id answered


@dataclass
class _Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    times: int
    code: str
    retry_after: str | None


class FakeArm(ContainerAppsFake, DataTierFake, RequestsMetricFake, CacheMetricsFake, LoopbackFake):
    def __init__(self, *, subscription_id: str = SUBSCRIPTION, lro_polls: int | None = 1,
                 lro_outcome: str = "Succeeded", page_size: int | None = None,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        self.subscription_id = subscription_id
        self.lro_polls, self.lro_outcome, self.page_size, self._now = lro_polls, lro_outcome, page_size, now
        base = _RG.format(sub=subscription_id)
        self.app_id = f"{base}/Microsoft.App/containerApps/ca-procgenie-api"
        self.server_id = f"{base}/Microsoft.DBforPostgreSQL/flexibleServers/psql-procgenie-prod"
        self.cache_id = f"{base}/Microsoft.Cache/redis/redis-procgenie-prod"
        self.requests: list[Recorded] = []
        self.lock = threading.RLock()
        self._faults: list[_Fault] = []
        self._ops: dict[str, dict[str, Any]] = {}
        self.revisions: dict[str, dict[str, Any]] = {}
        self.set_app()
        self.set_postgres()
        self.set_redis()

    def fail(self, method: str, path: str, *, status: int = 429, times: int = 1, code: str | None = None,
             retry_after: str | None = None) -> None:
        """The next `times` requests with `method` whose path matches the regex `path` answer `status`."""
        default = {429: "TooManyRequests", 500: "InternalServerError"}.get(status, "BadRequest")
        if retry_after is None and status == 429:
            retry_after = "0"
        with self.lock:
            self._faults.append(_Fault(method.upper(), re.compile(path, re.I), status, times, code or default,
                                       retry_after))

    def writes(self) -> list[Recorded]:
        return [r for r in self.requests if r.method != "GET"]

    # ---- long-running operations ---------------------------------------------------------------
    def _start_op(self, namespace: str, done: Callable[[], None]) -> tuple[int, Any]:
        op = uuid.uuid4().hex
        self._ops[op] = {"polls": 0, "done": done, "status": "InProgress"}
        if self.lro_polls == 0:
            self._finish(op)
            return 200, None
        base = f"{self.url}/subscriptions/{self.subscription_id}/providers/{namespace}/locations/westeurope"
        version = API_VERSIONS[namespace]   # ARM puts the api-version into the links it hands out
        return 202, {"__headers__": {"Azure-AsyncOperation": f"{base}/operationStatuses/{op}?api-version={version}",
                                     "Location": f"{base}/operationResults/{op}?api-version={version}"}}

    def _finish(self, op_id: str) -> None:
        op = self._ops[op_id]
        if op["status"] == "InProgress":
            op["status"] = self.lro_outcome
            if self.lro_outcome == "Succeeded":
                op["done"]()

    def _poll(self, op_id: str, kind: str) -> tuple[int, Any]:
        op = self._ops.get(op_id)
        if op is None:
            return 404, error("OperationNotFound", f"no operation {op_id}")
        if kind == "operationstatuses":
            op["polls"] += 1
            if self.lro_polls is not None and op["polls"] >= self.lro_polls:
                self._finish(op_id)
            status = {"id": op_id, "name": op_id, "status": op["status"]}
            if op["status"] == "Failed":
                status["error"] = {"code": "OperationFailed", "message": "the operation failed"}
            return 200, status
        return (202, None) if op["status"] == "InProgress" else (204, None)

    # ---- routing -----------------------------------------------------------------------------
    def handle(self, method: str, path: str, body: Any, query: dict[str, str] | None = None) -> tuple[int, Any]:
        p = path.lower().rstrip("/")
        app, server, cache = self.app_id.lower(), self.server_id.lower(), self.cache_id.lower()
        m = re.fullmatch(rf"/subscriptions/{self.subscription_id}/providers/[^/]+/locations/[^/]+/"
                         r"(operationstatuses|operationresults)/([0-9a-f]+)", p)
        routes: dict[tuple[str, str], Callable[[], tuple[int, Any]]] = {
            ("GET", app): lambda: (200, self._app_json()),
            ("PATCH", app): lambda: self._patch_app(body or {}),
            ("GET", app + "/revisions"): lambda: self._list_revisions(int((query or {}).get("$skiptoken", 0))),
            ("GET", server): lambda: (200, self._postgres_json()),
            ("POST", server + "/restart"): lambda: self._restart_postgres(body),
            ("GET", cache): lambda: (200, self._redis_json()),
            ("POST", cache + "/forcereboot"): lambda: self._reboot_redis(body),
            ("GET", cache + "/providers/microsoft.resourcehealth/availabilitystatuses/current"):
                lambda: (200, self._redis_health_json()),
            ("GET", app + "/providers/microsoft.insights/metrics"): lambda: self._requests_metric(query or {}),
            ("GET", cache + "/providers/microsoft.insights/metrics"): lambda: self._cache_metrics(query or {}),
        }
        if m and method == "GET":
            return self._poll(m.group(2), m.group(1))
        if method == "GET" and p.startswith(app + "/revisions/"):
            name = next((n for n in self.revisions if n.lower() == p.rsplit("/", 1)[-1]), None)
            return (200, self._revision_json(name)) if name else (404, error("ContainerAppRevisionNotFound", p))
        route = routes.get((method, p))
        if route is None:
            return 404, error("ResourceNotFound", f"{method} {path} is not modelled by FakeArm")
        return route()

    def fault_for(self, method: str, path: str) -> _Fault | None:
        for f in self._faults:
            if f.times > 0 and f.method == method and f.pattern.search(path):
                f.times -= 1
                return f
        return None




class _Handler(BaseHTTPRequestHandler):
    fake: FakeArm
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The Date header on the fake's clock, as ARM's answers carry ARM's time."""
        from email.utils import format_datetime
        return format_datetime(self.fake._now().astimezone(timezone.utc), usegmt=True)

    def _any(self) -> None:
        fake, split = self.fake, urlsplit(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.loads(raw) if raw else None
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        headers = {k: v for k, v in self.headers.items()}
        auth = headers.get("Authorization", "")
        if auth:
            headers["Authorization"] = auth.split(" ", 1)[0] + " ***"
        request_id = str(uuid.uuid4())
        extra: dict[str, str] = {}
        with fake.lock:
            fault = fake.fault_for(self.command, split.path)
            if not auth.startswith("Bearer "):
                status, payload = 401, error("AuthenticationFailed", "no bearer token")
            elif "api-version" not in query:
                status, payload = 400, error("MissingApiVersionParameter", "api-version is required")
            elif fault is not None:
                status, payload = fault.status, error(fault.code, f"injected {fault.status}")
                if fault.retry_after is not None:
                    extra["Retry-After"] = fault.retry_after
            else:
                status, payload = fake.handle(self.command, split.path, body, query)
            if isinstance(payload, dict) and "__headers__" in payload:
                extra.update(payload.pop("__headers__"))
                payload = None
            fake.requests.append(Recorded(self.command, split.path, query.get("api-version"), query, body,
                                          headers, status, request_id))
        data = json.dumps(payload).encode() if payload is not None else b""
        self.send_response(status)
        self.send_header("x-ms-request-id", request_id)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PATCH = do_POST = do_PUT = do_DELETE = _any


FakeArm.handler = _Handler
