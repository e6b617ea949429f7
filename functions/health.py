"""GET /api/health: liveness plus the freshness of the escalation sweep (anonymous)."""
import azure.functions as func

from functions import http
from shared import bootstrap as b
from shared.services.health import health

bp = func.Blueprint()


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def get_health(req: func.HttpRequest) -> func.HttpResponse:
    def check() -> func.HttpResponse:
        errors = b.configuration_errors()
        if errors:  # the broken settings by name, never their values; 503 so that monitoring notices
            return http.json_response({"status": "misconfigured", "healthy": False,
                                       "configuration_errors": errors}, 503, {"Retry-After": "30"})
        body = health(store=b.store(), clock=b.clock(), schedule=b.settings().escalation_schedule)
        return http.json_response(body, 200 if body["healthy"] else 503)
    return http.respond(check)
