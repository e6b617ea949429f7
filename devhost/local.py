"""`make run`: Azurite on loopback, then the local host, until Ctrl-C (which stops both).

Sets what a fresh checkout needs (the Azurite connection string, the sweep schedule, a function
key), prints the key and a ready-to-paste curl, then serves like `python -m devhost`.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from devhost import __main__ as devhost_main
from devhost import settings
from devhost.azurite import ROOT, Azurite, free_port

SAMPLE = Path(__file__).resolve().parent / "sample-alert.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make run")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or 7071))
    parser.add_argument("--azurite-port", type=int, default=10002)
    parser.add_argument("--time-scale", type=float, default=1.0)
    args, rest = parser.parse_known_args(argv)
    settings.load()  # local.settings.json, if the developer made one
    os.environ.setdefault("ESCALATION_SCHEDULE", "*/10 * * * * *")
    key, _ = settings.ensure_key()
    azurite = None
    if not (os.environ.get("TABLES_CONNECTION_STRING") or os.environ.get("TABLES_ENDPOINT")):
        port = args.azurite_port if _free(args.azurite_port) else free_port()
        azurite = Azurite(port=port, location=str(ROOT / ".azurite")).start()
        os.environ["TABLES_CONNECTION_STRING"] = azurite.connection_string
        print(f"Azurite Table service on 127.0.0.1:{port} (data in .azurite/)")
    print("\nTry it:\n"
          f"  export FUNCTIONS_KEY='{key}'\n"
          f"  curl -s -X POST http://127.0.0.1:{args.port}/api/alerts -H \"x-functions-key: $FUNCTIONS_KEY\" "
          f"-H 'content-type: application/json' --data @{SAMPLE.relative_to(ROOT)}\n"
          f"  curl -s http://127.0.0.1:{args.port}/api/incidents -H \"x-functions-key: $FUNCTIONS_KEY\"\n",
          flush=True)
    try:
        return devhost_main.main(["--port", str(args.port), "--time-scale", str(args.time_scale), *rest])
    finally:
        if azurite is not None:
            azurite.stop()


def _free(port: int) -> bool:
    import socket
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


if __name__ == "__main__":
    sys.exit(main())
