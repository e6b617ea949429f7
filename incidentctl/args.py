"""The command line: one argparse parser for every command, and the types of its arguments.

Times are ISO-8601 (naive means UTC, as in the API) or relative to now: `now`, `+2h`, `30m`,
`1h30m`, `2d` (units s, m, h, d, w); a leading `-` means before now (write `--start=-10m`).
"""
from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from incidentctl.client import DEFAULT_URL

# The API's vocabularies, repeated here so that usage errors and shell completion need no call.
STATES = ("triggered", "acknowledged", "resolved")
PHASES = ("investigating", "identified", "monitoring", "resolved")
IMPACTS = ("core", "degraded", "minor")
SCOPES = ("all", "some", "one")
ROLES = ("primary", "secondary", "engineering_lead", "vp_engineering", "security_lead",
         "customer_success_lead", "cto")
SEVERITIES = ("SEV-1", "SEV-2", "SEV-3", "SEV-4")
SHELLS = ("bash", "zsh")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_RELATIVE = re.compile(r"([+-]?)((?:\d+[smhdw])+)")
EPILOG = ("Times: ISO-8601 (2026-11-27T22:00:00Z; naive means UTC) or relative to now (now, +2h, 30m, 1h30m, 2d). "
          "Exit codes: 0 ok, 1 the API answered with an error, 2 usage, 3 the API cannot be reached.")


def severity(value: str) -> str:
    m = re.fullmatch(r"(?:sev-?)?([1-4])", value.strip(), re.IGNORECASE)
    if not m:
        raise argparse.ArgumentTypeError(f"{value!r} is not a severity (SEV-1 .. SEV-4)")
    return f"SEV-{m.group(1)}"


def iso(value: str) -> str:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an ISO-8601 time (e.g. 2026-11-27T03:00:00Z)") from None
    return value


def positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive whole number")
    return int(value)


def text(value: str) -> str:
    if not value.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return value.strip()


def instant(now: Callable[[], datetime]) -> Callable[[str], str]:
    """The argument type of a time: ISO-8601 or relative to `now()`, sent as UTC `...Z`."""
    def parse(value: str) -> str:
        v = value.strip().lower()
        if v == "now":
            return _z(now())
        m = _RELATIVE.fullmatch(v)
        if m:
            delta = sum((timedelta(**{_UNITS[u]: int(n)}) for n, u in re.findall(r"(\d+)([smhdw])", m.group(2))),
                        timedelta())
            return _z(now() - delta if m.group(1) == "-" else now() + delta)
        try:
            t = datetime.fromisoformat(value.strip().upper())
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{value!r} is not a time: give ISO-8601 (2026-11-27T22:00:00Z) or relative (+2h, 30m, 1d)") from None
        return _z(t.replace(tzinfo=UTC) if t.tzinfo is None else t)
    return parse


def _z(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def parser(now: Callable[[], datetime] = _utcnow) -> argparse.ArgumentParser:
    # --json is accepted before or after the subcommand; SUPPRESS keeps the sub-parser from
    # overwriting a top-level --json with its own default.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print the API's JSON answer instead of a table")
    when = instant(now)
    p = argparse.ArgumentParser(prog="incidentctl", parents=[common], epilog=EPILOG,
                                description="Operate incidents through the incident-response HTTP API "
                                            f"(INCIDENT_API_URL, default {DEFAULT_URL}; key in FUNCTIONS_KEY).")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], help=help, description=help[0].upper() + help[1:] + ".")

    ls = command("list", "list incidents, newest first")
    ls.add_argument("--status", choices=STATES, help="triggered, acknowledged or resolved")
    ls.add_argument("--severity", type=severity, choices=SEVERITIES, metavar="SEV", help="SEV-1 .. SEV-4")
    ls.add_argument("--since", type=iso, help="created at or after this ISO-8601 time")
    ls.add_argument("--limit", type=positive, help="at most this many")

    command("show", "one incident with its timeline, who is next on call, and its silence").add_argument("id")

    dec = command("declare", "declare an incident by hand")
    dec.add_argument("title", nargs="+", help="what is wrong (the words are joined)")
    dec.add_argument("--severity", type=severity, choices=SEVERITIES, metavar="SEV",
                     help="SEV-1 .. SEV-4 (or give --impact and --scope)")
    dec.add_argument("--impact", choices=IMPACTS, help="core feature broken, degraded, or minor")
    dec.add_argument("--scope", choices=SCOPES, help="all, some or one user(s)")
    dec.add_argument("--tenant", dest="tenants", action="append", type=text, metavar="NAME",
                     help="an affected tenant (repeat for several)")
    dec.add_argument("--security", action="store_true", help="a security incident (always SEV-1)")

    for name, verb in (("ack", "acknowledge"), ("resolve", "resolve")):
        sp = command(name, f"{verb} an incident")
        sp.add_argument("id")
        sp.add_argument("-m", "--message", help="a message for the timeline")

    sev = command("severity", "reclassify an incident")
    sev.add_argument("id")
    sev.add_argument("severity", type=severity, choices=SEVERITIES, metavar="SEV", help="SEV-1 .. SEV-4")
    sev.add_argument("--reason", required=True, type=text, help="why (goes on the timeline)")

    st = command("status", "set the public status phase")
    st.add_argument("id")
    st.add_argument("phase", choices=PHASES, help=", ".join(PHASES) + " (resolved also resolves the incident)")
    st.add_argument("-m", "--message", help="the public status message")

    note = command("note", "add a timeline note")
    note.add_argument("id")
    note.add_argument("text", nargs="+")

    for name, verb, reason_required in (("approve", "approve", False), ("reject", "reject", True)):
        sp = command(name, f"{verb} a remediation that waits for approval")
        sp.add_argument("id", help="the incident")
        sp.add_argument("rid", help="the remediation (REM-..., see `show`)")
        sp.add_argument("--reason", required=reason_required, type=text, help="why (goes on the timeline)")

    command("oncall", "who holds each on-call role now")

    ovr = command("overrides", "temporary on-call overrides: list, add, end")
    acts = ovr.add_subparsers(dest="action", metavar="ACTION")
    acts.add_parser("list", parents=[common], help="the overrides (default)")
    add = acts.add_parser("add", parents=[common], help="put someone on call for a role for a while")
    add.add_argument("--role", required=True, choices=ROLES, metavar="ROLE", help=", ".join(ROLES))
    add.add_argument("--person", required=True, type=text, help="who is on call instead")
    add.add_argument("--start", type=when, metavar="TIME", help="ISO-8601 or relative (+2h); default now")
    add.add_argument("--end", required=True, type=when, metavar="TIME", help="ISO-8601 or relative (+2h, 1d)")
    add.add_argument("--reason", type=text)
    acts.add_parser("end", parents=[common], help="remove an override").add_argument("oid")

    sil = command("silences", "silences and maintenance windows: list, add, end")
    acts = sil.add_subparsers(dest="action", metavar="ACTION")
    acts.add_parser("list", parents=[common], help="the silences not yet ended (default)")
    add = acts.add_parser("add", parents=[common], help="page nobody for matching alerts until --end",
                          description="Page nobody for matching alerts until --end (incidents still open). "
                                      "Give at least one --match-*.")
    add.add_argument("--match-resource", type=text, metavar="ARM_ID", help="the alert's target resource id")
    add.add_argument("--match-rule", type=text, metavar="RULE", help="the alert rule's name")
    add.add_argument("--match-tenant", type=text, metavar="TENANT", help="a tenant of the alert")
    add.add_argument("--start", type=when, metavar="TIME", help="ISO-8601 or relative (+2h); default now")
    add.add_argument("--end", required=True, type=when, metavar="TIME", help="ISO-8601 or relative (+2h, 1d)")
    add.add_argument("--reason", required=True, type=text, help="why nobody should be paged")
    acts.add_parser("end", parents=[common], help="end a silence now (held incidents start their ladders)"
                    ).add_argument("sid")

    command("completion", "print a shell completion script").add_argument("shell", choices=SHELLS)
    return p


def subcommands(p: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The parser's subcommands by name ({} when it has none)."""
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def parse(argv: list[str] | None, now: Callable[[], datetime] = _utcnow) -> argparse.Namespace:
    """Parse and check the rules argparse cannot say; exits 2 with the usage like argparse does."""
    p = parser(now)
    args = p.parse_args(argv)
    cmd = subcommands(p)[args.command]
    if args.command == "declare":
        if (args.impact is None) != (args.scope is None) and args.severity is None:
            cmd.error("--impact and --scope go together (or give --severity)")
        if args.severity is None and args.impact is None and not args.security:
            cmd.error("give --severity, or --impact and --scope, or --security")
    if args.command == "overrides" and args.action == "add" and args.start is None:
        args.start = instant(now)("now")  # the API needs a start; a silence's defaults to the API's now
    if args.command == "silences" and args.action == "add" and not (
            args.match_resource or args.match_rule or args.match_tenant):
        subcommands(cmd)["add"].error("give at least one of --match-resource, --match-rule, --match-tenant")
    return args
