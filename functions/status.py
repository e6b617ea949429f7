"""GET /api/status, status.html, status.atom: the public status page (anonymous).

Only the published `pub|` rows are read (shared/services/public_status.py), never an incident. A
store outage answers 503 JSON with Retry-After (functions/http.py), like every route.
"""
from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

import azure.functions as func

from functions import http
from shared import bootstrap as b
from shared.services import public_pages, public_status

bp = func.Blueprint()
CACHE = {"Cache-Control": "public, max-age=30"}
# No script, style only inline, nothing framed or posted: the page needs nothing else.
PAGE_HEADERS = {**CACHE, "X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
                                           "form-action 'none'; frame-ancestors 'none'"}


def _api_url(req: func.HttpRequest, name: str) -> str:
    """The absolute URL of route `name`: under PUBLIC_BASE_URL when set, else beside the request."""
    base = b.settings().public_base_url
    if base:
        return f"{base}/api/{name}"
    parts = urlsplit(req.url)
    return f"{parts.scheme}://{parts.netloc}{parts.path.rsplit('/', 1)[0]}/{name}"


def _shown() -> tuple[list[public_status.PublicIncident], datetime]:
    now = b.clock().now()
    return public_status.read(b.store(), now), now


@bp.route(route="status", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def get_status(req: func.HttpRequest) -> func.HttpResponse:
    def run() -> func.HttpResponse:
        incidents, now = _shown()
        return http.json_response(public_status.as_json(incidents, now), 200, CACHE)
    return http.respond(run)


@bp.route(route="status.html", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def get_status_html(req: func.HttpRequest) -> func.HttpResponse:
    def run() -> func.HttpResponse:
        incidents, now = _shown()
        page = public_pages.render_html(incidents, now, feed_url=_api_url(req, "status.atom"))
        return func.HttpResponse(page.encode("utf-8"), mimetype="text/html", charset="utf-8", headers=PAGE_HEADERS)
    return http.respond(run)


@bp.route(route="status.atom", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def get_status_atom(req: func.HttpRequest) -> func.HttpResponse:
    def run() -> func.HttpResponse:
        incidents, now = _shown()
        feed = public_pages.render_atom(incidents, now, self_url=_api_url(req, "status.atom"),
                                        html_url=_api_url(req, "status.html"))
        return func.HttpResponse(feed, mimetype="application/atom+xml", charset="utf-8", headers=CACHE)
    return http.respond(run)
