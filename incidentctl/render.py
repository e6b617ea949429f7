"""Plain-text rendering of API answers: aligned tables, times as `YYYY-MM-DD HH:MM:SSZ`."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

TITLE_MAX = 60
NONE = "-"


def when(value: Any) -> str:
    """An ISO-8601 time as `2026-11-27 03:00:00Z`; anything unparseable is shown as it came."""
    if not value:
        return NONE
    try:
        t = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    t = t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
    return t.strftime("%Y-%m-%d %H:%M:%SZ")


def truncate(text: Any, width: int) -> str:
    text = " ".join(str(text if text is not None else "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned columns; the last column is not padded."""
    cells = [[str(h) for h in headers]] + [[NONE if c in (None, "") else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return "\n".join("  ".join([c.ljust(w) for c, w in zip(r[:-1], widths)] + [r[-1]]).rstrip() for r in cells)


def incidents(answer: dict[str, Any]) -> str:
    items = answer.get("incidents") or []
    if not items:
        return "no incidents"
    out = table(["ID", "SEV", "STATE", "PHASE", "CREATED", "TITLE"],
                [[i.get("id"), i.get("severity"), i.get("state"), i.get("phase"), when(i.get("created_at")),
                  truncate(i.get("title"), TITLE_MAX)] for i in items])
    if answer.get("continuation"):
        out += "\n(more incidents: narrow with --since or --status, or raise --limit)"
    return out


def incident(inc: dict[str, Any], oncall: dict[str, Any] | None = None) -> str:
    """The incident's fields, then its timeline. `oncall` (the `GET oncall` answer) names the people
    who hold the next step's roles, and its `at` (the API's clock) tells whether the silence has ended."""
    cls = inc.get("classification") or {}
    esc = inc.get("escalation") or {}
    sla = inc.get("sla") or {}
    fields = [
        ("ID", inc.get("id")),
        ("Title", inc.get("title")),
        ("Severity", inc.get("severity")),
        ("State", inc.get("state")),
        ("Phase", inc.get("phase")),
        ("Created", when(inc.get("created_at"))),
        ("Acknowledged", when(inc.get("acknowledged_at"))),
        ("Resolved", when(inc.get("resolved_at"))),
        ("Impact", cls.get("impact")),
        ("Scope", cls.get("scope")),
        ("Reason", cls.get("reason")),
        ("Alerts", ", ".join(map(str, inc.get("alert_ids") or [])) or NONE),
        ("Tenants", ", ".join(map(str, inc.get("tenants") or [])) or NONE),
        ("Escalated", ", ".join(_step_name(s) for s in esc.get("done") or []) or NONE),
        ("Paged", _paged(esc.get("paged"))),
        ("Next step", _next_step(esc.get("next"), _holders(oncall))),
        ("Silence", _silence(inc.get("silence"), (oncall or {}).get("at"))),
        ("Response due", _due(sla.get("response_due"), sla.get("response_breached"))),
        ("Resolution due", _due(sla.get("resolution_due"), sla.get("resolution_breached"))),
        ("Remediations", _remediations(inc.get("remediations") or [])),
        ("PIR", _pir(inc.get("pir"))),
    ]
    width = max(len(name) for name, _ in fields) + 1
    lines = [f"{(name + ':').ljust(width)} {NONE if value in (None, '') else value}".rstrip() for name, value in fields]
    timeline = inc.get("timeline") or []
    lines += ["", f"Timeline ({len(timeline)})"]
    if timeline:
        lines.append(table(["AT", "KIND", "ACTOR", "TEXT"],
                           [[when(e.get("at")), e.get("kind"), e.get("actor"), truncate(e.get("text"), 100)]
                            for e in timeline]))
    return "\n".join(lines)


def changed(answer: Any, verb: str, incident_id: str) -> str:
    """One line after a write: what the incident looks like now, when the API says."""
    if isinstance(answer, dict) and answer.get("state"):
        return (f"{answer.get('id', incident_id)} {verb}: state {answer.get('state')}, "
                f"severity {answer.get('severity', NONE)}, phase {answer.get('phase', NONE)}")
    return f"{incident_id} {verb}"


def oncall(answer: dict[str, Any]) -> str:
    rows = [[o.get("role"), o.get("person"), o.get("source"), when(o.get("until")) if o.get("until") else NONE]
            for o in answer.get("oncall") or []]
    body = table(["ROLE", "PERSON", "SOURCE", "UNTIL"], rows) if rows else "nobody is on call"
    return f"{body}\n(at {when(answer.get('at'))})"


def _holders(oncall: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    return {o["role"]: o for o in (oncall or {}).get("oncall") or [] if isinstance(o, dict) and o.get("role")}


def _next_step(step: Any, holders: dict[str, dict[str, Any]]) -> str:
    """`secondary -> secondary (bob) at ...`; the holder's hand-off is shown when it comes first."""
    if not isinstance(step, dict):
        return NONE
    roles = step.get("roles") or ([step["role"]] if step.get("role") else [])
    due = step.get("due_at")
    names = []
    for role in roles:
        holder = holders.get(role)
        if not holder or not holder.get("person"):
            names.append(str(role))
            continue
        until = holder.get("until")
        later = f" until {when(until)}" if until and due and when(until) <= when(due) else ""
        names.append(f"{role} ({holder['person']}{later})")
    return f"{step.get('step', '?')} -> {', '.join(names) or 'nobody is paged'} at {when(due)}"


def _paged(paged: Any) -> str:
    if not isinstance(paged, dict) or not paged:
        return NONE
    return ", ".join(f"{role} ({who.get('person', '?')})" if isinstance(who, dict) else f"{role} ({who})"
                     for role, who in paged.items())


def _silence(silence: Any, now: Any) -> str:
    if not isinstance(silence, dict) or not silence:
        return NONE
    until = silence.get("until")
    ended = " (ended)" if now and until and when(until) <= when(now) else ""
    reason = f": {silence['reason']}" if silence.get("reason") else ""
    return f"{silence.get('id', '?')} until {when(until)}{ended}{reason}"


def _step_name(step: Any) -> str:
    if isinstance(step, dict):
        return f"{step.get('step', '?')} ({when(step.get('at'))})" if step.get("at") else str(step.get("step", "?"))
    return str(step)


def _due(at: Any, breached: Any) -> str:
    return when(at) + ("  BREACHED" if breached else "")


def _remediations(items: list[Any]) -> str:
    if not items:
        return NONE
    names = [f"{r.get('playbook') or r.get('id') or '?'} ({r.get('status', '?')})" if isinstance(r, dict) else str(r)
             for r in items]
    return ", ".join(names)


def _pir(pir: Any) -> str:
    """The review in one line: status, its next deadline, the action items (`pir` shows it all)."""
    if not isinstance(pir, dict) or not pir:
        return NONE
    status = str(pir.get("status") or NONE)
    label, at = {"pending": ("meeting due", pir.get("due_at") or pir.get("due")),
                 "scheduled": ("meeting", (pir.get("meeting") or {}).get("at")),
                 "held": ("report due", pir.get("report_due_at"))}.get(status, ("", None))
    items = [i for i in pir.get("action_items") or [] if isinstance(i, dict)]
    parts = [status] + ([f"{label} {when(at)}"] if at else [])
    if items:
        parts.append(f"{len(items)} action item(s), {sum(i.get('status') == 'open' for i in items)} open")
    return ", ".join(parts)


def declared(inc: dict[str, Any]) -> str:
    reason = (inc.get("classification") or {}).get("reason")
    return changed(inc, "declared", inc.get("id", "?")) + (f"\n  {reason}" if reason else "")


def decided(answer: Any, incident_id: str, rid: str, verb: str) -> str:
    """After approve/reject: the remediation's status as the API now has it."""
    items = answer.get("remediations") if isinstance(answer, dict) else None
    entry = next((r for r in items or [] if isinstance(r, dict) and r.get("id") == rid), None)
    if entry is None:
        return f"{rid} on {incident_id} {verb}"
    return f"{rid} ({entry.get('playbook') or NONE}) on {answer.get('id', incident_id)}: {entry.get('status', verb)}"


def silences(answer: dict[str, Any]) -> str:
    items = answer.get("silences") or []
    if not items:
        return "no silences"
    return table(["ID", "MATCH", "START", "END", "REASON", "BY"],
                 [[s.get("id"), _match(s.get("match")), when(s.get("start")), when(s.get("end")),
                   truncate(s.get("reason"), TITLE_MAX), s.get("created_by")] for s in items])


def silence_created(s: dict[str, Any]) -> str:
    return (f"silence {s.get('id')} created: {_match(s.get('match'))} from {when(s.get('start'))} "
            f"until {when(s.get('end'))} ({s.get('reason')})")


def silence_ended(answer: dict[str, Any], sid: str) -> str:
    released = answer.get("released") or []
    held = f"; ladders started for {', '.join(released)}" if released else "; no incident was held by it"
    return f"silence {answer.get('deleted', sid)} ended{held}"


def overrides(answer: dict[str, Any]) -> str:
    items = answer.get("overrides") or []
    body = table(["ID", "ROLE", "PERSON", "START", "END", "REASON", "BY"],
                 [[o.get("id"), o.get("role"), o.get("person"), when(o.get("start")), when(o.get("end")),
                   truncate(o.get("reason"), TITLE_MAX), o.get("created_by")] for o in items]) if items \
        else "no overrides"
    if answer.get("derived_from"):
        body += (f"\n(only the overrides that hold a role now, from {answer['derived_from']} at "
                 f"{when(answer.get('at'))}: the API has no GET oncall/overrides)")
    return body


def override_created(o: dict[str, Any]) -> str:
    return (f"override {o.get('id')}: {o.get('person')} is {o.get('role')} from {when(o.get('start'))} "
            f"until {when(o.get('end'))}")


def _match(match: Any) -> str:
    if not isinstance(match, dict) or not match:
        return NONE
    names = {"target_resource_id": "resource", "alert_rule": "rule", "tenant": "tenant"}
    return " ".join(f"{names.get(k, k)}={str(v).rstrip('/').rsplit('/', 1)[-1] if k == 'target_resource_id' else v}"
                    for k, v in match.items())
