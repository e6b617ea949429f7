"""The local host: serves the app's HTTP triggers under /api and runs its timer triggers.

Every function is found through the app's own registry (`app.get_functions()`): no second list.
"""
from __future__ import annotations

import asyncio
import inspect
import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, Callable, Mapping, MutableMapping, cast
from urllib.parse import unquote

import azure.functions as func
from azure.functions.decorators.constants import HTTP_TRIGGER, TIMER_TRIGGER
from azure.functions.decorators.http import HttpTrigger
from azure.functions.decorators.timer import TimerTrigger
from azure.functions.timer import TimerRequest

from devhost import cron, keys, settings
from devhost.http_handler import READ_TIMEOUT, Handler, Server
from shared import bootstrap
from shared.adapters.clock import ScaledClock

log = logging.getLogger(__name__)
_PARAM = re.compile(r"\{(\*{0,2})([A-Za-z_]\w*)((?::[^:{}?]+)*)(\?)?\}")
_CONSTRAINTS = {"int": r"-?\d+", "long": r"-?\d+", "alpha": "[A-Za-z]+", "bool": "(?i:true|false)",
                "guid": r"[0-9A-Fa-f]{8}-?(?:[0-9A-Fa-f]{4}-?){3}[0-9A-Fa-f]{12}"}


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
    error: str | None = None

    def __post_init__(self):
        self.regex, self.params = compile_route(self.template)

    def call(self, request: func.HttpRequest) -> Any:
        return invoke(self.fn, self.arg, request)

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
    """The app's HTTP routes (in matching order) and timers, from its own function registry.

    `%SETTING%` in a schedule comes from `environ`, then from the app's documented defaults. A
    function that cannot run carries its `error` (the caller decides whether to serve anyway)."""
    app.functions_bindings = None  # get_functions() remembers names and rejects them on a second call
    values = settings.with_defaults(environ)
    routes, timers = [], []
    for f in app.get_functions():
        trigger, name, fn = f.get_trigger(), f.get_function_name(), f.get_user_function()
        # get_functions() validated every function: each has its trigger, and a name (its own or the def's)
        assert trigger is not None and name is not None
        error = _signature_error(fn, trigger.name)
        if trigger.type == HTTP_TRIGGER:
            http = cast(HttpTrigger, trigger)  # what the type says; the route was filled in by get_functions()
            methods = frozenset(str(getattr(m, "value", m)).upper() for m in http.methods or ()) or None
            auth = str(getattr(http.auth_level, "value", http.auth_level or "function")).lower()
            routes.append(Route(name, cast(str, http.route), methods, auth, http.name, fn, error))
        elif trigger.type == TIMER_TRIGGER:
            timer = cast(TimerTrigger, trigger)  # what the type says
            schedule = None
            try:
                schedule = cron.Cron.parse(cron.resolve(timer.schedule, values))
            except ValueError as e:
                error = error or str(e)
            timers.append(Timer(name, timer.schedule, timer.name, fn, bool(timer.run_on_startup),
                                schedule if error is None else None, error))
        else:
            log.warning("function %s: %s triggers are not served by the local host", name, trigger.type)
    return sorted(routes, key=Route.precedence), timers


def invoke(fn: Callable[..., Any], arg: str, value: Any) -> Any:
    """Call a user function as the worker does: the trigger, under its declared parameter name, only."""
    result = fn(**{arg: value})
    return asyncio.run(result) if inspect.iscoroutine(result) else result


def _signature_error(fn: Callable[..., Any], arg: str) -> str | None:
    params = inspect.signature(fn).parameters
    if arg not in params:  # the worker refuses to load such a function
        return f"its trigger binds parameter {arg!r}, the function takes {list(params)}"
    return None


class Host:
    """A running local host: `.port`, `.url`, `.routes`, `.timers`, `.stop()`."""

    def __init__(self, app: func.FunctionApp, *, host: str, port: int, key: str, clock, scale: float,
                 timers: bool, environ: Mapping[str, str], read_timeout: float = READ_TIMEOUT):
        self.key, self.clock, self.scale, self.timers_enabled = key, clock, scale, timers
        self.read_timeout = read_timeout
        self.routes, self.timers = discover(app, environ)
        for name, error in self.errors:
            log.error("The '%s' function is in error: %s", name, error)
        self._stop = threading.Event()
        self._server = Server((host, port), Handler)
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

    @property
    def errors(self) -> list[tuple[str, str]]:
        """(function name, why it cannot run) for each function in error."""
        functions: tuple[Route | Timer, ...] = (*self.routes, *self.timers)
        return [(f.name, f.error) for f in functions if f.error]

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
          environ: MutableMapping[str, str] = os.environ, read_timeout: float = READ_TIMEOUT) -> Host:
    """Start serving `app` in background threads; the app's clock becomes ScaledClock(time_scale).

    `read_timeout`: seconds any read from a client may take (a slow body is answered 408)."""
    clock = clock or ScaledClock(time_scale)
    bootstrap.override(clock=clock)
    key = key or keys.ensure_key(environ)[0]
    return Host(app, host=host, port=port, key=key, clock=clock, scale=time_scale, timers=timers,
                environ=environ, read_timeout=read_timeout)
