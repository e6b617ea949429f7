"""`python -m incidentctl COMMAND [--json]`: every command of the incident-response HTTP API.

Exit codes: 0 ok; 1 the API answered with an error; 2 usage; 3 the API cannot be reached.
"""
from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from contextlib import redirect_stderr, redirect_stdout
from datetime import datetime
from typing import Any, TextIO, cast

from incidentctl import aftercare, completion, render
from incidentctl.args import ANSWERS, parse, parser
from incidentctl.client import DEFAULT_URL, ApiClient, ApiError, Unreachable

__all__ = ["explain", "main", "parser", "run"]
EXIT_OK, EXIT_API, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
KEY_HINT = "set FUNCTIONS_KEY to the function key (`make run` prints it)"
TOKEN_HINT = ("the API checks Entra ID tokens: sign in with `az login` as someone holding one of its app roles, "
              "with INCIDENT_API_SCOPE set to its scope (api://<app id>/.default)")
# The `error` code that each status has anyway: printed only when it says more than the status.
_PLAIN_CODES = {400: "invalid_input", 401: "unauthorized", 403: "forbidden", 404: "not_found", 409: "conflict",
                413: "payload_too_large", 503: "unavailable"}

Renderer = Callable[[Any], str]


def default_actor(env: Mapping[str, str]) -> str:
    if env.get("INCIDENT_ACTOR"):
        return env["INCIDENT_ACTOR"]
    try:
        return getpass.getuser()
    except (KeyError, OSError):      # no login name in some containers
        return "operator"


def run(args: argparse.Namespace, api: ApiClient, actor: str) -> tuple[Any, Renderer]:
    """Call the API for one subcommand; return its answer and how to render it."""
    # ident: every subcommand that reads it has an `id` positional
    c, ident = args.command, cast(str, getattr(args, "id", None))
    if c == "list":
        return (api.list_incidents(status=args.status, severity=args.severity, since=args.since, limit=args.limit),
                render.incidents)
    if c == "show":
        return _show(args, api)
    if c == "declare":
        severity = args.severity or ("SEV-1" if args.security and not args.impact else None)
        return (api.declare(title=" ".join(args.title), severity=severity, impact=args.impact, scope=args.scope,
                            tenants=args.tenants, security=args.security, actor=actor), render.declared)
    if c in ("ack", "resolve"):
        call, verb = (api.acknowledge, "acknowledged") if c == "ack" else (api.resolve, "resolved")
        return call(ident, actor=actor, message=args.message), lambda a: render.changed(a, verb, ident)
    if c == "severity":
        return (api.set_severity(ident, severity=args.severity, reason=args.reason, actor=actor),
                lambda a: render.changed(a, f"reclassified as {args.severity}", ident))
    if c == "status":
        return (api.set_status(ident, phase=args.phase, message=args.message, external=args.external, actor=actor),
                lambda a: render.changed(a, f"status {args.phase}" + (" (external)" if args.external else ""), ident))
    if c == "comms":
        return (api.communication(args.id, args.template, message=args.message, estimate=args.estimate,
                                  workaround=args.workaround), aftercare.communication)
    if c == "note":
        return api.add_note(ident, text=" ".join(args.text), actor=actor), lambda a: f"note added to {ident}"
    if c in ("approve", "reject"):
        answer = api.decide(ident, args.rid, decision=c, reason=args.reason, actor=actor)
        return answer, lambda a: render.decided(a, ident, args.rid, {"approve": "approved", "reject": "rejected"}[c])
    if c in ("postmortem", "pir", "breach", "metrics"):
        return _aftercare(args, api, actor)
    if c == "oncall":
        return api.oncall(), render.oncall
    if c == "overrides":
        return _overrides(args, api, actor)
    if c == "silences":
        return _silences(args, api, actor)
    raise AssertionError(f"no handler for {c}")  # the parser and this table disagree


def _show(args: argparse.Namespace, api: ApiClient) -> tuple[Any, Renderer]:
    inc = api.incident(args.id)
    if getattr(args, "json", False) or not (isinstance(inc, dict) and (
            (inc.get("escalation") or {}).get("next") or inc.get("silence"))):
        return inc, render.incident
    try:                             # who holds the next step's roles; the page still shows without it
        oncall = api.oncall()
    except ApiError:
        oncall = None
    return inc, lambda a: render.incident(a, oncall)


def _aftercare(args: argparse.Namespace, api: ApiClient, actor: str) -> tuple[Any, Renderer]:
    c, ident = args.command, str(getattr(args, "id", ""))     # metrics has no incident
    if c == "postmortem":       # Markdown printed as it came, so that `> report.md` is the report
        return api.postmortem(ident, structured=getattr(args, "json", False)), aftercare.markdown
    if c == "pir":
        items = [*(args.actions or []), *({"id": i, "status": "done"} for i in args.done or []),
                 *({"id": i, "status": "wont_fix"} for i in args.wont_fix or [])]
        meeting = None if args.meeting is None else {"at": args.meeting, "attendees": args.attendees or []}
        return (api.record_review(ident, meeting=meeting, report_url=args.report, root_cause=args.root_cause,
                                  action_items=items, close=args.close, actor=actor),
                lambda a: aftercare.review(a, ident))
    if c == "breach":
        personal = None if args.personal_data is None else ANSWERS[args.personal_data]
        return (api.record_breach(ident, personal_data=personal, aware_at=args.aware_at, notified_at=args.notified_at,
                                  authority=args.authority, reference=args.reference, actor=actor),
                lambda a: aftercare.breach(a, ident))
    return (api.metrics(since=args.since, until=args.until, prometheus=args.prometheus),
            aftercare.markdown if args.prometheus else aftercare.metrics)


def _overrides(args: argparse.Namespace, api: ApiClient, actor: str) -> tuple[Any, Renderer]:
    if args.action == "add":
        return (api.add_override(role=args.role, person=args.person, start=args.start, end=args.end,
                                 reason=args.reason, actor=actor), render.override_created)
    if args.action == "end":
        return api.end_override(args.oid), lambda a: f"override {args.oid} ended"
    return api.overrides(), render.overrides


def _silences(args: argparse.Namespace, api: ApiClient, actor: str) -> tuple[Any, Renderer]:
    if args.action == "add":
        match = {k: v for k, v in (("target_resource_id", args.match_resource), ("alert_rule", args.match_rule),
                                   ("tenant", args.match_tenant)) if v}
        return (api.add_silence(match=match, start=args.start, end=args.end, reason=args.reason, actor=actor),
                render.silence_created)
    if args.action == "end":
        return api.end_silence(args.sid, actor=actor), lambda a: render.silence_ended(a, args.sid)
    return api.silences(), render.silences


def explain(e: ApiError, *, has_key: bool) -> str:
    """One line for an error answer: the API's own message when it sent one, else what to do."""
    message = e.message
    if e.error and e.error != _PLAIN_CODES.get(e.status):
        message = f"{message} [{e.error}]" if message else e.error
    if e.wants_token:
        return f"401 Unauthorized: {message}; {TOKEN_HINT}" if message else f"401 Unauthorized: {TOKEN_HINT}"
    if e.status == 401:
        hint = KEY_HINT if has_key else f"FUNCTIONS_KEY is not set: {KEY_HINT}"
        if has_key and not message:
            hint += "; the key given was refused"
        return f"401 Unauthorized: {message}; {hint}" if message else f"401 Unauthorized: {hint}"
    if not message:
        message = _silent(e)
    if e.status == 503 and e.retry_after:
        message += f" (retry after {e.retry_after}s)"
    return f"{e.status} {e.reason}: {message}"


def _silent(e: ApiError) -> str:
    """A helpful line for an error answer with an empty body."""
    where = f"{e.method} {e.url}".strip()
    if e.status == 403:
        return "the credentials are valid but may not do this (a role such as Incident.Respond is missing)"
    if e.status == 404:
        return f"nothing at {where}: is INCIDENT_API_URL right (it ends in /api)?"
    if e.status == 405:
        return f"the API does not accept {where}: is the app older than this incidentctl?"
    if e.status >= 500:
        return f"the API failed without a message on {where}; its log says why"
    return f"no message (on {where})"


def main(argv: Sequence[str] | None = None, *, env: Mapping[str, str] | None = None,
         stdout: TextIO | None = None, stderr: TextIO | None = None,
         now: Callable[[], datetime] | None = None, credential: Any = None) -> int:
    env = os.environ if env is None else env
    out, err = stdout or sys.stdout, stderr or sys.stderr
    try:
        with redirect_stdout(out), redirect_stderr(err):
            args = parse(None if argv is None else list(argv), *([now] if now else []))
    except SystemExit as e:          # argparse has printed the usage already
        return EXIT_OK if e.code == 0 else EXIT_USAGE
    if args.command == "completion":
        print(completion.script(parser(), args.shell), file=out, end="")
        return EXIT_OK
    api = ApiClient(base_url=env.get("INCIDENT_API_URL") or DEFAULT_URL, key=env.get("FUNCTIONS_KEY", ""),
                    scope=env.get("INCIDENT_API_SCOPE", ""), credential=credential)
    try:
        answer, show = run(args, api, default_actor(env))
    except ApiError as e:
        print(explain(e, has_key=api.has_key), file=err)
        return EXIT_API
    except Unreachable as e:
        print(f"incidentctl: cannot connect to {e.url} ({e.why}). Is the local host running? "
              "Start it with `make run`, or set INCIDENT_API_URL.", file=err)
        return EXIT_UNREACHABLE
    text = json.dumps(answer, indent=2, ensure_ascii=False) if getattr(args, "json", False) else show(answer)
    out.write(text if text.endswith("\n") else text + "\n")    # a text answer (Markdown) ends as it came
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
