"""The one place that maps domain errors to HTTP status codes and writes JSON."""
from __future__ import annotations

import json
import logging
import math
import re
from typing import Any, Callable

import azure.functions as func

from functions import access
from shared.domain.errors import Unauthorized
from shared.ports import Principal
from shared.domain.errors import (Conflict, ConcurrencyConflict, DependencyFailed, DomainError, Forbidden,
                                  InvalidInput, NotFound, PayloadTooLarge, PolicyError, StoreRejected, StoreUnavailable,
                                  UnsupportedSchema)

log = logging.getLogger(__name__)
MAX_BODY = 1024 * 1024
MAX_DEPTH = 64          # objects and arrays inside each other; Azure Monitor's deepest payload has about 8
MAX_INT_DIGITS = 4300   # Python's own limit for int <-> str (sys.get_int_max_str_digits)
_SURROGATE = re.compile("[\ud800-\udfff]")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    text = json.dumps(body, ensure_ascii=False, default=str)
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate stored before input was checked: escape, never fail the read
        data = json.dumps(body, ensure_ascii=True, default=str).encode("ascii")
    return func.HttpResponse(data, status_code=status, mimetype="application/json", charset="utf-8",
                             headers=headers)


class _Refused:
    """Stands in for a JSON token the decoder met but the app refuses; the walk reports its path."""

    def __init__(self, why: str):
        self.why = why


def _int(digits: str) -> int | _Refused:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        return _Refused(f"is an integer of {len(digits.lstrip('-'))} digits; at most {MAX_INT_DIGITS}")
    return int(digits)


def _constant(name: str) -> _Refused:
    return _Refused(f"{name} is not a JSON number")


def body_json(req: func.HttpRequest, *, required: bool = True) -> Any:
    """The decoded JSON body, checked once for every route: Raises PayloadTooLarge over 1 MiB, and
    InvalidInput (naming the JSON path) when it is not JSON, is nested deeper than MAX_DEPTH, holds an
    integer of more than MAX_INT_DIGITS digits, NaN or Infinity, or a string (or key) with a lone
    surrogate, which no store or response can encode."""
    raw = req.get_body() or b""
    if len(raw) > MAX_BODY:
        raise PayloadTooLarge(f"body is {len(raw)} bytes; the limit is {MAX_BODY}")
    if not raw.strip():
        if required:
            raise InvalidInput("$", "a JSON body is required")
        return {}
    try:
        value = json.loads(raw, parse_int=_int, parse_constant=_constant)
    except RecursionError:  # the C decoder's own guard, at about 1,000 levels
        raise InvalidInput("$", f"nested deeper than {MAX_DEPTH} levels") from None
    except UnicodeDecodeError as e:
        raise InvalidInput("$", "body is not valid JSON (not UTF-8)") from e
    except json.JSONDecodeError as e:
        raise InvalidInput("$", f"body is not valid JSON ({e.msg} at character {e.pos})") from e
    _check(value)
    return value


def _check(value: Any) -> None:
    """Walk the decoded body without recursion; raise InvalidInput at the first thing refused."""
    if not isinstance(value, (dict, list)):
        _leaf(value, "$")
        return
    stack: list[tuple[Any, str, int]] = [(value, "$", 1)]
    while stack:
        node, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise InvalidInput(path, f"nested deeper than {MAX_DEPTH} levels")
        for key, child in (node.items() if isinstance(node, dict) else enumerate(node)):
            if isinstance(key, str) and not key.isascii() and _SURROGATE.search(key):
                raise InvalidInput(_join(path, key), "the key holds a lone surrogate: JSON text must be valid "
                                   "Unicode")
            if isinstance(child, (dict, list)):
                stack.append((child, _join(path, key), depth + 1))
            elif isinstance(child, (str, float, _Refused)):
                _leaf(child, path, key)


def _leaf(node: Any, path: str, key: Any = None) -> None:
    """A string, number or refused token at `path` (+ `key`, joined only when there is something to say)."""
    why = None
    if isinstance(node, str):
        bad = None if node.isascii() else _SURROGATE.search(node)
        if bad:
            why = (f"holds a lone surrogate (\\u{ord(bad.group()):04x} at character {bad.start()}): JSON text "
                   "must be valid Unicode")
    elif isinstance(node, float) and not math.isfinite(node):
        why = "is not a finite number"
    elif isinstance(node, _Refused):
        why = node.why
    if why:
        raise InvalidInput(path if key is None else _join(path, key), why)


def _join(path: str, key: Any) -> str:
    """`$.data.essentials` + `alertId`; `[3]` for an index; `["odd key"]` (escaped, shortened) otherwise."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if _NAME.fullmatch(key):
        return f"{path}.{key}"
    shown = key if len(key) <= 40 else key[:40] + "…"
    return f"{path}[{json.dumps(shown)}]"


def body_object(req: func.HttpRequest, *, required: bool = False) -> dict[str, Any]:
    body = body_json(req, required=required)
    if not isinstance(body, dict):
        raise InvalidInput("$", "the body must be a JSON object")
    return body


def actor(req: func.HttpRequest, body: dict[str, Any], principal: Principal | None = None) -> str:
    """Who acts, for the timeline: the verified principal when Entra ID is configured (a body `actor`
    is then ignored), else the body's `actor`, which may not claim a name the app or its roles use."""
    if principal is not None:
        return principal.actor
    value = body.get("actor", "operator")
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise InvalidInput("$.actor", "must be a non-empty string of at most 200 characters")
    if access.is_reserved(value.strip()):
        raise InvalidInput("$.actor", f"{value.strip()[:60]!r} is reserved (the app's own actors, on-call and app "
                                      "roles, verified principals); name the person")
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
    except Unauthorized as e:  # RFC 6750 §3: the challenge names the scheme, and the error once a token was sent
        challenge = 'Bearer error="invalid_token"' if e.invalid_token else "Bearer"
        return json_response({"error": "unauthorized", "message": str(e)}, 401, {"WWW-Authenticate": challenge})
    except Forbidden as e:
        return _error(403, "forbidden", str(e))
    except StoreRejected as e:
        return _error(400, "rejected_by_store", f"{e}: the request holds more than the store can keep")
    except (StoreUnavailable, ConcurrencyConflict, DependencyFailed) as e:
        log.warning("dependency unavailable: %s", e)
        return _error(503, "unavailable", f"{e}; retry later")
    except PolicyError as e:  # a setting or the runbook: not the caller's fault, and fixable, so retried
        log.error("configuration error: %s", e)
        return _error(503, "configuration_error", f"{e}; retry after the configuration is fixed")
    except DomainError as e:
        log.error("unmapped domain error: %s", e)
        return _error(503, "unavailable", f"{type(e).__name__}; retry later")
    except Exception:  # a bug: logged with its traceback, and answered so that Azure Monitor retries
        log.exception("unexpected error")
        return _error(503, "internal_error", "unexpected error; retry later")


def with_body(req: func.HttpRequest, call: Callable[[dict[str, Any], str], Any], *, status: int = 200,
              required: bool = False, op: str | None = None) -> func.HttpResponse:
    """Check the caller of route `op` (functions/access.py), decode the JSON object body and the actor,
    run `call(body, actor)`, and answer like `respond`."""
    def run() -> Any:
        principal = access.check(req, op)
        body = body_object(req, required=required)
        return call(body, actor(req, body, principal))
    return respond(run, status)


def authorized(req: func.HttpRequest, op: str, call: Callable[[], Any], status: int = 200) -> func.HttpResponse:
    """Check the caller of route `op` (functions/access.py), then run `call()` and answer like `respond`."""
    def run() -> Any:
        access.check(req, op)
        return call()
    return respond(run, status)
