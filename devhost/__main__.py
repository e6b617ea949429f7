"""python -m devhost [--port 7071] [--host 127.0.0.1] [--time-scale N] [--no-timers] [--app function_app:app]

A stand-in for `func start` where Azure Functions Core Tools are not installed. It serves on the
settings it is given (environment, then local.settings.json, then the app's defaults) and refuses
to start, in one line, when they cannot work; `make run` also starts Azurite for it."""
from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import time
from typing import TYPE_CHECKING, Any, Callable, Iterable

from devhost import keys, logs, settings

if TYPE_CHECKING:
    from devhost.server import Route, Timer

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _interrupt(signum, frame):
    for s in STOP_SIGNALS:  # once: the clean-up that follows (stopping Azurite) is not cut short
        signal.signal(s, signal.SIG_IGN)
    raise KeyboardInterrupt


def install_signals() -> None:
    """Ctrl-C, kill and a closed terminal (SIGHUP) all stop the host the same way, clean-up included."""
    for s in STOP_SIGNALS:  # SIGINT too: a background job inherits it ignored
        signal.signal(s, _interrupt)


def say(text: str, stream=None) -> None:
    try:
        print(text, file=stream or sys.stdout, flush=True)
    except OSError:  # the terminal has gone (SIGHUP): the clean-up still runs
        pass


def banner(host, key_source: str, extra: Iterable[str] = ()) -> list[str]:
    """What the host serves and runs, for the terminal (the only place the key is printed)."""
    lines = [f"Local host: {host.url}/api/   (clock x{host.scale:g})",
             f"Function key ({key_source}): {host.key}   (header x-functions-key or ?code=)", "HTTP functions:"]
    for r in host.routes:
        methods = ",".join(sorted(r.methods)) if r.methods else "*"
        lines.append(f"  {methods:<12} {host.url}/api/{r.template}  [{r.auth}]  {r.name}")
    lines.append("Timers:" + ("" if host.timers_enabled else " disabled (--no-timers)"))
    for t in host.timers:
        resolved = f" = {t.cron.expression}" if t.cron and t.cron.expression != t.schedule else ""
        startup = "  (run on startup)" if t.run_on_startup else ""
        error = f"  ERROR: {t.error}" if t.error else ""
        lines.append(f"  {t.name}: {t.schedule}{resolved}{startup}{error}")
    return lines + list(extra) + ["ready"]


def load_app(spec: str):
    """`module:attribute` (attribute defaults to `app`), imported from the current directory."""
    module, _, attribute = spec.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    return getattr(importlib.import_module(module), attribute or "app")


def problems(app, environ) -> list[str]:
    """Why the host cannot serve (empty when it can): the app's settings, its store, functions in error."""
    from devhost.server import discover
    from shared.config import Settings
    from shared.domain.errors import PolicyError
    found = []
    try:
        config = Settings.from_env(environ)
        if not (config.tables_connection_string or config.tables_endpoint):
            found.append("no store: set TABLES_CONNECTION_STRING (`make run` starts Azurite and sets it) "
                         "or TABLES_ENDPOINT")
    except PolicyError as e:
        found.append(str(e))
    routes, timers = discover(app, environ)
    functions: tuple[Route | Timer, ...] = (*routes, *timers)
    return found + [f"function {f.name} is in error: {f.error}" for f in functions if f.error]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m devhost", description=__doc__.split("\n\n", 1)[1])
    p.add_argument("--port", type=int, default=7071, help="port to serve on (0: any free port; default 7071)")
    p.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1)")
    p.add_argument("--time-scale", type=float, default=1.0, metavar="N",
                   help="the app's clock (and its timers) run N times faster than real time (default 1)")
    p.add_argument("--no-timers", action="store_true", help="do not run timer triggers")
    p.add_argument("--app", default="function_app:app", help="module:attribute of the FunctionApp")
    return p


def main(argv: list[str] | None = None, *, hint: Callable[[Any], list[str]] | None = None) -> int:
    """Serve until a stop signal; 1 when the host cannot serve. `hint(host)`: lines for the banner."""
    p = parser()
    args = p.parse_args(argv)
    if args.time_scale <= 0:
        p.error("--time-scale must be positive")
    install_signals()
    host = None
    try:
        settings.load()  # before the app is imported: it reads its settings from the environment
        key, source = keys.ensure_key(keep=keys.KEY_FILE)  # in the app's folder, like local.settings.json
        from shared.adapters.clock import ScaledClock
        clock = ScaledClock(args.time_scale)
        logs.configure(clock=clock, scale=args.time_scale, secrets=(key,))
        app = load_app(args.app)
        if found := problems(app, os.environ):
            say(f"devhost: cannot serve: {'; '.join(found)}", sys.stderr)
            return 1
        from devhost.server import serve
        try:
            host = serve(app, port=args.port, host=args.host, time_scale=args.time_scale, clock=clock,
                         timers=not args.no_timers, key=key)
        except OSError as e:
            say(f"devhost: cannot listen on {args.host}:{args.port}: {e.strerror}", sys.stderr)
            return 1
        say("\n".join(banner(host, source, hint(host) if hint else ())))
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        say("stopping")
    finally:
        if host is not None:
            host.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
