"""The status-tooling routes on incidents."""
import azure.functions as func

from functions import http
from shared import bootstrap as b
from shared.services import queries

bp = func.Blueprint()


@bp.route(route="incidents", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def list_incidents(req: func.HttpRequest) -> func.HttpResponse:
    return http.respond(lambda: queries.list_incidents(dict(req.params), store=b.store()))


@bp.route(route="incidents/{id}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def get_incident(req: func.HttpRequest) -> func.HttpResponse:
    return http.respond(lambda: queries.get_incident(req.route_params["id"], store=b.store()))
