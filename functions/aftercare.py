"""The routes of the work after the fire: the review record, the post-mortem draft, the GDPR clock."""
import azure.functions as func

from functions import http
from shared import bootstrap as b
from shared.services import aftercare

bp = func.Blueprint()
FUNCTION = func.AuthLevel.FUNCTION


@bp.route(route="incidents/{id}/pir", methods=["POST"], auth_level=FUNCTION)
def record_review(req: func.HttpRequest) -> func.HttpResponse:
    return http.with_body(req, lambda body, actor: aftercare.record_review(
        req.route_params["id"], body, actor, store=b.store(), clock=b.clock(), runbook=b.runbook()),
        required=True, op="record_review")


@bp.route(route="incidents/{id}/breach", methods=["POST"], auth_level=FUNCTION)
def record_breach(req: func.HttpRequest) -> func.HttpResponse:
    return http.with_body(req, lambda body, actor: aftercare.record_breach(
        req.route_params["id"], body, actor, store=b.store(), clock=b.clock(), runbook=b.runbook()),
        required=True, op="record_breach")


@bp.route(route="incidents/{id}/postmortem", methods=["GET"], auth_level=FUNCTION)
def get_postmortem(req: func.HttpRequest) -> func.HttpResponse:
    """Markdown (text/markdown), or the structured draft with ?format=json."""
    def run():
        draft = aftercare.postmortem(req.route_params["id"], store=b.store(), clock=b.clock(), runbook=b.runbook())
        if req.params.get("format") == "json":
            return draft
        return func.HttpResponse(draft["markdown"].encode("utf-8"), mimetype="text/markdown", charset="utf-8")
    return http.authorized(req, "get_postmortem", run)
