"""GET /api/metrics: MTTA, MTTR (p50, p90), SLA breaches and review debt per severity over a window,
as JSON or, with `format=prometheus`, in the Prometheus text format 0.0.4."""
from __future__ import annotations

import azure.functions as func

from functions import http
from shared import bootstrap as b
from shared.domain.errors import InvalidInput
from shared.domain.metrics import prometheus
from shared.services import queries

bp = func.Blueprint()
PROMETHEUS = "text/plain; version=0.0.4; charset=utf-8"


@bp.route(route="metrics", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def get_metrics(req: func.HttpRequest) -> func.HttpResponse:
    def run():
        fmt, now = req.params.get("format") or "json", b.clock().now()
        if fmt not in ("json", "prometheus"):
            raise InvalidInput("format", "must be json or prometheus")
        result = queries.metrics(dict(req.params), now, store=b.store())
        if fmt == "prometheus":
            return func.HttpResponse(prometheus(result["by_severity"], now), mimetype="text/plain",
                                     charset="utf-8", headers={"Content-Type": PROMETHEUS})
        return result
    return http.authorized(req, "get_metrics", run)
