"""The command line: one argparse parser for every command, and the rules argparse cannot say.

The types of its arguments (times ISO-8601 or relative to now, severities, action items) are in
incidentctl/argtypes.py.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import datetime

from incidentctl.argtypes import action_item, instant, iso, past, positive, severity, text, utcnow
from incidentctl.client import DEFAULT_URL

# The API's vocabularies, repeated here so that usage errors and shell completion need no call.
STATES = ("triggered", "acknowledged", "resolved")
PHASES = ("investigating", "identified", "monitoring", "resolved")
IMPACTS = ("core", "degraded", "minor")
SCOPES = ("all", "some", "one")
ROLES = ("primary", "secondary", "engineering_lead", "vp_engineering", "security_lead",
         "customer_success_lead", "cto")
SEVERITIES = ("SEV-1", "SEV-2", "SEV-3", "SEV-4")
TEMPLATES = ("slack-initial", "status-investigating", "status-identified", "status-monitoring", "status-resolved",
             "customer-email")
ANSWERS = {"yes": True, "no": False}
SHELLS = ("bash", "zsh")
EPILOG = ("Times: ISO-8601 (2026-11-27T22:00:00Z; naive means UTC) or relative to now (now, +2h, 30m, 1h30m, 2d). "
          "Exit codes: 0 ok, 1 the API answered with an error, 2 usage, 3 the API cannot be reached.")


def parser(now: Callable[[], datetime] = utcnow) -> argparse.ArgumentParser:
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
    st.add_argument("--external", action="store_true", help="customers are affected (records customer impact)")

    com = command("comms", "a runbook communication template rendered for an incident")
    com.add_argument("id")
    com.add_argument("template", choices=TEMPLATES, help=", ".join(TEMPLATES))
    com.add_argument("-m", "--message", type=text, help="the responder's words for the template")
    com.add_argument("--estimate", type=text, help="when the next update or the fix is expected")
    com.add_argument("--workaround", type=text, help="what customers can do meanwhile")

    note = command("note", "add a timeline note")
    note.add_argument("id")
    note.add_argument("text", nargs="+")

    for name, verb, reason_required in (("approve", "approve", False), ("reject", "reject", True)):
        sp = command(name, f"{verb} a remediation that waits for approval")
        sp.add_argument("id", help="the incident")
        sp.add_argument("rid", help="the remediation (REM-..., see `show`)")
        sp.add_argument("--reason", required=reason_required, type=text, help="why (goes on the timeline)")

    command("postmortem", "the post-incident report draft as Markdown (--json: the structured draft)"
            ).add_argument("id")

    pir = command("pir", "record the post-incident review: meeting, report, root cause, action items")
    pir.add_argument("id")
    pir.add_argument("--meeting", type=when, metavar="TIME",
                     help="when the review meeting is (scheduled) or was (held); ISO-8601 or relative (-2h)")
    pir.add_argument("--attendee", dest="attendees", action="append", type=text, metavar="NAME",
                     help="who attends the meeting (repeat for several; needs --meeting)")
    pir.add_argument("--report", type=text, metavar="URL", help="the published written report (http(s) URL)")
    pir.add_argument("--root-cause", type=str, metavar="TEXT", help="the root cause (empty clears it)")
    pir.add_argument("--action", dest="actions", action="append", type=action_item, metavar="OWNER:DUE:TEXT",
                     help="a new action item, DUE YYYY-MM-DD or empty (repeat for several)")
    pir.add_argument("--done", action="append", type=text, metavar="ITEM", help="mark an action item (A1) done")
    pir.add_argument("--wont-fix", action="append", type=text, metavar="ITEM",
                     help="mark an action item (A2) won't fix")
    pir.add_argument("--close", action="store_true", help="close the review (every action item done or won't fix)")

    br = command("breach", "GDPR Article 33: personal data involved, awareness, notification of the authority")
    br.add_argument("id")
    br.add_argument("--personal-data", choices=tuple(ANSWERS), help="yes starts the 72-hour clock, no stops it")
    br.add_argument("--aware-at", type=when, metavar="TIME",
                    help="when the breach became known (default now); ISO-8601 or relative (-2h)")
    br.add_argument("--notified-at", type=when, metavar="TIME",
                    help="when the supervisory authority was notified; ISO-8601 or relative (now, -1h)")
    br.add_argument("--authority", type=text, metavar="NAME", help="the supervisory authority notified")
    br.add_argument("--reference", type=text, metavar="REF", help="the notification's reference")

    met = command("metrics", "MTTA, MTTR and SLA breaches per severity over a window")
    met.add_argument("--since", type=past(now), metavar="TIME",
                     help="incidents created at or after: ISO-8601 or how long ago (30d, 12h); default 30d")
    met.add_argument("--until", type=past(now), metavar="TIME",
                     help="and before: ISO-8601 or how long ago; default now")
    met.add_argument("--prometheus", action="store_true", help="print the Prometheus text format")

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


def parse(argv: list[str] | None, now: Callable[[], datetime] = utcnow) -> argparse.Namespace:
    """Parse and check the rules argparse cannot say; exits 2 with the usage like argparse does."""
    p = parser(now)
    args = p.parse_args(argv)
    cmd = subcommands(p)[args.command]
    if args.command == "declare":
        if (args.impact is None) != (args.scope is None) and args.severity is None:
            cmd.error("--impact and --scope go together (or give --severity)")
        if args.severity is None and args.impact is None and not args.security:
            cmd.error("give --severity, or --impact and --scope, or --security")
    if args.command == "pir":
        _check_pir(args, cmd)
    if args.command == "breach":
        _check_breach(args, cmd)
    if args.command == "metrics":
        _check_metrics(args, cmd, now)
    if args.command == "overrides" and args.action == "add" and args.start is None:
        args.start = instant(now)("now")  # the API needs a start; a silence's defaults to the API's now
    if args.command == "silences" and args.action == "add" and not (
            args.match_resource or args.match_rule or args.match_tenant):
        subcommands(cmd)["add"].error("give at least one of --match-resource, --match-rule, --match-tenant")
    return args


def _check_pir(args: argparse.Namespace, cmd: argparse.ArgumentParser) -> None:
    if args.attendees and args.meeting is None:
        cmd.error("--attendee goes with --meeting (the meeting's time)")
    both = set(args.done or ()) & set(args.wont_fix or ())
    if both:
        cmd.error(f"{', '.join(sorted(both))}: give an item to --done or to --wont-fix, not both")
    if not (args.meeting or args.report or args.root_cause is not None or args.actions or args.done
            or args.wont_fix or args.close):
        cmd.error("nothing to record: give --meeting, --report, --root-cause, --action, --done, --wont-fix "
                  "or --close")


def _check_breach(args: argparse.Namespace, cmd: argparse.ArgumentParser) -> None:
    if args.personal_data is None and args.notified_at is None:
        cmd.error("give --personal-data yes|no (with --aware-at), or --notified-at with --authority")
    if args.aware_at and args.personal_data is None:
        cmd.error("--aware-at goes with --personal-data")
    if args.notified_at is None and (args.authority or args.reference):
        cmd.error("--authority and --reference go with --notified-at")
    if args.notified_at and not args.authority:
        cmd.error("--notified-at needs --authority (the supervisory authority notified)")


def _check_metrics(args: argparse.Namespace, cmd: argparse.ArgumentParser, now: Callable[[], datetime]) -> None:
    if args.prometheus and getattr(args, "json", False):
        cmd.error("--prometheus and --json do not go together")
    if args.since and args.since >= (args.until or instant(now)("now")):   # both ...Z strings: they sort as times
        cmd.error("--since must be before --until (default now)")

