"""FakeLogAnalytics: a loopback stand-in for the Log Analytics query API, enough for LogsQueryClient.

Microsoft Learn, "Query - Execute" (rest/api/loganalytics/dataaccess/query/execute):

    POST {endpoint}/v1/workspaces/{workspaceId}/query   body {"query", "timespan"?, "workspaces"?}
         header Prefer: wait=<seconds> (the server timeout)

and "Azure Monitor Log Analytics API response format": 200 with {"tables": [{"name": "PrimaryResult",
"columns": [{"name", "type"}], "rows": [[...]]}]}; a fatal error is an error status with a OneAPI
error object {"error": {"code", "message", "innererror"}}; a non-fatal one is 200 with the tables and
an "error" object beside them (a partial result).

It answers only the bearer token the app uses on loopback (credentials.DEV_TOKEN) and one workspace,
records every request, and can be told to answer a partial result, fail, or take too long.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from shared.adapters.arm.credentials import DEV_TOKEN
from tests.fakes.loopback import LoopbackFake

WORKSPACE = "6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f"
COLUMNS = [{"name": "ResultCode", "type": "string"}, {"name": "OperationName", "type": "string"},
           {"name": "count_", "type": "long"}]


@dataclass(frozen=True)
class Recorded:
    path: str
    body: Any
    authorization: str            # "<scheme> ***": the token itself is not kept
    prefer: str
    status: int


class FakeLogAnalytics(LoopbackFake):
    def __init__(self, *, workspace: str = WORKSPACE):
        self.workspace = workspace
        self.rows: list[list[Any]] = []
        self.mode = "ok"                 # ok | partial | fail | slow
        self.delay_s = 0.0               # for "slow"
        self.requests: list[Recorded] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        """The endpoint as LOG_ANALYTICS_ENDPOINT takes it (with the API version)."""
        return super().url + "/v1"

    def answer(self, path: str, auth: str, body: Any) -> tuple[int, Any]:
        if auth != f"Bearer {DEV_TOKEN}":
            return 401, _error("AuthorizationRequiredError", "Valid authentication was not provided")
        if path != f"/v1/workspaces/{self.workspace}/query":
            return 404, _error("WorkspaceNotFoundError", "The workspace could not be found")
        if not isinstance(body, dict) or not isinstance(body.get("query"), str) or not body["query"].strip():
            return 400, _error("BadArgumentError", "The request had some invalid properties")
        if self.mode == "fail":
            return 400, _error("BadArgumentError", "Failed to resolve table or column expression named 'AppRequests'")
        tables = {"tables": [{"name": "PrimaryResult", "columns": COLUMNS, "rows": self.rows}]}
        if self.mode == "partial":
            tables["error"] = {"code": "PartialError", "message": "There were some errors when processing your "
                               "query.", "details": [{"code": "EngineError", "message": "Query result set has "
                                                                                     "exceeded the internal limit"}]}
        return 200, tables


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "innererror": {"code": code, "message": message}}}




class _Handler(BaseHTTPRequestHandler):
    fake: FakeLogAnalytics
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        fake = self.fake
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        auth = self.headers.get("Authorization", "")
        with fake.lock:
            status, payload = fake.answer(self.path.split("?")[0], auth, body)
            fake.requests.append(Recorded(self.path, body, auth.split(" ", 1)[0] + " ***" if auth else "",
                                          self.headers.get("Prefer", ""), status))
            delay = fake.delay_s if fake.mode == "slow" else 0.0
        if delay:
            time.sleep(delay)
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass


FakeLogAnalytics.handler = _Handler
