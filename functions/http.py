"""The one place that maps domain errors to HTTP status codes and writes JSON."""
from __future__ import annotations

import json
import logging
from typing import Any, Callable

import azure.functions as func

from shared.domain.errors import (Conflict, ConcurrencyConflict, DependencyFailed, DomainError, Forbidden,
                                  InvalidInput, NotFound, PayloadTooLarge, PolicyError, StoreUnavailable,
                                  UnsupportedSchema)

log = logging.getLogger(__name__)
MAX_BODY = 1024 * 1024


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body, ensure_ascii=False, default=str), status_code=status,
                             mimetype="application/json", charset="utf-8", headers=headers)


def body_json(req: func.HttpRequest, *, required: bool = True) -> Any:
    """The decoded JSON body. Raises PayloadTooLarge over 1 MiB, InvalidInput when not JSON."""
    raw = req.get_body() or b""
    if len(raw) > MAX_BODY:
        raise PayloadTooLarge(f"body is {len(raw)} bytes; the limit is {MAX_BODY}")
    if not raw.strip():
        if required:
            raise InvalidInput("$", "a JSON body is required")
        return {}
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InvalidInput("$", f"body is not valid JSON ({getattr(e, 'msg', 'not UTF-8')})") from e


def body_object(req: func.HttpRequest, *, required: bool = False) -> dict[str, Any]:
    body = body_json(req, required=required)
    if not isinstance(body, dict):
        raise InvalidInput("$", "the body must be a JSON object")
    return body


def actor(req: func.HttpRequest, body: dict[str, Any]) -> str:
    """Who acts, for the timeline: from the body's `actor` until a verified principal is configured."""
    value = body.get("actor", "operator")
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise InvalidInput("$.actor", "must be a non-empty string of at most 200 characters")
    return value.strip()


def _error(status: int, code: str, message: str, **extra: Any) -> func.HttpResponse:
    headers = {"Retry-After": "30"} if status == 503 else None
    return json_response({"error": code, "message": message, **extra}, status, headers)


def respond(call: Callable[[], Any], status: int = 200) -> func.HttpResponse:
    """Run a use case and write its answer; every domain error becomes its status code here."""
    try:
        result = call()
        return result if isinstance(result, func.HttpResponse) else json_response(result, status)
    except UnsupportedSchema as e:
        return _error(400, "unsupported_schema", e.message, path=e.path, looks_like=e.looks_like)
    except InvalidInput as e:
        return _error(400, "invalid_input", f"{e.path}: {e.message}", path=e.path)
    except PayloadTooLarge as e:
        return _error(413, "payload_too_large", str(e))
    except NotFound as e:
        return _error(404, "not_found", str(e))
    except Conflict as e:
        return _error(409, "conflict", str(e))
    except Forbidden as e:
        return _error(403, "forbidden", str(e))
    except (StoreUnavailable, ConcurrencyConflict, DependencyFailed) as e:
        log.warning("dependency unavailable: %s", e)
        return _error(503, "unavailable", f"{e}; retry later")
    except PolicyError as e:
        log.error("configuration error: %s", e)
        return _error(500, "configuration_error", str(e))
    except DomainError as e:
        log.error("unmapped domain error: %s", e)
        return _error(500, "error", type(e).__name__)


def with_body(req: func.HttpRequest, call: Callable[[dict[str, Any], str], Any], *, status: int = 200,
              required: bool = False) -> func.HttpResponse:
    """Decode the JSON object body and the actor, run `call(body, actor)`, and answer like `respond`."""
    def run() -> Any:
        body = body_object(req, required=required)
        return call(body, actor(req, body))
    return respond(run, status)
