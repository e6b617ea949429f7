"""What an incident tells people besides the pages (runbook section 3 step 5, section 5): each message is
rendered from the runbook's templates when the change that causes it happens, and written to the outbox
in the same batch as that change, so it is sent once and never lost while a receiver is down.

    initial     the 0-minute step's chat message: the initial assessment (the root of a Slack thread)
    open_ticket the Jira ticket, at open, for every severity
    follow_up   chat updates and ticket comments for what a change did (acknowledged, severity, phase,
                remediation, resolved), read off the change's timeline events: every path that makes the
                change (a responder, the stability window, an alert) tells the same people
    publish     a public status update: the self-hosted page's row, Statuspage, the promised-update clock
    drafts      the customer email, one per affected tenant, to the customer success lead; never sent to
                customers by the machine
"""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from shared.domain.communication import Rendered, context
from shared.domain.incident import AUTOMATION, Incident, TimelineEvent
from shared.domain.policy import Runbook
from shared.domain.timeutil import iso, parse_iso
from shared.domain.events import Event, MessageQueued, PublicStatusChanged
from shared.services import outbox, rendering
from shared.storage.repository import PUBLIC_UPDATES

CHAT, TICKET, STATUS = "chat", "ticket", "status_page"
REMIND, OVERDUE = "comms:remind", "comms:overdue"     # the promised public update: due soon, missed
MAX_DRAFTS = 20           # customer drafts per incident (one per tenant, the first tenants by name)
PUBLIC_PHASES = ("investigating", "identified", "monitoring", "resolved")
IMPACT = {"SEV-1": "critical", "SEV-2": "major", "SEV-3": "minor", "SEV-4": "none"}
COMPONENT = {"SEV-1": "major_outage", "SEV-2": "partial_outage", "SEV-3": "degraded_performance",
             "SEV-4": "degraded_performance"}
# timeline event kind -> the chat update it calls for (and a ticket comment, but for remediations)
UPDATES = {"acknowledged": "update-acknowledged", "severity": "update-severity", "phase": "update-phase",
           "remediation": "update-remediation", "resolved": "update-resolved"}
# remediation events worth a chat line: the life cycle, not every verification round or ARM operation
_REMEDIATION_NEWS = ("Remediation ", "No automated remediation", "Executing ")


def render(inc: Incident, name: str, runbook: Runbook, now: datetime, **extra: Any) -> Rendered:
    return rendering.render(inc, name, runbook, now, core=runbook.core_ids, **extra)


def _facts(inc: Incident, runbook: Runbook, now: datetime) -> str:
    ctx = context(inc, runbook.comms, now, core=runbook.core_ids)
    return json.dumps([["Incident", inc.id], ["Severity", inc.severity], ["Status", ctx["incident"]["status"]],
                       ["Lead", ctx["lead"]]])


def chat_message(inc: Incident, now: datetime, r: Rendered, runbook: Runbook, kind: str, *, opener: bool = False,
          root: bool = False) -> MessageQueued:
    """A chat message; `root`: also bring the first message's STATUS line up to date (Slack Web API)."""
    fields: dict[str, Any] = {"subject": r.subject, "template": r.template, "kind": kind, "opener": opener,
                              "what": f"Chat {kind}", "facts": _facts(inc, runbook, now)}
    if root and inc.comms.get("chat"):
        first = render(inc, "slack-initial", runbook, now, diagnostics=[])
        fields |= {"root_subject": first.subject, "root_text": first.text}
    return outbox.message(now, inc, channel=CHAT, action="post", text=r.text, fields=fields)


def _ticket(inc: Incident, now: datetime, action: str, text: str, what: str) -> MessageQueued:
    return outbox.message(now, inc, channel=TICKET, action=action, text=text,
                          fields={"what": what, "opener": False, "kind": action})


def initial(inc: Incident, now: datetime, runbook: Runbook, diagnostics: list[str] | None = None) -> list[Event]:
    """Runbook step 1's initial assessment in #incident-active (with step 2's diagnostics when in)."""
    r = render(inc, "slack-initial", runbook, now, diagnostics=list(diagnostics or []))
    inc.comms["chat"] = iso(now)
    inc.record(now, "communication", AUTOMATION, "Initial assessment queued for chat")
    return [chat_message(inc, now, r, runbook, "initial assessment", opener=True)]


def open_ticket(inc: Incident, now: datetime, runbook: Runbook) -> list[Event]:
    """The incident's Jira ticket: summary "[SEV-n] INC-… title", labels incident, severity and id."""
    if inc.comms.get("ticket"):
        return []
    r = render(inc, "slack-initial", runbook, now, diagnostics=[])
    inc.comms["ticket"] = iso(now)
    inc.record(now, "communication", AUTOMATION, "Jira ticket queued")
    return [outbox.message(now, inc, channel=TICKET, action="create", text=r.text, fields={
        "summary": f"[{inc.severity}] {inc.id} {inc.title}"[:255], "labels": f"incident {inc.severity} {inc.id}",
        "opener": True, "kind": "create", "what": "Jira ticket"})]


def follow_up(inc: Incident, runbook: Runbook) -> list[Event]:
    """The messages the incident's unsaved timeline events call for (call before saving it)."""
    ops: list[Event] = []
    for ev in list(inc.new_events):
        name = UPDATES.get(ev.kind)
        if name is None or (ev.kind == "remediation" and not ev.text.startswith(_REMEDIATION_NEWS)):
            continue
        r = render(inc, name, runbook, ev.at, **_extra(ev))
        if inc.comms.get("chat"):
            ops.append(chat_message(inc, ev.at, r, runbook, name.removeprefix("update-").replace("-", " "),
                             root=ev.kind != "remediation"))
        if inc.comms.get("ticket") and ev.kind != "remediation":
            ops.append(_ticket(inc, ev.at, "resolve" if ev.kind == "resolved" else "comment", r.text,
                               "Jira " + ("resolution" if ev.kind == "resolved" else "comment")))
        public = inc.comms.get("public") or {}
        if ev.kind == "resolved" and public and public.get("phase") != "resolved":
            ops += publish(inc, "resolved", "", AUTOMATION, ev.at, runbook)
    return ops


def _extra(ev: TimelineEvent) -> dict[str, Any]:
    return {"message": ev.text, "actor": ev.actor, "old_severity": str(ev.data.get("old", "")),
            "new_severity": str(ev.data.get("new", ""))}


def publish(inc: Incident, phase: str, message: str, actor: str, now: datetime, runbook: Runbook) -> list[Event]:
    """A public status update in `phase`: the self-hosted page's row (in this batch), the Statuspage
    message, and the next promised update's clock (SEV-1 30 minutes, SEV-2 1 hour, from the runbook)."""
    r = render(inc, f"status-{phase}", runbook, now, message=message)
    public = dict(inc.comms.get("public") or {})
    opener = not public
    services = context(inc, runbook.comms, now, core=runbook.core_ids)["affected_services"]
    updates = (public.get("updates") or []) + [{"at": iso(now), "phase": phase, "title": r.subject, "text": r.text}]
    public.update({"title": public.get("title") or r.subject, "phase": phase, "published_at": iso(now),
                   "updates": updates[-PUBLIC_UPDATES:], "services": services})
    cadence = runbook.comms.update_minutes.get(inc.severity)
    if phase != "resolved" and cadence:
        public["next_update_due"] = iso(now + cadence)
    else:
        public.pop("next_update_due", None)
    inc.comms["public"] = public
    inc.record(now, "public-status", actor, f"Public status {phase} published: {r.subject}"
               + (f"; next update promised by {public['next_update_due']}" if public.get("next_update_due") else ""))
    roles = sorted({role for role, rid in runbook.core_ids.items() if rid in {t.lower() for t in inc.core_targets}})
    row = {"title": public["title"], "phase": phase, "impact": IMPACT.get(inc.severity, "major"),
           "services": json.dumps(services), "started_at": public.get("started_at") or iso(now),
           "resolved_at": iso(now) if phase == "resolved" else "", "updated_at": iso(now),
           "updates": json.dumps(public["updates"])}
    public["started_at"] = row["started_at"]
    msg = outbox.message(now, inc, channel=STATUS, action="publish", text=r.text, fields={
        "name": public["title"], "status": phase, "impact": IMPACT.get(inc.severity, "major"),
        "roles": " ".join(roles), "component_status": "operational" if phase == "resolved" else
        COMPONENT.get(inc.severity, "degraded_performance"), "opener": opener, "kind": phase,
        "what": f"Status page {phase}"})
    return [PublicStatusChanged(inc.id, row), msg]


def auto_publish(inc: Incident, now: datetime, runbook: Runbook) -> list[Event]:
    """The SEV-1 60-minute step: "Investigating" on the status page, unless something was published."""
    if inc.comms.get("public"):
        inc.record(now, "communication", AUTOMATION, "Status page already updated by a responder: nothing to add")
        return []
    return publish(inc, "investigating", "", AUTOMATION, now, runbook)


def drafts(inc: Incident, now: datetime, runbook: Runbook) -> list[Event]:
    """The runbook's customer email, drafted once per affected tenant for the customer success lead (chat,
    and a comment on the ticket). People review and send it: the machine never writes to customers."""
    if inc.comms.get("drafts"):
        return []
    tenants = inc.tenants[:MAX_DRAFTS] or [""]
    ops: list[Event] = []
    for tenant in tenants:
        customer = runbook.comms.customer(tenant) if tenant else {"name": "Customer", "contact": ""}
        r = render(inc, "customer-draft", runbook, now, customer=customer)
        ops.append(chat_message(inc, now, r, runbook, "customer email draft"))
        if inc.comms.get("ticket"):
            ops.append(_ticket(inc, now, "comment", f"{r.subject}\n\n{r.text}", "Jira comment (customer draft)"))
    inc.comms["drafts"] = iso(now)
    more = len(inc.tenants) - len(tenants)
    inc.record(now, "communication", AUTOMATION, f"Customer email drafted for {len(tenants)} customer(s)"
               + (f" ({more} more tenants: GET communications/customer-email)" if more > 0 else "")
               + " and sent to the customer success lead for review; nothing is sent to customers")
    return ops


def mark_external(inc: Incident, now: datetime, runbook: Runbook, actor: str) -> list[Event]:
    """The incident affects customers: a SEV-2 gets its customer drafts now (a SEV-1 at 30 minutes)."""
    if inc.comms.get("external"):
        return []
    inc.comms["external"] = True
    inc.record(now, "communication", actor, "Marked as having external (customer) impact")
    return drafts(inc, now, runbook) if inc.severity == "SEV-2" and inc.is_open else []


# ---- the promised update ---------------------------------------------------------------------

def schedule(inc: Incident, runbook: Runbook) -> dict[str, datetime]:
    """The reminder a few minutes before the promised public update, and the overdue mark at it."""
    public = inc.comms.get("public") or {}
    due = parse_iso(public.get("next_update_due"))
    if not inc.is_open or due is None:
        return {}
    steps = {}
    if public.get("reminded") != public["next_update_due"]:
        steps[REMIND] = due - runbook.comms.remind_before
    if public.get("overdue") != public["next_update_due"]:
        steps[OVERDUE] = due
    return steps


def run(inc: Incident, step: str, now: datetime, runbook: Runbook) -> list[Event] | None:
    """Remind the lead (and, for a SEV-1, the CTO step's people) that the promised update is due, or
    mark it missed. None when it no longer applies (an update was published meanwhile)."""
    public = inc.comms.get("public") or {}
    due = public.get("next_update_due")
    if not inc.is_open or not due or step not in (REMIND, OVERDUE):
        return None
    late = step == OVERDUE
    public["overdue" if late else "reminded"] = due
    inc.comms["public"] = public
    who = _recipients(inc, runbook, now)
    r = render(inc, "update-overdue" if late else "update-due", runbook, now, due_at=due, recipients=who)
    inc.record(now, "public-status", AUTOMATION, (f"Public update overdue: promised by {due}" if late else
               f"Reminder: the next public update is due at {due}") + f" (told {', '.join(who)})")
    return [chat_message(inc, now, r, runbook, "overdue update" if late else "update reminder")] if inc.comms.get("chat") else []


def _recipients(inc: Incident, runbook: Runbook, now: datetime) -> list[str]:
    lead = context(inc, runbook.comms, now, core=runbook.core_ids)["lead"]
    people = [lead]
    if inc.severity == "SEV-1":
        roles = [role for s in inc.escalation.steps if "status_page" in s.also for role in s.roles]
        for role in roles:
            paged = inc.escalation.paged.get(role)
            person = (paged.person if paged else "") or (
                runbook.roster.on_call(role, now, []).person if runbook.roster else "")
            if person:
                people.append(f"{person} ({role.replace('_', ' ')})")
    return list(dict.fromkeys(people))


def for_step(inc: Incident, channel: str, now: datetime, runbook: Runbook) -> list[Event]:
    """The work an escalation step's `also` names: chat (the initial assessment), ticket, customer_comms
    (the customer drafts: a SEV-1 always, a SEV-2 with external impact), status_page ("Investigating")."""
    if channel == CHAT:
        return initial(inc, now, runbook)
    if channel == TICKET:
        return open_ticket(inc, now, runbook)
    if channel == "customer_comms":
        if inc.severity == "SEV-1" or inc.comms.get("external"):
            return drafts(inc, now, runbook)
        inc.record(now, "communication", AUTOMATION, "Customer email not drafted: no external impact recorded "
                   "(POST status with \"external\": true drafts it)")
        return []
    if channel == STATUS:
        return auto_publish(inc, now, runbook)
    inc.record(now, "communication", AUTOMATION, f"{channel}: no such communication; nothing queued")
    return []
