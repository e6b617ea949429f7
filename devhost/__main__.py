"""python -m devhost [--port 7071] [--host 127.0.0.1] [--time-scale N] [--no-timers] [--app function_app:app]

A stand-in for `func start` where Azure Functions Core Tools are not installed."""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import time

from devhost import settings


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def banner(host, key_generated: bool) -> list[str]:
    """What the host serves and runs, for the terminal (the only place the key is printed)."""
    lines = [f"Local host: {host.url}/api/   (clock x{host.scale:g})",
             f"Function key{' (generated)' if key_generated else ''}: {host.key}"
             "   (header x-functions-key or ?code=)", "HTTP functions:"]
    for r in host.routes:
        methods = ",".join(sorted(r.methods)) if r.methods else "*"
        lines.append(f"  {methods:<12} {host.url}/api/{r.template}  [{r.auth}]  {r.name}")
    lines.append("Timers:" + ("" if host.timers_enabled else " disabled (--no-timers)"))
    for t in host.timers:
        resolved = f" = {t.cron.expression}" if t.cron and t.cron.expression != t.schedule else ""
        startup = "  (run on startup)" if t.run_on_startup else ""
        error = f"  ERROR: {t.error}" if t.error else ""
        lines.append(f"  {t.name}: {t.schedule}{resolved}{startup}{error}")
    return lines + ["ready"]


def load_app(spec: str):
    """`module:attribute` (attribute defaults to `app`), imported from the current directory."""
    module, _, attribute = spec.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    return getattr(importlib.import_module(module), attribute or "app")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__.split("\n\n")[1])
    parser.add_argument("--port", type=int, default=7071)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--time-scale", type=float, default=1.0, metavar="N",
                        help="the app's clock (and its timers) run N times faster than real time")
    parser.add_argument("--no-timers", action="store_true", help="do not run timer triggers")
    parser.add_argument("--app", default="function_app:app", help="module:attribute of the FunctionApp")
    args = parser.parse_args(argv)
    if args.time_scale <= 0:
        parser.error("--time-scale must be positive")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)

    for signum in (signal.SIGINT, signal.SIGTERM):  # SIGINT too: a background job inherits it ignored
        signal.signal(signum, _interrupt)
    host = None
    try:
        settings.load()  # before the app is imported: it reads its settings from the environment
        key, generated = settings.ensure_key()
        app = load_app(args.app)
        from devhost.server import serve
        try:
            host = serve(app, port=args.port, host=args.host, time_scale=args.time_scale,
                         timers=not args.no_timers, key=key)
        except OSError as e:
            print(f"devhost: cannot listen on {args.host}:{args.port}: {e.strerror}", file=sys.stderr)
            return 1
        print("\n".join(banner(host, generated)), flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("stopping", flush=True)
    finally:
        if host is not None:
            host.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
