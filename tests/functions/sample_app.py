"""A small FunctionApp for the local host's tests: routes on the app and on a blueprint, a timer."""
import json
import threading

import azure.functions as func

from shared import bootstrap

timer_runs: list[func.TimerRequest] = []
timer_ran = threading.Event()
clock_reads: list = []

bp = func.Blueprint()


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse('{"healthy": true}', mimetype="application/json")


@bp.route(route="incidents/{id}/remediations/{rid}/approve", methods=["POST"])
def approve(req: func.HttpRequest) -> func.HttpResponse:
    body = {"route_params": dict(req.route_params), "body": req.get_json(), "method": req.method,
            "url": req.url, "params": dict(req.params), "content_type": req.headers.get("content-type")}
    return func.HttpResponse(json.dumps(body), status_code=202, mimetype="application/json",
                             headers={"X-Echo": "1"})


@bp.timer_trigger(schedule="%SAMPLE_SCHEDULE%", arg_name="tick")
def sample_timer(tick: func.TimerRequest) -> None:
    timer_runs.append(tick)
    clock_reads.append(bootstrap.clock().now())
    timer_ran.set()


app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)  # default level for routes without one
app.register_functions(bp)


@app.route(route="incidents/{id:int}", methods=["GET", "DELETE"])
def get_incident(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"incident {req.route_params['id']}")


@app.route(route="incidents", methods=["POST"], trigger_arg_name="request")
def echo(request: func.HttpRequest) -> func.HttpResponse:  # bound by the name the trigger declares
    return func.HttpResponse(request.get_body(), mimetype="application/octet-stream")


@app.route(route="files/{name?}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def files(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(req.route_params.get("name", "<index>"))


@app.route(route="boom", methods=["GET"])
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("the function failed")


@app.route(route="ping", auth_level=func.AuthLevel.ANONYMOUS)  # no methods: every method
async def ping(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"pong {req.method}")
