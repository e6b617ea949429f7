"""The Azure Monitor metrics part of FakeArm: the container app's `Requests` metric split by status class.

Microsoft Learn "Metrics - List" (rest/api/monitor/metrics/list) and azure-rest-api-specs
specification/monitor/resource-manager/Microsoft.Insights/stable/2023-10-01/metrics_API.json with its
example GetMetric.json:

    GET {resourceUri}/providers/Microsoft.Insights/metrics?api-version=2023-10-01&metricnames=Requests
        &aggregation=Total&interval=PT1M&timespan={start}/{end}&$filter=statusCodeCategory eq '*'

answers {"cost", "timespan", "interval", "namespace", "resourceregion", "value": [{"id", "type":
"Microsoft.Insights/metrics", "name": {"value", "localizedValue"}, "unit": "Count", "errorCode":
"Success", "timeseries": [{"metadatavalues": [{"name": {"value": "statuscodecategory", ...}, "value":
"5xx"}], "data": [{"timeStamp", "total"}]}]}]}. The dimension `statusCodeCategory` of the Container
Apps Requests metric: Microsoft Learn, "Supported metrics for Microsoft.App/containerapps".

Assumed, not sourced: the dimension's values are "2xx", "4xx", "5xx" (as the metric's name for its
categories suggests), the metadata name comes back lower-cased as in GetMetric.json's "tier", and a
minute without requests of a category is absent from that category's series (the app treats absent
as 0 either way).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from tests.fakes.arm_wire import error


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class RequestsMetricFake:
    """Mixed into FakeArm; uses its app_id. `add_requests` records per-minute counts of one status class."""

    @property
    def request_points(self) -> list[tuple[datetime, str, float]]:
        if "_request_points" not in self.__dict__:
            self._request_points: list[tuple[datetime, str, float]] = []
        return self._request_points

    def add_requests(self, at: datetime, category: str, count: float) -> None:
        with self.lock:
            self.request_points.append((at.replace(second=0, microsecond=0), category, count))

    def _requests_metric(self, query: dict[str, str]) -> tuple[int, Any]:
        if query.get("metricnames") != "Requests":
            return 400, error("BadRequest", f"Failed to find metric configuration for {query.get('metricnames')}")
        if (query.get("aggregation") or "").lower() != "total" or query.get("interval") != "PT1M":
            return 400, error("BadRequest", "this fake models aggregation=Total, interval=PT1M only")
        if query.get("$filter") != "statusCodeCategory eq '*'":
            return 400, error("BadRequest", "this fake models $filter=statusCodeCategory eq '*' only")
        try:
            start, end = (_time(v) for v in query["timespan"].split("/"))
        except (KeyError, ValueError):
            return 400, error("BadRequest", "timespan must be <start>/<end>")
        series: dict[str, dict[datetime, float]] = {}
        for at, category, count in self.request_points:
            if start <= at < end:
                minutes = series.setdefault(category, {})
                minutes[at] = minutes.get(at, 0.0) + count
        timeseries = [{"metadatavalues": [{"name": {"value": "statuscodecategory",
                                                    "localizedValue": "statusCodeCategory"}, "value": category}],
                       "data": [{"timeStamp": _iso(at), "total": total} for at, total in sorted(points.items())]}
                      for category, points in sorted(series.items())]
        return 200, {"cost": 0, "timespan": query["timespan"], "interval": "PT1M",
                     "namespace": "microsoft.app/containerapps", "resourceregion": "westeurope",
                     "value": [{"id": f"{self.app_id}/providers/Microsoft.Insights/metrics/Requests",
                                "type": "Microsoft.Insights/metrics",
                                "name": {"value": "Requests", "localizedValue": "Requests"},
                                "displayDescription": "Requests processed", "unit": "Count",
                                "timeseries": timeseries, "errorCode": "Success"}]}


# Azure Cache for Redis metrics (Microsoft Learn, "Supported metrics for Microsoft.Cache/redis":
# `errors` (Count, dimensions ShardId and ErrorType), `serverLoad` (Percent), `connectedclients`
# (Count); PT1M grain; Maximum among their aggregations). Metrics - List takes several names in one
# call, comma-separated, and answers one `value` entry per name, each point carrying the requested
# aggregation's field (`maximum`). A live cache reports every minute: the fake answers a healthy
# minute (no errors, 5 % load, 10 clients) wherever a test has not set a value.
CACHE_DEFAULTS = {"errors": 0.0, "serverLoad": 5.0, "connectedclients": 10.0}


class CacheMetricsFake:
    """Mixed into FakeArm; uses its cache_id. `set_cache_metric` sets one metric's maximum for a minute."""

    @property
    def cache_points(self) -> dict[tuple[str, datetime], float]:
        if "_cache_points" not in self.__dict__:
            self._cache_points: dict[tuple[str, datetime], float] = {}
        return self._cache_points

    def set_cache_metric(self, name: str, at: datetime, value: float) -> None:
        with self.lock:
            self.cache_points[(name, at.replace(second=0, microsecond=0))] = value

    def _cache_metrics(self, query: dict[str, str]) -> tuple[int, Any]:
        names = [n for n in (query.get("metricnames") or "").split(",") if n]
        unknown = [n for n in names if n not in CACHE_DEFAULTS]
        if not names or unknown:
            return 400, error("BadRequest", f"Failed to find metric configuration for {','.join(unknown) or '?'}")
        if (query.get("aggregation") or "").lower() != "maximum" or query.get("interval") != "PT1M":
            return 400, error("BadRequest", "this fake models aggregation=Maximum, interval=PT1M only")
        try:
            start, end = (_time(v) for v in query["timespan"].split("/"))
        except (KeyError, ValueError):
            return 400, error("BadRequest", "timespan must be <start>/<end>")
        minutes = []
        at = start.replace(second=0, microsecond=0)
        while at < end:
            if at >= start:
                minutes.append(at)
            at += timedelta(minutes=1)
        value = [{"id": f"{self.cache_id}/providers/Microsoft.Insights/metrics/{n}", "type": "Microsoft.Insights/metrics",
                  "name": {"value": n, "localizedValue": n}, "unit": "Percent" if n == "serverLoad" else "Count",
                  "errorCode": "Success",
                  "timeseries": [{"metadatavalues": [], "data": [
                      {"timeStamp": _iso(m), "maximum": self.cache_points.get((n, m), CACHE_DEFAULTS[n])}
                      for m in minutes]}]} for n in names]
        return 200, {"cost": 0, "timespan": query["timespan"], "interval": "PT1M",
                     "namespace": "microsoft.cache/redis", "resourceregion": "westeurope", "value": value}
