"""LogAnalyticsQueries: the LogQueries port on azure-monitor-query's LogsQueryClient (loaded lazily).

The Log Analytics query API (Microsoft Learn, "Query - Execute", rest/api/loganalytics/dataaccess/
query/execute): POST {endpoint}/v1/workspaces/{workspaceId}/query with {"query", "timespan"}; it
answers {"tables": [{"name", "columns": [{"name", "type"}], "rows": [[...]]}]} ("Azure Monitor Log
Analytics API response format"), and a non-fatal error as 200 with the tables and an "error" object
beside them. azure-monitor-query 2.0.0 (azure-sdk-for-python sdk/monitor/azure-monitor-query,
_patch.py): LogsQueryClient(credential, endpoint=...) takes the endpoint with or without "/v1" and
asks for tokens of "<endpoint origin>/.default"; query_workspace(workspace_id, query, timespan=...)
returns LogsQueryResult (.tables: LogsTable .name/.columns/.rows) or LogsQueryPartialResult
(.partial_data, .partial_error) and raises HttpResponseError on a failed query.

Credentials as for ARM (credentials.py): a loopback http:// endpoint (a local fake) gets the static
development token and plain http; anything else DefaultAzureCredential over https only. Nothing
here imports azure.* at module import: cold start stays cheap.
"""
from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from shared.adapters.arm.credentials import StaticDevCredential, is_loopback_http
from shared.adapters.arm.sdk import describe
from shared.domain.errors import DependencyFailed
from shared.ports import LogAnswer, LogTable

DEFAULT_ENDPOINT = "https://api.loganalytics.io/v1"


def check_endpoint(endpoint: str) -> tuple[str, bool]:
    """(endpoint, is loopback http). ValueError unless https (or loopback http) with path "" or "/v1"."""
    value = (endpoint or "").strip().rstrip("/")
    parts = urlsplit(value)
    if not parts.scheme or not parts.hostname or parts.path not in ("", "/v1") or parts.query or parts.fragment:
        raise ValueError(f"Log Analytics endpoint {endpoint!r} must be an origin, optionally with /v1, "
                         "such as https://api.loganalytics.io/v1")
    if is_loopback_http(value):
        return value, True
    if parts.scheme.lower() != "https":
        raise ValueError(f"Log Analytics endpoint {endpoint!r} must use https (plain http only on loopback)")
    return value, False


class LogAnalyticsQueries:
    """LogQueries on one Log Analytics workspace (its workspace id, a GUID: the customerId).

    timeout_s bounds one query: the connection, the read, and the service's own wait (Prefer: wait=).
    One attempt, no retry: diagnostics record a failed query and never wait for it.
    Raises ValueError for an endpoint that is neither https nor loopback http.
    """

    def __init__(self, *, workspace_id: str, endpoint: str = DEFAULT_ENDPOINT, credential: Any = None,
                 timeout_s: float = 10.0):
        self._endpoint, self._loopback = check_endpoint(endpoint)
        self._workspace_id = workspace_id.strip()
        self._credential = credential
        self._timeout_s = float(timeout_s)
        self._client: Any = None
        self._lock = threading.Lock()

    def _get_client(self) -> Any:
        with self._lock:
            if self._client is None:
                from azure.monitor.query import LogsQueryClient
                if self._credential is None:
                    if self._loopback:
                        self._credential = StaticDevCredential()
                    else:
                        from azure.identity import DefaultAzureCredential
                        self._credential = DefaultAzureCredential()
                self._client = LogsQueryClient(self._credential, endpoint=self._endpoint, retry_total=0,
                                               connection_timeout=min(self._timeout_s, 5.0),
                                               read_timeout=self._timeout_s)
            return self._client

    def query(self, *, query: str, timespan: timedelta) -> LogAnswer:
        from azure.core.exceptions import AzureError, ServiceRequestTimeoutError, ServiceResponseTimeoutError
        opts: dict[str, Any] = {"timeout": self._timeout_s}
        if self._loopback:
            opts["enforce_https"] = False   # azure-core's bearer policy refuses http unless told otherwise
        try:
            result = self._get_client().query_workspace(self._workspace_id, query, timespan=timespan,
                                                        server_timeout=max(1, int(self._timeout_s)), **opts)
        except (ServiceRequestTimeoutError, ServiceResponseTimeoutError) as e:
            raise DependencyFailed(f"Log Analytics query timed out after {self._timeout_s:g} s") from e
        except AzureError as e:
            if "timed out" in str(e).lower():     # requests' read timeout arrives as ServiceResponseError
                raise DependencyFailed(f"Log Analytics query timed out after {self._timeout_s:g} s") from e
            raise DependencyFailed(f"Log Analytics query failed: {describe(e)}") from e
        partial = getattr(result, "partial_error", None)
        tables = result.partial_data if partial is not None else result.tables
        return LogAnswer(tables=tuple(_table(t) for t in tables or ()),
                         partial_error=_error_words(partial) if partial is not None else "")


def _table(t: Any) -> LogTable:
    return LogTable(name=getattr(t, "name", "") or "", columns=tuple(t.columns or ()),
                    rows=tuple(tuple(r) for r in t.rows or ()))


def _error_words(error: Any) -> str:
    code, message = getattr(error, "code", "") or "", getattr(error, "message", "") or ""
    return " ".join(p for p in (code, str(message)[:300]) if p) or "partial result"
