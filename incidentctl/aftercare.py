"""Rendering of the answers after the fire: the review record, the GDPR clock, metrics, drafts to read."""
from __future__ import annotations

import json
from typing import Any

from incidentctl.render import NONE, TITLE_MAX, table, truncate, when

_METRICS = (  # header, field of a severity's row, shown as a duration
    ("INCIDENTS", "count", False), ("ACKED", "acknowledged", False), ("RESOLVED", "resolved", False),
    ("MTTA-P50", "mtta_p50_s", True), ("MTTA-P90", "mtta_p90_s", True),
    ("MTTR-P50", "mttr_p50_s", True), ("MTTR-P90", "mttr_p90_s", True),
    ("RESP-BREACH", "response_breaches", False), ("RESOL-BREACH", "resolution_breaches", False),
    ("PIR-LATE", "reviews_overdue", False), ("OPEN-ITEMS", "open_action_items", False),
    ("TRANSIENT", "transients", False))


def duration(seconds: Any) -> str:
    """Seconds as the two largest units: `45s`, `2m 05s`, `1h 30m`, `3d 4h`; `-` for none."""
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
        return NONE
    s = max(0, round(seconds))
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {s:02d}s" if minutes else f"{s}s"


def markdown(answer: Any) -> str:
    """A text answer as it came (the report draft, the Prometheus text)."""
    if isinstance(answer, str):
        return answer
    if isinstance(answer, dict) and isinstance(answer.get("markdown"), str):   # an API that answered JSON anyway
        return answer["markdown"]
    return json.dumps(answer, indent=2, ensure_ascii=False)


def communication(answer: dict[str, Any]) -> str:
    """The subject (when the template has one), then the text."""
    subject, text = answer.get("subject"), str(answer.get("text") or "").rstrip("\n")
    return f"Subject: {subject}\n\n{text}" if subject else text


def review(inc: Any, incident_id: str) -> str:
    """The review after a `pir` record: status, deadlines, meeting, report, root cause, action items."""
    pir = inc.get("pir") if isinstance(inc, dict) else None
    if not isinstance(pir, dict) or not pir:
        return f"review of {incident_id} recorded"
    meeting = pir.get("meeting")
    meeting = meeting if isinstance(meeting, dict) else {}
    attendees = ", ".join(map(str, meeting.get("attendees") or []))
    report_due = when(pir.get("report_due_at"))
    if pir.get("report_due_at") and pir.get("report_due_provisional"):
        report_due += " (provisional: 5 business days after the meeting's deadline)"
    items = [i for i in pir.get("action_items") or [] if isinstance(i, dict)]
    fields = [
        ("Status", str(pir.get("status") or NONE)),      # "not required" for SEV-3/4: a voluntary review
        ("Meeting due", when(pir.get("due_at"))),
        ("Meeting", f"{when(meeting.get('at'))}{' with ' + attendees if attendees else ''}" if meeting else NONE),
        ("Report due", report_due),
        ("Report", pir.get("report_url")),
        ("Root cause", truncate(pir.get("root_cause"), 100)),
        ("Closed", when(pir.get("closed_at"))),
    ]
    width = max(len(name) for name, _ in fields) + 1
    lines = [f"Review of {inc.get('id', incident_id)}"]
    lines += [f"  {(name + ':').ljust(width)} {value or NONE}" for name, value in fields]
    still = sum(i.get("status") == "open" for i in items)
    lines += ["", f"Action items ({len(items)}, {still} open)"]
    if items:
        lines.append(table(["ID", "STATUS", "DUE", "OWNER", "TICKET", "TEXT"],
                           [[i.get("id"), i.get("status"), i.get("due"), i.get("owner"), i.get("ticket"),
                             truncate(i.get("text"), TITLE_MAX)] for i in items]))
    return "\n".join(lines)


def breach(inc: Any, incident_id: str) -> str:
    """The GDPR Article 33 clock: awareness, the 72-hour deadline, the notification."""
    clock = inc.get("breach") if isinstance(inc, dict) else None
    ident = inc.get("id", incident_id) if isinstance(inc, dict) else incident_id
    if not isinstance(clock, dict) or clock.get("personal_data") is None:
        return f"{ident}: personal data not answered yet"
    if not clock["personal_data"]:
        return f"{ident}: no personal data involved, so no GDPR notification clock"
    deadline = when(clock.get("deadline")) + " (72 hours from awareness)"
    if clock.get("overdue") and not clock.get("notified_at"):
        deadline += "  OVERDUE"
    if clock.get("notified_at"):
        ref = f", ref {clock['reference']}" if clock.get("reference") else ""
        late = clock.get("deadline") and when(clock["notified_at"]) > when(clock["deadline"])
        notified = (f"{when(clock['notified_at'])} to {clock.get('authority') or '?'}{ref}"
                    + ("  LATE: say why in the notification (Article 33(1))" if late else "  within 72 hours"))
    else:
        notified = "not yet"
    fields = [("Aware at", when(clock.get("aware_at"))), ("Deadline", deadline), ("Notified", notified)]
    return "\n".join([f"{ident}: personal data breach (GDPR Article 33)"]
                     + [f"  {(name + ':').ljust(10)} {value}" for name, value in fields])


def metrics(answer: dict[str, Any]) -> str:
    """One row per severity, times as durations; the window below."""
    rows = answer.get("by_severity") or {}
    body = table(["SEV", *(h for h, _, _ in _METRICS)],
                 [[sev, *(duration(row.get(f)) if timed else row.get(f, NONE) for _, f, timed in _METRICS)]
                  for sev, row in rows.items() if isinstance(row, dict)]) if rows else "no severities"
    return (f"{body}\n(incidents created from {when(answer.get('since'))} until {when(answer.get('until'))}; "
            "MTTA/MTTR p50 and p90 leave transients out)")

