"""What the runbook's communication templates (section 3 step 1, section 5) may say about an incident.

`context()` is the one source of every name a template may use; the template loader
(shared/templates) refuses any other name at start-up. PUBLIC lists what the public templates (the
status page, the customer email) may use: never tenants, people, resource ids or alert text.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

from shared.domain.classification import IMPACTS
from shared.domain.comms_policy import CommsPolicy
from shared.domain.incident import Incident
from shared.domain.remediation_entry import Remediation


@dataclass(frozen=True)
class Rendered:
    template: str
    subject: str
    text: str


SEVERITY_NAMES = {"SEV-1": "Critical", "SEV-2": "Major", "SEV-3": "Minor", "SEV-4": "Low"}
PROBLEMS = {"core": "unavailability and errors", "degraded": "degraded performance", "minor": "errors"}
_DEFAULT_IMPACT = {"SEV-1": "core", "SEV-2": "degraded"}  # an incident declared by severity alone

# Every key of `incident` (below), and the top-level names context() always provides.
INCIDENT_KEYS = frozenset({
    "id", "title", "severity", "severity_name", "state", "phase", "status", "created_at", "acknowledged_at",
    "resolved_at", "duration", "impact", "impact_text", "scope", "reason", "security", "tenants",
    "tenant_count"})
NAMES = frozenset({
    "incident", "who_is_affected", "problem", "affected_services", "affects_everything", "lead",
    "update_within", "product", "support_email", "now", "remediations"})
# What callers may pass as **extra (each has a default here, so a template can test it with `if`):
EXTRAS: Mapping[str, Any] = {
    "message": "",        # the responder's words: a status message, the root cause summary
    "estimate": "",       # status-identified: expected restoration ("30 minutes"); "" when unknown
    "workaround": "",     # status-identified
    "old_severity": "", "new_severity": "", "reason": "",  # update-severity
    "remediation": None,  # update-remediation: remediation_view() of one entry
    "customer": None,     # {name, contact}; default: the first tenant's customer, else "Customer"
    "diagnostics": (),    # slack-initial: the diagnostics lines (runbook step 2)
    "ticket": "",         # slack-initial: the Jira key or link
    "due_at": "",         # update-due / update-overdue: when the promised public update is due (ISO)
    "recipients": (),     # update-due / update-overdue: who is told (the lead first)
    "actor": "",          # who made the change an update reports
}
ALL_NAMES = NAMES | frozenset(EXTRAS)
# The sub-keys a template may read of the dict-valued names (checked at load like the names).
KEYS: Mapping[str, frozenset[str]] = {
    "incident": INCIDENT_KEYS,
    "customer": frozenset({"name", "contact"}),
    "remediation": frozenset({"id", "playbook", "status", "target", "reason"}),
}
# Public templates (status page, customer email) may use only these: never tenants, people, resource
# ids, the incident's title or reason (alert text), or the responders' internal fields.
PUBLIC_TEMPLATES = ("status-investigating", "status-identified", "status-monitoring", "status-resolved",
                    "customer-email")
PUBLIC = frozenset({"problem", "affected_services", "affects_everything", "update_within", "product",
                    "support_email", "now", "message", "estimate", "workaround", "customer"})
PUBLIC_INCIDENT = frozenset({"status", "severity_name", "created_at", "resolved_at", "duration", "impact",
                             "scope"})


def iso_utc(t: datetime | None) -> str:
    """ISO-8601 UTC to the second ("2026-11-30T03:12:00Z"); "" for no time."""
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if t else ""


def human_duration(span: timedelta | float) -> str:
    """"1 hour 5 minutes", "45 minutes", "2 days 3 hours": the two largest units, whole minutes down."""
    seconds = span.total_seconds() if isinstance(span, timedelta) else float(span)
    minutes = max(0, int(seconds // 60))
    if minutes == 0:
        return "less than a minute"
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [(days, "day"), (hours, "hour"), (mins, "minute")]
    first = next(i for i, (n, _) in enumerate(parts) if n)
    shown = [p for p in parts[first:first + 2] if p[0]]
    return " ".join(f"{n} {unit}{'' if n == 1 else 's'}" for n, unit in shown)


def service_of(resource_id: str | None, comms: CommsPolicy, core: Mapping[str, str]) -> str:
    """The public name of a core resource (its role through [communications.services]); "" otherwise."""
    rid = (resource_id or "").lower()
    role = next((r for r, arm in core.items() if arm.lower() == rid), None) if rid else None
    return comms.services.get(role, "") if role else ""


def remediation_view(entry: Remediation, comms: CommsPolicy, core: Mapping[str, str]) -> dict[str, Any]:
    """One remediation as the chat templates see it: its target by public name, never an ARM id."""
    return {"id": entry.id, "playbook": entry.playbook or "", "status": entry.status.value,
            "target": service_of(entry.resource_id, comms, core), "reason": entry.reason}


def who_is_affected(scope: str, tenants: list[str], truncated: bool = False) -> str:
    """Runbook step 1's "IMPACT: [Who is affected]": "All users", "Some users (3 tenants)", "One tenant: x"."""
    n = f"{len(tenants)}{'+' if truncated else ''}"
    if scope == "all":
        return "All users"
    if len(tenants) == 1 and not truncated:
        return f"One tenant: {tenants[0]}" if scope == "one" else f"Some users (tenant {tenants[0]})"
    if not tenants:
        return "One user" if scope == "one" else "Some users"
    return f"Some users ({n} tenants)"


def lead(inc: Incident) -> str:
    """Who acknowledged, else the primary on call who was paged, else "unassigned"."""
    paged = inc.escalation.paged.get("primary")
    person = paged.person if paged else None
    return inc.acknowledged_by or (str(person) if person else "") or "unassigned"


def context(inc: Incident, comms: CommsPolicy, now: datetime, *, core: Mapping[str, str] = {},
            **extra: Any) -> dict[str, Any]:
    """Everything a template may use: NAMES, and EXTRAS with their defaults, overridden by `extra` (a key
    not in EXTRAS is passed on, but the template loader lets no template use it). Times are ISO-8601 UTC
    strings ("" when not yet), durations human text. `core` maps core role -> ARM id (settings), to name
    the affected services publicly."""
    c = inc.classification
    impact = c.impact or _DEFAULT_IMPACT.get(inc.severity, "minor")
    n = len(inc.tenants)
    scope = c.scope or ("one" if n == 1 else "some" if n else "all")
    services = [s for s in dict.fromkeys(service_of(t, comms, core) for t in inc.core_targets) if s]
    cadence = comms.update_every(inc.severity)
    incident = {
        "id": inc.id, "title": inc.title, "severity": inc.severity,
        "severity_name": SEVERITY_NAMES.get(inc.severity, inc.severity), "state": inc.state, "phase": inc.phase,
        "status": inc.phase.capitalize(), "created_at": iso_utc(inc.created_at),
        "acknowledged_at": iso_utc(inc.acknowledged_at), "resolved_at": iso_utc(inc.resolved_at),
        "duration": human_duration((inc.resolved_at or now) - inc.created_at), "impact": impact,
        "impact_text": IMPACTS[impact], "scope": scope, "reason": c.reason,
        "security": c.security, "tenants": list(inc.tenants), "tenant_count": n,
    }
    first = inc.tenants[0] if inc.tenants else None
    values: dict[str, Any] = {
        **EXTRAS,
        "customer": comms.customer(first) if first else {"name": "Customer", "contact": ""},
        "incident": incident,
        "who_is_affected": who_is_affected(scope, inc.tenants, inc.tenants_truncated),
        "problem": PROBLEMS[impact],
        "affected_services": services or [comms.product],
        "affects_everything": scope == "all",
        "lead": lead(inc),
        "update_within": human_duration(cadence) if cadence else "",
        "product": comms.product, "support_email": comms.support_email, "now": iso_utc(now),
        "remediations": [remediation_view(r, comms, core) for r in inc.remediations if r.playbook],
    }
    values.update(extra)
    return values
