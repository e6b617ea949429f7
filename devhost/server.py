"""The local host: serves the app's HTTP triggers under /api and runs its timer triggers.

Every function is found through the app's own registry (`app.get_functions()`): no second list.
"""
from __future__ import annotations

import asyncio
import hmac
import inspect
import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Mapping, MutableMapping
from urllib.parse import parse_qsl, unquote, urlsplit

import azure.functions as func
from azure.functions.decorators.constants import HTTP_TRIGGER, TIMER_TRIGGER
from azure.functions.timer import TimerRequest

from devhost import cron, settings
from shared import bootstrap
from shared.adapters.clock import ScaledClock

log = logging.getLogger(__name__)
access_log = logging.getLogger("devhost.access")
PREFIX = "/api/"
MAX_BODY = 100 * 1024 * 1024  # the app enforces its own, smaller limit
_PARAM = re.compile(r"\{(\*{0,2})([A-Za-z_]\w*)((?::[^:{}?]+)*)(\?)?\}")
_CONSTRAINTS = {"int": r"-?\d+", "long": r"-?\d+", "alpha": "[A-Za-z]+", "bool": "(?i:true|false)",
                "guid": r"[0-9A-Fa-f]{8}-?(?:[0-9A-Fa-f]{4}-?){3}[0-9A-Fa-f]{12}"}
_CODE = re.compile(r"([?&]code=)[^&#]*", re.IGNORECASE)


def compile_route(template: str) -> tuple[re.Pattern, list[str]]:
    """An ASP.NET-style route template as a regex over the path after /api/ (simple constraints)."""
    template = template.strip("/")
    pattern, names, at = "", [], 0
    for m in _PARAM.finditer(template):
        pattern += re.escape(template[at:m.start()])
        at = m.end()
        star, name, constraints, optional = m.groups()
        kind = constraints.split(":")[1].split("(")[0] if constraints else ""
        body = ".+" if star else _CONSTRAINTS.get(kind, "[^/]+")
        names.append(name)
        if optional and pattern.endswith("/"):  # `a/{b?}` also matches `a`
            pattern = pattern[:-1] + f"(?:/({body}))?"
        else:
            pattern += f"({body})" + ("?" if optional else "")
    return re.compile(pattern + re.escape(template[at:]), re.IGNORECASE), names


@dataclass
class Route:
    name: str
    template: str
    methods: frozenset[str] | None  # None: every method
    auth: str  # "anonymous", "function" or "admin"
    arg: str
    fn: Callable[..., Any]

    def __post_init__(self):
        self.regex, self.params = compile_route(self.template)

    def match(self, path: str) -> dict[str, str] | None:
        m = self.regex.fullmatch(path)
        if m is None:
            return None
        return {n: unquote(v) for n, v in zip(self.params, m.groups()) if v is not None}

    def precedence(self) -> tuple:  # literal routes before templated ones, catch-alls last
        return ("{*" in self.template, len(self.params), -len(self.template))


@dataclass
class Timer:
    name: str
    schedule: str
    arg: str
    fn: Callable[..., Any]
    run_on_startup: bool
    cron: cron.Cron | None
    error: str | None
    idle: threading.Lock = field(default_factory=threading.Lock)
    guard: threading.Lock = field(default_factory=threading.Lock)
    missed: tuple | None = None      # an occurrence that came while a run was going on


def discover(app: func.FunctionApp,
             environ: Mapping[str, str] = os.environ) -> tuple[list[Route], list[Timer]]:
    """The app's HTTP routes (in matching order) and timers, from its own function registry."""
    app.functions_bindings = None  # get_functions() remembers names and rejects them on a second call
    routes, timers = [], []
    for f in app.get_functions():
        trigger, name = f.get_trigger(), f.get_function_name()
        _check_signature(name, f.get_user_function(), trigger.name)
        if trigger.type == HTTP_TRIGGER:
            methods = frozenset(str(getattr(m, "value", m)).upper() for m in trigger.methods or ()) or None
            auth = str(getattr(trigger.auth_level, "value", trigger.auth_level or "function")).lower()
            routes.append(Route(name, trigger.route, methods, auth, trigger.name, f.get_user_function()))
        elif trigger.type == TIMER_TRIGGER:
            try:
                schedule, error = cron.Cron.parse(cron.resolve(trigger.schedule, environ)), None
            except ValueError as e:
                schedule, error = None, str(e)
                log.error("The '%s' function is in error: %s", name, e)
            timers.append(Timer(name, trigger.schedule, trigger.name, f.get_user_function(),
                                bool(trigger.run_on_startup), schedule, error))
        else:
            log.warning("function %s: %s triggers are not served by the local host", name, trigger.type)
    return sorted(routes, key=Route.precedence), timers


def invoke(fn: Callable[..., Any], arg: str, value: Any) -> Any:
    """Call a user function as the worker does: the trigger, under its declared parameter name, only."""
    result = fn(**{arg: value})
    return asyncio.run(result) if inspect.iscoroutine(result) else result


def _check_signature(name: str, fn: Callable[..., Any], arg: str) -> None:
    params = inspect.signature(fn).parameters
    if arg not in params:  # the worker refuses to load such a function; say so at startup
        log.error("The '%s' function is in error: its trigger binds parameter %r, the function takes %s",
                  name, arg, list(params))


def _content_type(mimetype: str, charset: str) -> str:
    textual = mimetype.startswith("text/") or mimetype.endswith(("json", "xml", "javascript"))
    return f"{mimetype}; charset={charset}" if textual and "charset" not in mimetype else mimetype


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _handle(self) -> None:
        started, self._consumed = time.perf_counter(), False
        status = self._dispatch()
        access_log.info("%s %s %d %.1fms", self.command, _CODE.sub(r"\1***", self.path), status,
                        (time.perf_counter() - started) * 1000)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

    def log_request(self, code="-", size="-") -> None:  # _handle writes the access log
        pass

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s", _CODE.sub(r"\1***", format % args))

    def _dispatch(self) -> int:
        host: Host = self.server.devhost
        url = urlsplit(self.path)
        if not url.path.startswith(PREFIX):
            return self._send(404)
        path = url.path[len(PREFIX):].rstrip("/")
        matches = [(r, p) for r in host.routes if (p := r.match(path)) is not None]
        chosen = next(((r, p) for r, p in matches if not r.methods or self.command in r.methods), None)
        if chosen is None and matches:
            allowed = sorted(set().union(*(r.methods for r, _ in matches)))
            return self._send(405, headers=[("Allow", ", ".join(allowed))])
        if chosen is None:
            return self._send(404)
        route, route_params = chosen
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        if route.auth != "anonymous":
            given = self.headers.get("x-functions-key") or params.get("code") or ""
            if not hmac.compare_digest(given.encode(), host.key.encode()):
                return self._send(401)
        try:
            body = self._read_body()
        except ValueError:
            return self._send(400, b"malformed request body framing")
        if body is None:
            return self._send(413, b"request body over 100 MiB")
        headers = {k: ", ".join(self.headers.get_all(k)) for k in self.headers.keys()}
        url = f"http://{self.headers.get('Host', host.address)}{self.path}"
        request = func.HttpRequest(self.command, url, headers=headers, params=params,
                                   route_params=route_params, body=body)
        try:
            response = invoke(route.fn, route.arg, request)
            if isinstance(response, (str, bytes)):
                response = func.HttpResponse(response)
            if not isinstance(response, func.HttpResponse):
                raise TypeError(f"returned {type(response).__name__}, not func.HttpResponse")
        except Exception:  # the host's answer to a failed invocation; the traceback goes to the log
            log.exception("Executed 'Functions.%s' (Failed)", route.name)
            return self._send(500, b"Internal Server Error")
        out = [(k, v) for k, v in response.headers.items()
               if k.lower() not in ("content-length", "transfer-encoding", "connection")]
        if not any(k.lower() == "content-type" for k, _ in out):
            out.append(("Content-Type", _content_type(response.mimetype, response.charset)))
        return self._send(response.status_code, response.get_body(), out)

    def _read_body(self) -> bytes | None:
        """The request body; None when it is over MAX_BODY (left unread)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks, size = [], 0
            while (n := int(self.rfile.readline().split(b";")[0], 16)) > 0:
                size += n
                if size > MAX_BODY:
                    return None
                chunks.append(self.rfile.read(n))
                self.rfile.readline()
            while self.rfile.readline().strip():  # trailers
                pass
            self._consumed = True
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        if length > MAX_BODY:
            return None
        body, self._consumed = self.rfile.read(length), True
        return body

    def _send(self, status: int, body: bytes = b"", headers: list[tuple[str, str]] | None = None) -> int:
        """Write a whole response; close the connection when the request body was left unread."""
        if not headers and body:
            headers = [("Content-Type", "text/plain; charset=utf-8")]
        unread = not self._consumed and (self.headers.get("Content-Length", "0") != "0"
                                         or "Transfer-Encoding" in self.headers)
        self.send_response(status)
        for k, v in headers or ():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        if unread:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        return status


class Host:
    """A running local host: `.port`, `.url`, `.routes`, `.timers`, `.stop()`."""

    def __init__(self, app: func.FunctionApp, *, host: str, port: int, key: str, clock, scale: float,
                 timers: bool, environ: Mapping[str, str]):
        self.key, self.clock, self.scale, self.timers_enabled = key, clock, scale, timers
        self.routes, self.timers = discover(app, environ)
        self._stop = threading.Event()
        self._server = ThreadingHTTPServer((host, port), _Handler)
        self._server.daemon_threads = True
        self._server.devhost = self
        self.address = f"{host}:{self.port}"
        self.url = f"http://{self.address}"
        self._threads = [threading.Thread(target=self._server.serve_forever, args=(0.1,), daemon=True)]
        self._threads += [threading.Thread(target=cron.run_schedule, name=f"timer-{t.name}", daemon=True,
                                           args=(t.cron, clock, scale, self._stop, partial(self._fire, t),
                                                 t.run_on_startup))
                          for t in self.timers if t.cron and timers]
        for t in self._threads:
            t.start()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        for t in self._threads:
            t.join(timeout=5)

    def _fire(self, timer: Timer, past_due: bool, due_at: datetime, next_at: datetime | None) -> None:
        with timer.guard:
            if not timer.idle.acquire(blocking=False):
                # As on Azure: a run never overlaps itself; the occurrence runs, past due, when the
                # current run ends (several missed occurrences make one late run).
                log.warning("timer %s: the %s occurrence waits for the running one", timer.name, due_at.isoformat())
                timer.missed = (due_at, next_at)
                return
        threading.Thread(target=self._run, args=(timer, _request(past_due, due_at, next_at)), daemon=True).start()

    def _run(self, timer: Timer, request: TimerRequest) -> None:
        while True:
            started = time.perf_counter()
            try:
                invoke(timer.fn, timer.arg, request)
                log.debug("Executed 'Functions.%s' (Succeeded, %.0f ms)", timer.name,
                          (time.perf_counter() - started) * 1000)
            except Exception:  # a failed timer run is logged; the next occurrence still fires, as on Azure
                log.exception("Executed 'Functions.%s' (Failed)", timer.name)
            with timer.guard:
                missed, timer.missed = timer.missed, None
                if missed is None or self._stop.is_set():
                    timer.idle.release()
                    return
            request = _request(True, *missed)


def _request(past_due: bool, due_at: datetime, next_at: datetime | None) -> TimerRequest:
    status = {"Last": due_at.isoformat(), "Next": next_at.isoformat() if next_at else None,
              "LastUpdated": due_at.isoformat()}
    return TimerRequest(past_due=past_due, schedule_status=status, schedule={"AdjustForDST": True})


def serve(app: func.FunctionApp, *, port: int = 7071, host: str = "127.0.0.1",
          time_scale: float = 1.0, timers: bool = True, key: str | None = None, clock=None,
          environ: MutableMapping[str, str] = os.environ) -> Host:
    """Start serving `app` in background threads; the app's clock becomes ScaledClock(time_scale)."""
    clock = clock or ScaledClock(time_scale)
    bootstrap.override(clock=clock)
    key = key or settings.ensure_key(environ)[0]
    return Host(app, host=host, port=port, key=key, clock=clock, scale=time_scale, timers=timers,
                environ=environ)
