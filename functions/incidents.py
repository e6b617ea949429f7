"""The status-tooling routes on incidents: read, declare, and the responders' commands."""
import azure.functions as func

from functions import http
from shared import bootstrap as b
from shared.services import commands, queries, rendering

bp = func.Blueprint()
FUNCTION = func.AuthLevel.FUNCTION


@bp.route(route="incidents", methods=["GET"], auth_level=FUNCTION)
def list_incidents(req: func.HttpRequest) -> func.HttpResponse:
    return http.authorized(req, "list_incidents", lambda: queries.list_incidents(dict(req.params), store=b.store()))


@bp.route(route="incidents/{id}", methods=["GET"], auth_level=FUNCTION)
def get_incident(req: func.HttpRequest) -> func.HttpResponse:
    return http.authorized(req, "get_incident", lambda: queries.get_incident(req.route_params["id"], store=b.store(),
                                                                              params=dict(req.params)))


@bp.route(route="incidents/{id}/communications/{template}", methods=["GET"], auth_level=FUNCTION)
def get_communication(req: func.HttpRequest) -> func.HttpResponse:
    return http.authorized(req, "get_communication", lambda: rendering.communication(
        req.route_params["id"], req.route_params["template"], store=b.store(), clock=b.clock(), runbook=b.runbook(),
        core=b.core(), params=dict(req.params)))


@bp.route(route="incidents", methods=["POST"], auth_level=FUNCTION)
def declare_incident(req: func.HttpRequest) -> func.HttpResponse:
    return http.with_body(req, lambda body, actor: commands.declare(
        body, actor, store=b.store(), clock=b.clock(), runbook=b.runbook(), paging=b.paging()),
        status=201, required=True, op="declare_incident")


@bp.route(route="incidents/{id}/acknowledge", methods=["POST"], auth_level=FUNCTION)
def acknowledge_incident(req: func.HttpRequest) -> func.HttpResponse:
    return _command(req, commands.acknowledge, "acknowledge_incident", paging=True)


@bp.route(route="incidents/{id}/resolve", methods=["POST"], auth_level=FUNCTION)
def resolve_incident(req: func.HttpRequest) -> func.HttpResponse:
    return _command(req, commands.resolve, "resolve_incident", paging=True)


@bp.route(route="incidents/{id}/severity", methods=["POST"], auth_level=FUNCTION)
def set_severity(req: func.HttpRequest) -> func.HttpResponse:
    return _command(req, commands.set_severity, "set_severity", paging=True)


@bp.route(route="incidents/{id}/status", methods=["POST"], auth_level=FUNCTION)
def set_status(req: func.HttpRequest) -> func.HttpResponse:
    return _command(req, commands.set_status, "set_status", paging=True)


@bp.route(route="incidents/{id}/notes", methods=["POST"], auth_level=FUNCTION)
def add_note(req: func.HttpRequest) -> func.HttpResponse:
    return _command(req, commands.add_note, "add_note")


@bp.route(route="incidents/{id}/remediations/{rid}/approve", methods=["POST"], auth_level=FUNCTION)
def approve_remediation(req: func.HttpRequest) -> func.HttpResponse:
    return http.with_body(req, lambda body, actor: commands.decide_remediation(
        req.route_params["id"], req.route_params["rid"], body, actor, store=b.store(), clock=b.clock(),
        runbook=b.runbook()), op="approve_remediation")


def _command(req: func.HttpRequest, command, op: str, paging: bool = False) -> func.HttpResponse:
    def call(body, actor):
        extra = {"paging": b.paging()} if paging else {}
        return command(req.route_params["id"], body, actor, store=b.store(), clock=b.clock(), runbook=b.runbook(),
                       **extra)
    return http.with_body(req, call, op=op)
