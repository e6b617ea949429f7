"""`python -m incidentctl`: list, show, ack, resolve, severity, note, oncall [--json].

Exit codes: 0 ok; 1 the API answered with an error; 2 usage; 3 the API cannot be reached.
"""
from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import sys
from contextlib import redirect_stderr, redirect_stdout
from datetime import datetime
from typing import Any, Callable, Mapping, Sequence, TextIO

from incidentctl import render
from incidentctl.client import DEFAULT_URL, ApiClient, ApiError, Unreachable

EXIT_OK, EXIT_API, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3


def _severity(value: str) -> str:
    m = re.fullmatch(r"(?:sev-?)?([1-4])", value.strip(), re.IGNORECASE)
    if not m:
        raise argparse.ArgumentTypeError(f"{value!r} is not a severity (SEV-1 .. SEV-4)")
    return f"SEV-{m.group(1)}"


def _iso(value: str) -> str:
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an ISO-8601 time (e.g. 2026-11-27T03:00:00Z)") from None
    return value


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive whole number")
    return int(value)


def parser() -> argparse.ArgumentParser:
    # --json is accepted before or after the subcommand; SUPPRESS keeps the sub-parser from
    # overwriting a top-level --json with its own default.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print the API's JSON answer instead of a table")
    p = argparse.ArgumentParser(prog="incidentctl", parents=[common],
                                description="Operate incidents through the incident-response HTTP API "
                                            f"(INCIDENT_API_URL, default {DEFAULT_URL}; key in FUNCTIONS_KEY).")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ls = sub.add_parser("list", parents=[common], help="list incidents")
    ls.add_argument("--status", help="triggered, acknowledged or resolved")
    ls.add_argument("--severity", type=_severity, help="SEV-1 .. SEV-4")
    ls.add_argument("--since", type=_iso, help="created at or after this ISO-8601 time")
    ls.add_argument("--limit", type=_positive, help="at most this many")

    sub.add_parser("show", parents=[common], help="one incident with its timeline").add_argument("id")
    for name, verb in (("ack", "acknowledge"), ("resolve", "resolve")):
        sp = sub.add_parser(name, parents=[common], help=f"{verb} an incident")
        sp.add_argument("id")
        sp.add_argument("-m", "--message", help="a message for the timeline")

    sev = sub.add_parser("severity", parents=[common], help="reclassify an incident")
    sev.add_argument("id")
    sev.add_argument("severity", type=_severity, help="SEV-1 .. SEV-4")
    sev.add_argument("--reason", required=True, help="why (goes on the timeline)")

    note = sub.add_parser("note", parents=[common], help="add a timeline note")
    note.add_argument("id")
    note.add_argument("text", nargs="+")

    sub.add_parser("oncall", parents=[common], help="who holds each on-call role now")
    return p


def default_actor(env: Mapping[str, str]) -> str:
    if env.get("INCIDENT_ACTOR"):
        return env["INCIDENT_ACTOR"]
    try:
        return getpass.getuser()
    except (KeyError, OSError):      # no login name in some containers
        return "operator"


def run(args: argparse.Namespace, api: ApiClient, actor: str) -> tuple[Any, Callable[[Any], str]]:
    """Call the API for one subcommand; return its answer and how to render it."""
    c = args.command
    if c == "list":
        return (api.list_incidents(status=args.status, severity=args.severity, since=args.since, limit=args.limit),
                render.incidents)
    if c == "show":
        return api.incident(args.id), render.incident
    if c == "ack":
        return (api.acknowledge(args.id, actor=actor, message=args.message),
                lambda a: render.changed(a, "acknowledged", args.id))
    if c == "resolve":
        return (api.resolve(args.id, actor=actor, message=args.message),
                lambda a: render.changed(a, "resolved", args.id))
    if c == "severity":
        return (api.set_severity(args.id, severity=args.severity, reason=args.reason, actor=actor),
                lambda a: render.changed(a, f"reclassified as {args.severity}", args.id))
    if c == "note":
        return (api.add_note(args.id, text=" ".join(args.text), actor=actor),
                lambda a: f"note added to {args.id}")
    return api.oncall(), render.oncall


def main(argv: Sequence[str] | None = None, *, env: Mapping[str, str] | None = None,
         stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    env = os.environ if env is None else env
    out, err = stdout or sys.stdout, stderr or sys.stderr
    try:
        with redirect_stdout(out), redirect_stderr(err):
            args = parser().parse_args(argv)
    except SystemExit as e:          # argparse has printed the usage already
        return EXIT_OK if e.code == 0 else EXIT_USAGE
    api = ApiClient(base_url=env.get("INCIDENT_API_URL") or DEFAULT_URL, key=env.get("FUNCTIONS_KEY", ""))
    try:
        answer, show = run(args, api, default_actor(env))
    except ApiError as e:
        hint = " (set FUNCTIONS_KEY to the key `make run` printed)" if e.status == 401 else ""
        print(f"{e.status} {e.reason}: {e.message}{hint}", file=err)
        return EXIT_API
    except Unreachable as e:
        print(f"incidentctl: cannot connect to {e.url} ({e.why}). Is the local host running? "
              "Start it with `make run`, or set INCIDENT_API_URL.", file=err)
        return EXIT_UNREACHABLE
    if getattr(args, "json", False):
        print(json.dumps(answer, indent=2, ensure_ascii=False), file=out)
    else:
        print(show(answer), file=out)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
