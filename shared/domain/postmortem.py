"""The post-incident report (runbook section 6): a draft as data, and that draft as the runbook's template.

`draft` condenses the incident and its timeline into what a reader of the report needs; `to_markdown`
writes it in the template's section order. Both are pure: the caller passes the timeline and now.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, Mapping, Sequence

from shared.domain.calendar import require_utc
from shared.domain.incident import Incident
from shared.domain.remediation_entry import Remediation
from shared.domain.review import Review
from shared.domain.timeutil import parse_iso

KEPT = frozenset({"note", "created", "classified", "acknowledged", "resolved", "severity", "phase", "security",
                  "page", "sla-breach"})
SHOWN_CORRELATED = 3  # correlated alerts listed one by one; the rest become one "+N more" line
MAX_EVENT = 300       # characters of one timeline line
BLAMELESS = ('Blameless: focus on systems and processes, not individuals; ask "what" happened, not "who" '
             'caused it; identify systemic improvements, not blame; share the learnings across the engineering team.')
_DELIVERED = re.compile(r"^(?P<channel>PagerDuty|Azure alert state) \S+(?: for (?P<role>[^:]+))?: delivered \(")
_OUTCOMES = {"succeeded": "verified", "failed": "failed", "refused": "refused", "off": "remediation off",
             "dry-run": "dry run only", "stood-down": "stood down", "expired": "approval expired",
             "rejected": "approval rejected"}
_ITEM_STATUS = {"open": "Open", "done": "Done", "wont_fix": "Won't fix"}


def duration_text(span: timedelta) -> str:
    """'2 d 3 h 5 min', '1 h 12 min', '45 min'; under a minute is 'under a minute'."""
    minutes = int(span.total_seconds() // 60)
    if minutes < 1:
        return "under a minute"
    d, h, m = minutes // 1440, minutes % 1440 // 60, minutes % 60
    return " ".join(f"{n} {unit}" for n, unit in ((d, "d"), (h, "h"), (m, "min")) if n)


def _stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M UTC")


def _one_line(text: str) -> str:
    """Multi-line texts (diagnostics, verification rounds) as one line of at most MAX_EVENT characters."""
    out = ""
    for line in filter(None, (s.strip() for s in str(text).splitlines())):
        out = f"{out}{' ' if out.endswith(':') else '; '}{line}" if out else line
    return out if len(out) <= MAX_EVENT else out[:MAX_EVENT - 1] + "…"


def _condense(timeline: Sequence[Mapping[str, Any]]) -> list[tuple[datetime, str]]:
    """The events a report keeps, in time order: state changes, notes, pages, remediations and their
    verification, SLA breaches; the first successful delivery per channel and role; the first correlated
    alerts and a count of the rest; the first diagnostics. Bookkeeping (escalation plans, queued messages,
    review clocks, ...) is left out."""
    dated = sorted(((t, e) for e in timeline if (t := _when(e.get("at"))) is not None), key=lambda p: p[0])
    lines: list[tuple[datetime, str]] = []
    delivered: set[tuple[str, str]] = set()
    correlated, more_at, diagnosed = 0, None, False
    for at, e in dated:
        kind, text = str(e.get("kind", "")), str(e.get("text", ""))
        if kind == "delivery":
            m = _DELIVERED.match(text)
            data = e.get("data") or {}
            key = (str(data.get("channel") or (m and m["channel"])), str(data.get("role") or (m and m["role"])))
            if m is None or key in delivered:
                continue
            delivered.add(key)
        elif kind == "alert-correlated":
            correlated += 1
            if correlated > SHOWN_CORRELATED:
                if more_at is None:  # the "+N more" line stands where the first one left out was
                    more_at = len(lines)
                    lines.append((at, ""))
                continue
        elif kind == "diagnostics":
            if diagnosed:
                continue
            diagnosed = True
        elif kind not in KEPT and "remediation" not in kind and "verification" not in kind:
            continue
        lines.append((at, _one_line(f"Note: {text}" if kind == "note" else text)))
    if more_at is not None:
        lines[more_at] = (lines[more_at][0], f"+{correlated - SHOWN_CORRELATED} more alerts correlated")
    return lines


def _when(value: Any) -> datetime | None:
    try:
        return parse_iso(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _remediation(r: Remediation) -> dict[str, Any]:
    status = r.status.value
    outcome = _OUTCOMES.get(status, f"in progress ({status})")
    if status in ("refused", "off", "stood-down") and r.reason:
        outcome += f": {r.reason}"
    return {"playbook": r.playbook or "none", "status": status, "outcome": outcome}


def _lead(inc: Incident) -> str:
    primary = inc.escalation.paged.get("primary")
    paged = primary.person if primary else None
    return inc.acknowledged_by or paged or "unassigned"


def draft(inc: Incident, timeline: list[dict[str, Any]], review: Review | None, now: datetime) -> dict[str, Any]:
    """The report's data: header, summary, impact, condensed timeline (HH:MM UTC, with the date when the
    incident spans days), remediations, the review's action items and root cause. An open incident is
    drafted up to `now`."""
    start, end = require_utc(inc.created_at, "created_at"), inc.resolved_at and require_utc(inc.resolved_at, "end")
    stop = end or require_utc(now, "now")
    duration = duration_text(stop - start)
    events = _condense(timeline)
    multi_day = any(t.date() != start.date() for t, _ in events) or stop.date() != start.date()
    fmt = "%m-%d %H:%M" if multi_day else "%H:%M"
    c = inc.classification
    users = " ".join(filter(None, (c.scope_text, c.impact_text and f"({c.impact_text})")))
    services = [t.rstrip("/").rsplit("/", 1)[-1] for t in inc.core_targets]
    tenants = list(inc.tenants)
    if end:
        summary = [f"{inc.title} was a {inc.severity} incident that lasted {duration}, from {_stamp(start)} "
                   f"to {_stamp(end)}."]
    else:
        summary = [f"{inc.title} is a {inc.severity} incident, open for {duration} since {_stamp(start)}."]
    impact = (f"The impact was assessed as {c.impact_text} for {c.scope_text or 'an unknown scope'}"
              if c.impact_text else "The impact was not assessed (the severity was set by hand)")
    more = "+" if inc.tenants_truncated else ""
    summary.append(impact + (f", across {len(tenants)}{more} tenant(s): {', '.join(tenants)}." if tenants else "."))
    if services:
        summary.append(f"Core services involved: {', '.join(services)}.")
    items = review.items if review else ()
    return {
        "title": inc.title, "date": start.strftime("%Y-%m-%d"), "start": _stamp(start),
        "end": _stamp(end) if end else "ongoing", "duration": duration, "severity": inc.severity,
        "lead": _lead(inc), "summary": " ".join(summary),
        "impact": {"users": users or "unknown", "tenants": tenants, "tenants_truncated": inc.tenants_truncated,
                   "services": services, "data_impact": "unknown"},
        "timeline": [{"at": t.strftime(fmt), "event": text} for t, text in events],
        "remediations": [_remediation(r) for r in inc.remediations],
        "action_items": [{"id": i.id, "text": i.text, "owner": i.owner, "due": i.due, "status": i.status,
                          "link": i.link, "ticket": i.ticket} for i in items],
        "root_cause": review.root_cause if review else "",
    }


def _cell(value: Any) -> str:
    """A Markdown table cell: backslashes and pipes escaped, line breaks as <br>."""
    text = "" if value is None else str(value)
    text = text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")
    return "<br>".join(s.strip() for s in text.strip().splitlines())


def _comment(prompt: str) -> str:
    return f"<!-- {prompt} {BLAMELESS} -->"


def to_markdown(d: Mapping[str, Any]) -> str:
    """The draft in the runbook's Post-Incident Report Template, section for section."""
    imp = d["impact"]
    tenants = ", ".join(imp["tenants"]) + (", and more" if imp.get("tenants_truncated") else "") \
        if imp["tenants"] else "none recorded"
    out = [f"# Post-Incident Report: {' '.join(str(d['title']).split())}", "",
           f"**Date:** {d['date']}", f"**Duration:** {d['start']} to {d['end']} ({d['duration']})",
           f"**Severity:** {d['severity']}", f"**Lead:** {d['lead']}", "",
           "## Summary", d["summary"], "", "## Timeline"]
    out += [f"- {e['at']} - {e['event']}" for e in d["timeline"]] or ["- (no events recorded)"]
    out += ["", "## Root Cause",
            d["root_cause"] or _comment("Detailed technical explanation of what caused the incident."), "",
            "## Impact", f"- Users affected: {imp['users']}", f"- Tenants affected: {tenants}",
            f"- Services affected: {', '.join(imp['services']) or 'none recorded'}",
            f"- Data impact: {imp['data_impact']}", "- Financial impact: not assessed", "",
            "## What Went Well", _comment("Things that worked."), "",
            "## What Needs Improvement", _comment("Things that could be better."), "",
            "## Action Items", "| # | Action | Owner | Deadline | Status |",
            "|---|--------|-------|----------|--------|"]
    for i in d["action_items"]:
        action = i["text"] + (f" ({i['ticket']})" if i.get("ticket") else "") + \
            (f" {i['link']}" if i.get("link") else "")
        out.append(f"| {_cell(i['id'])} | {_cell(action)} | {_cell(i['owner'])} | {_cell(i['due'] or 'not set')} | "
                   f"{_ITEM_STATUS.get(i['status'], _cell(i['status']))} |")
    if not d["action_items"]:
        out.append("\n<!-- Action items are created during the review meeting and tracked in Jira. -->")
    out += ["", "## Lessons Learned", _comment("Key takeaways for the team."), ""]
    return "\n".join(out)
