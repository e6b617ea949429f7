"""On-call and silences: who is on call now, overrides, and maintenance windows."""
import azure.functions as func

from functions import http
from shared import bootstrap as b
from shared.services import oncall, silences

bp = func.Blueprint()
FUNCTION = func.AuthLevel.FUNCTION


@bp.route(route="oncall", methods=["GET"], auth_level=FUNCTION)
def get_oncall(req: func.HttpRequest) -> func.HttpResponse:
    return http.authorized(req, "get_oncall", lambda: oncall.who_is_on_call(roster=b.runbook().roster, store=b.store(),
                                                                            clock=b.clock()))


@bp.route(route="oncall/overrides", methods=["POST"], auth_level=FUNCTION)
def add_override(req: func.HttpRequest) -> func.HttpResponse:
    return http.with_body(req, lambda body, actor: oncall.add_override(body, actor, store=b.store(), clock=b.clock()),
                          status=201, required=True, op="add_override")


@bp.route(route="oncall/overrides/{oid}", methods=["DELETE"], auth_level=FUNCTION)
def remove_override(req: func.HttpRequest) -> func.HttpResponse:
    def remove() -> dict[str, str]:
        oncall.remove_override(req.route_params["oid"], store=b.store(), clock=b.clock())
        return {"deleted": req.route_params["oid"]}
    return http.authorized(req, "remove_override", remove)


@bp.route(route="silences", methods=["GET"], auth_level=FUNCTION)
def list_silences(req: func.HttpRequest) -> func.HttpResponse:
    return http.authorized(req, "list_silences", lambda: {"silences": silences.list_silences(store=b.store(),
                                                                                            clock=b.clock())})


@bp.route(route="silences", methods=["POST"], auth_level=FUNCTION)
def create_silence(req: func.HttpRequest) -> func.HttpResponse:
    return http.with_body(req, lambda body, actor: silences.create_silence(body, actor, store=b.store(),
                                                                          clock=b.clock()),
                          status=201, required=True, op="create_silence")


@bp.route(route="silences/{sid}", methods=["DELETE"], auth_level=FUNCTION)
def delete_silence(req: func.HttpRequest) -> func.HttpResponse:
    return http.with_body(req, lambda body, actor: silences.delete_silence(
        req.route_params["sid"], actor, store=b.store(), clock=b.clock(), runbook=b.runbook()), op="delete_silence")
