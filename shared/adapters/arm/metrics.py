"""ArmMetrics: the RequestMetrics port on the Azure Monitor metrics REST API, through ARM.

Microsoft Learn "Metrics - List" (rest/api/monitor/metrics/list), api-version 2023-10-01, and its
spec Azure/azure-rest-api-specs specification/monitor/resource-manager/Microsoft.Insights/stable/
2023-10-01/metrics_API.json with examples GetMetric.json and GetMetricError.json:

    GET {resourceUri}/providers/Microsoft.Insights/metrics?api-version=2023-10-01&metricnames=Requests
        &aggregation=Total&interval=PT1M&timespan={start}/{end}&$filter=statusCodeCategory eq '*'

answers {"value": [{"name": {"value": "Requests"}, "errorCode": "Success", "timeseries": [
{"metadatavalues": [{"name": {"value": "statuscodecategory"}, "value": "5xx"}], "data": [{"timeStamp",
"total"}]}]}]}; a metric it could not read carries its own errorCode/errorMessage. The Container Apps
`Requests` metric (Microsoft Learn, "Supported metrics for Microsoft.App/containerapps") is a Count
with dimensions revisionName, podName, statusCodeCategory and statusCode, time grain PT1M.

azure-monitor-query 2.0.0 no longer has MetricsQueryClient (its CHANGELOG: "MetricsClient and
MetricsQueryClient have been removed ... Functionality provided by MetricsQueryClient can be access
through the azure-mgmt-monitor package"), so this is plain `requests` with a bearer token for ARM,
one attempt per call (the next verification round is 30 s away), as in alerts.py; credentials as in
credentials.py. Reading metrics needs Microsoft.Insights/metrics/read on the resource.
"""
from __future__ import annotations

import threading
from datetime import datetime, timezone
from typing import Any, Sequence

import requests

from shared.adapters.arm.credentials import check_endpoint, credential_for, describe_error
from shared.adapters.arm.resources import ArmResources
from shared.domain.errors import DependencyFailed
from shared.domain.verification import RequestCount
from shared.ports import Observers

API_VERSION = "2023-10-01"
_DETAIL_MAX = 300


def _iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _time(value: Any) -> datetime | None:
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        return None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def _metrics(body: Any) -> list[dict[str, Any]]:
    """The metrics of a Metrics - List answer. Raises ValueError for an answer of another shape or a
    metric that came back with an error (its errorCode is not Success)."""
    if not isinstance(body, dict) or not isinstance(body.get("value"), list):
        raise ValueError("the answer has no metric list")
    out = []
    for metric in body["value"]:
        if not isinstance(metric, dict):
            continue
        code = metric.get("errorCode") or "Success"
        if code != "Success":
            raise ValueError(f"{code}: {str(metric.get('errorMessage') or '')[:_DETAIL_MAX]}".rstrip(": "))
        out.append(metric)
    return out


def request_counts(body: Any) -> list[RequestCount]:
    """The Requests metric's points of a Metrics - List answer. Raises ValueError (see _metrics)."""
    out: list[RequestCount] = []
    for metric in _metrics(body):
        for series in metric.get("timeseries") or []:
            category = next((str(m.get("value")) for m in series.get("metadatavalues") or []
                             if str((m.get("name") or {}).get("value", "")).lower() == "statuscodecategory"), "")
            for point in series.get("data") or []:
                at, total = _time(point.get("timeStamp")), point.get("total")
                if at is not None and isinstance(total, (int, float)):
                    out.append(RequestCount(at, category, float(total)))
    return out


def maxima_of(body: Any) -> dict[str, list[tuple[datetime, float]]]:
    """Metric name -> (minute, maximum) from a Metrics - List answer with aggregation=Maximum. Raises
    ValueError (see _metrics)."""
    out: dict[str, list[tuple[datetime, float]]] = {}
    for metric in _metrics(body):
        points = out.setdefault(str((metric.get("name") or {}).get("value", "")), [])
        for series in metric.get("timeseries") or []:
            for point in series.get("data") or []:
                at, value = _time(point.get("timeStamp")), point.get("maximum")
                if at is not None and isinstance(value, (int, float)):
                    points.append((at, float(value)))
        points.sort()
    return out


class ArmMetrics:
    """RequestMetrics on ARM (or a loopback fake of it). endpoint: ARM origin (AZURE_ARM_ENDPOINT).
    timeout_s: per request. Raises ValueError for a non-https, non-loopback endpoint."""

    def __init__(self, *, endpoint: str, credential: Any = None, session: requests.Session | None = None,
                 timeout_s: float = 10.0):
        self._endpoint, self._loopback = check_endpoint(endpoint)
        self._credential = credential
        self._session = session
        self._timeout_s = timeout_s
        self._lock = threading.Lock()

    def _token(self) -> str:
        with self._lock:
            self._credential = self._credential or credential_for(self._loopback)
            self._session = self._session or requests.Session()
        return self._credential.get_token(self._endpoint + "/.default").token

    def requests(self, *, resource_id: str, start: datetime, end: datetime) -> list[RequestCount]:
        where = f"Azure Monitor Requests metric of {resource_id.rsplit('/', 1)[-1]}"
        params = {"api-version": API_VERSION, "metricnames": "Requests", "aggregation": "Total", "interval": "PT1M",
                  "timespan": f"{_iso(start)}/{_iso(end)}", "$filter": "statusCodeCategory eq '*'"}
        try:
            return request_counts(self._get(resource_id, params, where))
        except ValueError as e:
            raise DependencyFailed(f"{where}: {e}") from e

    def maxima(self, *, resource_id: str, names: Sequence[str], start: datetime, end: datetime
               ) -> dict[str, list[tuple[datetime, float]]]:
        """Several metrics in one call: `metricnames` is a comma-separated list (Metrics - List)."""
        where = f"Azure Monitor metrics {','.join(names)} of {resource_id.rsplit('/', 1)[-1]}"
        params = {"api-version": API_VERSION, "metricnames": ",".join(names), "aggregation": "Maximum",
                  "interval": "PT1M", "timespan": f"{_iso(start)}/{_iso(end)}"}
        try:
            return maxima_of(self._get(resource_id, params, where))
        except ValueError as e:
            raise DependencyFailed(f"{where}: {e}") from e

    def _get(self, resource_id: str, params: dict[str, str], where: str) -> Any:
        """GET the metrics of one resource; the decoded answer. Raises DependencyFailed."""
        if not resource_id.startswith("/subscriptions/"):
            raise DependencyFailed(f"{where}: not an ARM resource id")
        from azure.core.exceptions import AzureError   # azure-identity's errors (no managed identity, ...)
        try:
            headers = {"Authorization": f"Bearer {self._token()}", "Accept": "application/json"}
            assert self._session is not None  # _token() made it
            resp = self._session.get(f"{self._endpoint}{resource_id}/providers/Microsoft.Insights/metrics",
                                     params=params, headers=headers, timeout=self._timeout_s)
        except (requests.RequestException, AzureError) as e:
            raise DependencyFailed(f"{where}: {type(e).__name__}: {str(e)[:_DETAIL_MAX]}") from e
        if resp.status_code != 200:
            raise DependencyFailed(f"{where}: {describe_error(resp, _DETAIL_MAX)}")
        try:
            return resp.json()
        except ValueError as e:
            raise DependencyFailed(f"{where}: {e}") from e


class MonitoredArmResources(ArmResources):
    """ArmResources carrying the platform's Observers (the Log Analytics query, these metrics, the
    API's HTTP probes): the sweep hands diagnostics and verification the CloudResources object only,
    and shared.ports.observers_of finds them on it."""

    def __init__(self, *, observers: Observers, **arm: Any):
        super().__init__(**arm)
        self.observers = observers
