"""`make run` (`python -m devhost.local`): Azurite on loopback, then the local host, until Ctrl-C,
`kill` or a closed terminal, which stop both.

On the real-time clock the host uses the checkout's Azurite on `.azurite/`: started here, or joined
when another host of this checkout already runs it (the last host to stop stops it). With
--time-scale other than 1 it gets an in-memory Azurite of its own, so that no future timestamps
reach the real-time data. A store set in TABLES_CONNECTION_STRING or TABLES_ENDPOINT is used as is
on the real-time clock. The function key is FUNCTIONS_KEY, else the one kept in `.devhost-key`.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from devhost import __main__ as devhost_main
from devhost import settings
from devhost.azurite import ROOT, Azurite
from devhost.store import SharedAzurite, StoreError, scratch

SAMPLE = Path(__file__).resolve().parent / "sample-alert.json"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m devhost.local", description=__doc__.split("\n\n")[0],
                                epilog="\n\n".join(__doc__.split("\n\n")[1:]),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=int(os.environ.get("PORT") or 7071),
                   help="port of the local host (default: $PORT, else 7071; 0: any free port)")
    p.add_argument("--time-scale", type=float, default=1.0, metavar="N",
                   help="run the app's clock N times faster than real time, on a store of its own "
                        "(`TIME_SCALE=60 make run`; default 1)")
    p.add_argument("--no-timers", action="store_true", help="do not run timer triggers")
    p.add_argument("--azurite-port", type=int, default=10002, metavar="PORT",
                   help="port for a newly started Azurite when free (default 10002; 0: any free port)")
    p.add_argument("--azurite-dir", default=str(ROOT / ".azurite"), metavar="DIR",
                   help="Azurite's data folder for real-time runs (default: .azurite/ of this checkout)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.time_scale <= 0:
        parser().error("--time-scale must be positive")
    devhost_main.install_signals()  # before Azurite starts: a signal now still stops it
    store: Azurite | SharedAzurite | None = None
    try:
        settings.load()  # local.settings.json, if the developer made one
        if args.time_scale != 1:
            store = scratch()
            assert store.proc is not None  # scratch() started it
            os.environ["TABLES_ENDPOINT"] = ""  # set, so that local.settings.json does not fill it in
            os.environ["TABLES_CONNECTION_STRING"] = store.connection_string
            print(f"Azurite on 127.0.0.1:{store.port}, in memory (pid {store.proc.pid}): the store of this "
                  f"x{args.time_scale:g} run only", flush=True)
        elif not (os.environ.get("TABLES_CONNECTION_STRING") or os.environ.get("TABLES_ENDPOINT")):
            store = SharedAzurite(args.azurite_dir, args.azurite_port).open()
            os.environ["TABLES_CONNECTION_STRING"] = store.connection_string
            print(store.describe(), flush=True)
        host_args = ["--port", str(args.port), "--time-scale", str(args.time_scale)]
        return devhost_main.main(host_args + ["--no-timers"] * args.no_timers, hint=try_it)
    except (StoreError, RuntimeError) as e:
        devhost_main.say(f"devhost: {e}", sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        if store is not None:
            store.close()


def try_it(host) -> list[str]:
    """A ready-to-paste curl for the banner: post the sample alert, then list incidents."""
    auth = '-H "x-functions-key: $FUNCTIONS_KEY"'
    post = (f"curl -s -X POST {host.url}/api/alerts {auth} -H 'content-type: application/json' "
            f"--data @{SAMPLE.relative_to(ROOT)}")
    return ["Try it:", f"  export FUNCTIONS_KEY='{host.key}'", f"  {post}",
            f"  curl -s {host.url}/api/incidents {auth}"]


if __name__ == "__main__":
    sys.exit(main())
