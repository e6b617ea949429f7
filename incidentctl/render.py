"""Plain-text rendering of API answers: aligned tables, times as `YYYY-MM-DD HH:MM:SSZ`."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Sequence

TITLE_MAX = 60
NONE = "-"


def when(value: Any) -> str:
    """An ISO-8601 time as `2026-11-27 03:00:00Z`; anything unparseable is shown as it came."""
    if not value:
        return NONE
    try:
        t = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    t = t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)
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


def incident(inc: dict[str, Any]) -> str:
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
        ("Next step", _next_step(esc.get("next"))),
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


def _next_step(step: Any) -> str:
    if not isinstance(step, dict):
        return NONE
    return f"{step.get('step', '?')} -> {step.get('role', '?')} at {when(step.get('due_at'))}"


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
    if not isinstance(pir, dict) or not pir:
        return NONE
    parts = [f"{k.replace('_', ' ')} {_pir_value(v)}" for k, v in pir.items() if v not in (None, "", [], {})]
    return ", ".join(parts) or NONE


def _pir_value(value: Any) -> str:
    if isinstance(value, list):
        return str(len(value))
    return when(value) if isinstance(value, str) else str(value)
