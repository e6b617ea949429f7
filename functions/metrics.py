"""GET /api/metrics: MTTA, MTTR (p50, p90), SLA breaches and review debt per severity over a window,
as JSON or, with `format=prometheus`, in the Prometheus text format 0.0.4."""
from __future__ import annotations

import azure.functions as func

from functions import http
from shared import bootstrap as b
from shared.domain.errors import InvalidInput
from shared.domain.metrics import prometheus
from shared.domain.timeutil import iso
from shared.services import metrics_store

bp = func.Blueprint()
PROMETHEUS = "text/plain; version=0.0.4; charset=utf-8"


@bp.route(route="metrics", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def get_metrics(req: func.HttpRequest) -> func.HttpResponse:
    def run():
        fmt, now = req.params.get("format") or "json", b.clock().now()
        if fmt not in ("json", "prometheus"):
            raise InvalidInput("format", "must be json or prometheus")
        since, until = metrics_store.window(dict(req.params), now)
        by_severity = metrics_store.summary(b.store(), since, until)
        if fmt == "prometheus":
            return func.HttpResponse(prometheus(by_severity, now), mimetype="text/plain", charset="utf-8",
                                     headers={"Content-Type": PROMETHEUS})
        return {"since": iso(since), "until": iso(until), "by_severity": by_severity}
    return http.authorized(req, "get_metrics", run)
