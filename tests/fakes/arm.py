"""FakeArm: a loopback stand-in for Azure Resource Manager, enough for the ARM adapter's SDK calls.

It models one container app (revisions, traffic, scale, revisions mode), one PostgreSQL flexible
server (state, high availability, zones) and one Azure Cache for Redis. Writes change that state.
Long-running operations answer 202 with Azure-AsyncOperation and Location headers; the operation
status resource says InProgress until it has been polled `lro_polls` times (None: never), then
Succeeded (or `lro_outcome`). Every request is recorded; `fail()` injects 429/500/4xx answers.
"""
from __future__ import annotations

import copy
import json
import re
import sys
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

SUBSCRIPTION = "00000000-0000-0000-0000-0000000000aa"
GROUP = "rg-procgenie-prod"
_API_VERSIONS = {"Microsoft.App": "2026-07-01", "Microsoft.DBforPostgreSQL": "2026-10-01",
                 "Microsoft.Cache": "2024-11-01"}
_RG = f"/subscriptions/{{sub}}/resourceGroups/{GROUP}/providers"


def _iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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


class FakeArm:
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
        self._server: ThreadingHTTPServer | None = None

    # ---- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> "FakeArm":
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = _Server(("127.0.0.1", 0), handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None, "use FakeArm as a context manager"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # ---- state set-up ------------------------------------------------------------------------
    def set_app(self, *, mode: str = "Single", min_replicas: int = 1, max_replicas: int = 10,
                running_status: str = "Running", provisioning_state: str = "Succeeded",
                traffic: list[dict[str, Any]] | None = None) -> None:
        with self.lock:
            self.app = {"mode": mode, "running": running_status, "state": provisioning_state,
                        "scale": {"minReplicas": min_replicas, "maxReplicas": max_replicas},
                        "traffic": traffic if traffic is not None else
                        ([{"latestRevision": True, "weight": 100}] if mode == "Single" else [])}

    def add_revision(self, name: str, created: datetime, active: bool = True, traffic: int = 0,
                     health: str = "Healthy", *, provisioning: str = "Provisioned", running: str = "Running",
                     image: str | None = None) -> None:
        with self.lock:
            template = {"revisionSuffix": name.split("--")[-1],
                        "containers": [{"name": "api", "image": image or f"acr.io/api:{name}"}],
                        "scale": dict(self.app["scale"])}
            self.revisions[name] = {"created": created, "active": active, "health": health,
                                    "provisioning": provisioning, "running": running, "template": template}
            if traffic:
                self.app["traffic"] = [t for t in self.app["traffic"] if t.get("revisionName") != name]
                self.app["traffic"].append({"revisionName": name, "weight": traffic})

    def set_postgres(self, *, state: str = "Ready", ha_mode: str = "ZoneRedundant", ha_state: str = "Healthy",
                     zone: str = "1", standby_zone: str = "2") -> None:
        with self.lock:
            self.postgres = {"state": state, "ha_mode": ha_mode, "ha_state": ha_state, "zone": zone,
                             "standby_zone": standby_zone, "restarts": 0}

    def set_redis(self, *, provisioning_state: str = "Succeeded") -> None:
        with self.lock:
            self.redis = {"state": provisioning_state, "reboots": 0, "gets_until_ready": None}

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

    # ---- derived views ---------------------------------------------------------------------
    def latest_revision(self) -> str | None:
        return max(self.revisions, key=lambda n: self.revisions[n]["created"], default=None)

    def weights(self) -> dict[str, int]:
        out = {n: 0 for n in self.revisions}
        for t in self.app["traffic"]:
            name = self.latest_revision() if t.get("latestRevision") else t.get("revisionName")
            if name in out:
                out[name] += int(t.get("weight", 0))
        return out

    def _revision_json(self, name: str) -> dict[str, Any]:
        r = self.revisions[name]
        return {"id": f"{self.app_id}/revisions/{name}", "name": name, "type": "Microsoft.App/containerApps/revisions",
                "properties": {"createdTime": _iso(r["created"]), "active": r["active"],
                               "trafficWeight": self.weights()[name], "healthState": r["health"],
                               "provisioningState": r["provisioning"], "runningState": r["running"],
                               "replicas": self.app["scale"]["minReplicas"] if r["active"] else 0,
                               "template": r["template"]}}

    def _app_json(self) -> dict[str, Any]:
        latest = self.latest_revision()
        ready = [n for n in self.revisions if self.revisions[n]["provisioning"] == "Provisioned"]
        template = copy.deepcopy(self.revisions[latest]["template"]) if latest else {}
        template["scale"] = dict(self.app["scale"])
        return {"id": self.app_id, "name": self.app_id.rsplit("/", 1)[-1], "location": "westeurope",
                "type": "Microsoft.App/containerApps",
                "properties": {"provisioningState": self.app["state"], "runningStatus": self.app["running"],
                               "latestRevisionName": latest,
                               "latestReadyRevisionName": max(ready, key=lambda n: self.revisions[n]["created"],
                                                              default=None),
                               "configuration": {"activeRevisionsMode": self.app["mode"],
                                                 "ingress": {"external": True, "targetPort": 8080,
                                                             "traffic": copy.deepcopy(self.app["traffic"])}},
                               "template": template}}

    def _postgres_json(self) -> dict[str, Any]:
        p = self.postgres
        return {"id": self.server_id, "name": self.server_id.rsplit("/", 1)[-1], "location": "westeurope",
                "properties": {"state": p["state"], "availabilityZone": p["zone"],
                               "highAvailability": {"mode": p["ha_mode"], "state": p["ha_state"],
                                                    "standbyAvailabilityZone": p["standby_zone"]}}}

    def _redis_json(self) -> dict[str, Any]:
        r = self.redis
        if r["gets_until_ready"] is not None:
            r["gets_until_ready"] -= 1
            if r["gets_until_ready"] <= 0:
                r["state"], r["gets_until_ready"] = "Succeeded", None
        return {"id": self.cache_id, "name": self.cache_id.rsplit("/", 1)[-1], "location": "westeurope",
                "properties": {"provisioningState": r["state"], "sku": {"name": "Standard", "family": "C",
                                                                         "capacity": 1}}}

    # ---- writes ------------------------------------------------------------------------------
    def _patch_app(self, body: dict[str, Any]) -> tuple[int, Any]:
        props = body.get("properties") or {}
        traffic = ((props.get("configuration") or {}).get("ingress") or {}).get("traffic")
        if traffic is not None:
            for t in traffic:
                name = t.get("revisionName")
                if not t.get("latestRevision") and (name not in self.revisions or not self.revisions[name]["active"]):
                    return 400, _error("ContainerAppInvalidTrafficWeight", f"revision {name} is not active")
            if sum(int(t.get("weight", 0)) for t in traffic) != 100:
                return 400, _error("ContainerAppInvalidTrafficWeight", "traffic weights must sum to 100")
            self.app["traffic"] = copy.deepcopy(traffic)
        mode = (props.get("configuration") or {}).get("activeRevisionsMode")
        if mode:
            self.app["mode"] = mode
        if props.get("template") is not None:
            latest = self.latest_revision()
            template = _merge(copy.deepcopy(self.revisions[latest]["template"]) if latest else {}, props["template"])
            suffix = template.get("revisionSuffix") or uuid.uuid4().hex[:7]
            name = f"{self.app_id.rsplit('/', 1)[-1]}--{suffix}"
            if name in self.revisions:
                return 400, _error("ContainerAppRevisionAlreadyExists", f"revision {name} already exists")
            template["revisionSuffix"] = suffix
            self.app["scale"] = dict(template.get("scale") or self.app["scale"])
            self.revisions[name] = {"created": self._now(), "active": True, "health": "Healthy",
                                    "provisioning": "Provisioning", "running": "Running", "template": template}
            if self.app["mode"] == "Single":
                for other in self.revisions:
                    self.revisions[other]["active"] = other == name
                self.app["traffic"] = [{"latestRevision": True, "weight": 100}]

            def provisioned() -> None:
                self.revisions[name]["provisioning"] = "Provisioned"
        else:
            def provisioned() -> None:
                pass
        self.app["state"] = "InProgress"

        def done() -> None:
            provisioned()
            self.app["state"] = "Succeeded"
        return self._start_op("Microsoft.App", done)

    def _restart_postgres(self, body: Any) -> tuple[int, Any]:
        p = self.postgres
        failover = bool(body and body.get("restartWithFailover"))
        if failover and p["ha_mode"] == "Disabled":
            return 400, _error("HANotEnabledForFailover", "high availability is not enabled on this server")
        p["state"], p["restarts"] = "Restarting", p["restarts"] + 1
        if failover:
            p["ha_state"] = "FailingOver"

        def done() -> None:
            p["state"] = "Ready"
            if failover:
                p["ha_state"], p["zone"], p["standby_zone"] = "Healthy", p["standby_zone"], p["zone"]
        return self._start_op("Microsoft.DBforPostgreSQL", done)

    def _reboot_redis(self, body: Any) -> tuple[int, Any]:
        if not body or body.get("rebootType") not in ("PrimaryNode", "SecondaryNode", "AllNodes"):
            return 400, _error("InvalidRequestBody", "rebootType is required")
        self.redis["reboots"] += 1
        if self.lro_polls:
            self.redis["state"], self.redis["gets_until_ready"] = "Updating", self.lro_polls
        return 200, {"message": f"Reboot of {body['rebootType']} initiated"}

    def _start_op(self, namespace: str, done: Callable[[], None]) -> tuple[int, Any]:
        op = uuid.uuid4().hex
        self._ops[op] = {"polls": 0, "done": done, "status": "InProgress"}
        if self.lro_polls == 0:
            self._finish(op)
            return 200, None
        base = f"{self.url}/subscriptions/{self.subscription_id}/providers/{namespace}/locations/westeurope"
        version = _API_VERSIONS[namespace]   # ARM puts the api-version into the links it hands out
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
            return 404, _error("OperationNotFound", f"no operation {op_id}")
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
        }
        if m and method == "GET":
            return self._poll(m.group(2), m.group(1))
        if method == "GET" and p.startswith(app + "/revisions/"):
            name = next((n for n in self.revisions if n.lower() == p.rsplit("/", 1)[-1]), None)
            return (200, self._revision_json(name)) if name else (404, _error("ContainerAppRevisionNotFound", p))
        route = routes.get((method, p))
        if route is None:
            return 404, _error("ResourceNotFound", f"{method} {path} is not modelled by FakeArm")
        return route()

    def _list_revisions(self, skip: int) -> tuple[int, Any]:
        """Oldest first, as ARM does not promise an order; pages of `page_size` linked by nextLink."""
        names = sorted(self.revisions, key=lambda n: self.revisions[n]["created"])
        end = len(names) if self.page_size is None else skip + self.page_size
        page: dict[str, Any] = {"value": [self._revision_json(n) for n in names[skip:end]]}
        if end < len(names):
            version = _API_VERSIONS["Microsoft.App"]
            page["nextLink"] = f"{self.url}{self.app_id}/revisions?api-version={version}&$skiptoken={end}"
        return 200, page

    def fault_for(self, method: str, path: str) -> _Fault | None:
        for f in self._faults:
            if f.times > 0 and f.method == method and f.pattern.search(path):
                f.times -= 1
                return f
        return None


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """JSON merge patch (RFC 7396): objects merge, null deletes, anything else replaces."""
    for k, v in patch.items():
        if v is None:
            target.pop(k, None)
        elif isinstance(v, dict) and isinstance(target.get(k), dict):
            _merge(target[k], v)
        else:
            target[k] = copy.deepcopy(v)
    return target


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):   # a client dropping keep-alive is normal
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeArm
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

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
                status, payload = 401, _error("AuthenticationFailed", "no bearer token")
            elif "api-version" not in query:
                status, payload = 400, _error("MissingApiVersionParameter", "api-version is required")
            elif fault is not None:
                status, payload = fault.status, _error(fault.code, f"injected {fault.status}")
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
