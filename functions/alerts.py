"""POST /api/alerts: the Azure Monitor action group webhook (Common Alert Schema)."""
import azure.functions as func

from functions import http
from shared import bootstrap as b
from shared.services.intake import ingest_alert

bp = func.Blueprint()


@bp.route(route="alerts", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def post_alert(req: func.HttpRequest) -> func.HttpResponse:
    return http.authorized(req, "post_alert", lambda: ingest_alert(
        http.body_json(req), store=b.store(), clock=b.clock(), runbook=b.runbook(), core=b.core(), remedy=b.remedy(),
        paging=b.paging()).as_dict(), status=202)
