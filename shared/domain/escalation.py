"""The escalation ladder (runbook section 2): steps as data, which are pending and when they fall due.

A ladder is copied onto the incident when it opens (`snapshot`), so editing runbook.toml never
changes a running incident. Re-planning on a severity change copies the new ladder but keeps what
was done: a step (by name) never fires twice, and a step whose offset has passed fires at once.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Mapping, Sequence, Union

from shared.domain.errors import PolicyError
from shared.domain.escalation_state import CONDITIONS, EscalationState
from shared.domain.escalation_state import Step as Step   # the ladder's step: re-exported (policy.py)
from shared.domain.incident import AUTOMATION, Incident
from shared.domain.roster import Override, Roster
from shared.domain.timeutil import iso, parse_iso, parse_stored

ROLES = ("primary", "secondary", "engineering_lead", "vp_engineering", "security_lead",
         "customer_success_lead", "cto")
CHANNELS = ("page", "status_page", "customer_comms", "ticket", "chat")
SECURITY = "security"
STEP = "esc:"   # the due-index names of an incident's steps and SLA checks: esc:<step>, sla:<clock>
SLA = "sla:"


def _parse_step(raw: Any, where: str) -> Step:
    if not isinstance(raw, dict):
        raise PolicyError(f"{where} must be a table")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise PolicyError(f"{where}.name is required")
    at = raw.get("at_minutes")
    if isinstance(at, bool) or not isinstance(at, (int, float)) or at < 0:
        raise PolicyError(f"{where}.at_minutes must be a non-negative number")
    roles = raw.get("roles", [])
    if not isinstance(roles, list) or any(r not in ROLES for r in roles):
        raise PolicyError(f"{where}.roles must be a list of {', '.join(ROLES)}")
    unless = raw.get("unless")
    if unless is not None and unless not in CONDITIONS:
        raise PolicyError(f"{where}.unless must be one of {', '.join(CONDITIONS)}")
    also = raw.get("also", [])
    if not isinstance(also, list) or any(a not in CHANNELS for a in also):
        raise PolicyError(f"{where}.also must be a list of {', '.join(CHANNELS)}")
    if not roles and not also:
        raise PolicyError(f"{where} does nothing: give it roles or also")
    return Step(name, timedelta(minutes=at), tuple(roles), unless, tuple(also))


def parse_ladders(raw: Any) -> dict[str, tuple[Step, ...]]:
    """`[escalation]` -> {"SEV-1": steps, ..., "security": steps}. Raises PolicyError naming the key."""
    if not isinstance(raw, dict):
        raise PolicyError("escalation must be a table")
    ladders: dict[str, tuple[Step, ...]] = {}
    for sev in ("SEV-1", "SEV-2", "SEV-3", "SEV-4", SECURITY):
        steps = raw.get(sev)
        if steps is None:
            raise PolicyError(f"escalation.{sev} is missing (an array of steps; may be empty)")
        if not isinstance(steps, list):
            raise PolicyError(f"escalation.{sev} must be an array of tables")
        parsed = tuple(_parse_step(s, f"escalation.{sev}[{i}]") for i, s in enumerate(steps))
        if len({s.name for s in parsed}) != len(parsed):
            raise PolicyError(f"escalation.{sev} has two steps with the same name")
        ladders[sev] = parsed
    return ladders


def ladder_for(ladders: Mapping[str, tuple[Step, ...]], severity: str, security: bool) -> list[Step]:
    """The severity's ladder, with the security steps first for security incidents."""
    steps = list(ladders[severity])
    if security:
        names = {s.name for s in steps}
        steps = [s for s in ladders[SECURITY] if s.name not in names] + steps
    return steps


def due_at(step: Step, opened_at: datetime, hold_until: datetime | None = None,
           advanced: Mapping[str, datetime] | None = None) -> datetime:
    """When a step falls due: its offset from the start. While a silence holds the incident, the
    ladder starts over when the silence ends (the primary first, not everyone at once)."""
    start = max(opened_at, hold_until) if hold_until else opened_at
    due = start + step.at
    if advanced and step.name in advanced:
        due = min(due, advanced[step.name])
    return due


# ---- which step is due, and what firing it does ---------------------------------------------------

def pause_until(inc: Incident) -> datetime | None:
    """The end of the noise-control pause while it holds the ladder. It never holds a SEV-1 or SEV-2
    (a raise by any path lifts it) nor a security incident, and it is over once any step has fired."""
    from shared.domain.policy import PAUSABLE   # policy.py reads ladders from here: imported when used
    esc = inc.escalation
    until = esc.pause_until
    if until is None or inc.severity not in PAUSABLE or inc.classification.security or esc.done:
        return None
    return until


def hold_until(inc: Incident) -> datetime | None:
    """Until when the ladder waits: a silence, the noise-control pause, whichever ends last."""
    holds = [t for t in (parse_iso(inc.silence["until"]) if inc.silence else None, pause_until(inc)) if t]
    return max(holds) if holds else None


def step_due_at(inc: Incident, step: Step) -> datetime:
    """When one of the incident's steps falls due, holds and steps brought forward included."""
    return due_at(step, inc.created_at, hold_until(inc), inc.escalation.advanced)


def schedule(inc: Incident) -> dict[str, datetime]:
    """The incident's pending escalation steps and SLA checks, by due time."""
    due: dict[str, datetime] = {}
    if inc.escalation.empty:
        return due
    for step in inc.escalation.pending(inc.state):
        due[STEP + step.name] = step_due_at(inc, step)
    if inc.sla.get("response_due") and not inc.sla.get("response_breached") and inc.state == "triggered":
        due[SLA + "response"] = parse_stored(inc.sla["response_due"]) + timedelta(seconds=1)
    if inc.sla.get("resolution_due") and not inc.sla.get("resolution_breached") and inc.state != "resolved":
        due[SLA + "resolution"] = parse_stored(inc.sla["resolution_due"]) + timedelta(seconds=1)
    return due


@dataclass(frozen=True)
class StepFired:
    """The step ran at `at`: it never runs again."""
    step: Step
    at: datetime


@dataclass(frozen=True)
class PageRequested:
    """Page `person`, on call for `role`, through PagerDuty (the outbox delivers it)."""
    role: str
    person: str
    at: datetime
    step: Step

    def text(self) -> str:
        return f"Paging {self.role.replace('_', ' ')} ({self.person}) via PagerDuty: {self.step.describe()}"


@dataclass(frozen=True)
class PageNotSent:
    """Who would have been paged, and why no page can go out."""
    role: str
    person: str
    at: datetime
    reason: str

    def text(self) -> str:
        return f"Page to {self.role.replace('_', ' ')} ({self.person}) not sent: {self.reason}"


Firing = Union[StepFired, PageRequested, PageNotSent]


def decide_step(inc: Incident, name: str, now: datetime, *, roster: Roster | None,
                overrides: Callable[[], Iterable[Override]], routable_roles: frozenset[str]
                ) -> tuple[Firing, ...] | None:
    """Firing the pending step `name` at `now`: the step itself, then for each of its roles who is on
    call (the roster with its overrides; "unknown" without a roster) and whether a page can go out (a
    role without a PagerDuty routing key cannot be paged). None when the step is not pending or not due
    (a silence or the noise-control pause holds it). `overrides` is read only when someone is looked up.
    Changes nothing: `record` applies the answer to the incident."""
    step = next((s for s in inc.escalation.pending(inc.state) if s.name == name), None)
    if step is None or step_due_at(inc, step) > now:
        return None
    found: list[Override] | None = None
    firing: list[Firing] = [StepFired(step, now)]
    for role in step.roles:
        if roster is not None:
            found = list(overrides()) if found is None else found
            person = roster.on_call(role, now, found).person
        else:
            person = "unknown"
        firing.append(PageRequested(role, person, now, step) if role in routable_roles else
                      PageNotSent(role, person, now, f"no PagerDuty routing key for {role}"))
    return tuple(firing)


def record(inc: Incident, firing: Sequence[Firing]) -> None:
    """Apply a firing to the incident: the step done, each page (sent or not) on the timeline, and who was
    paged per role (acknowledging or resolving stops their pages)."""
    for f in firing:
        if isinstance(f, StepFired):
            inc.escalation = inc.escalation.fired(f.step.name, f.at)
            continue
        if isinstance(f, PageRequested):
            inc.record(f.at, "page", AUTOMATION, f.text(), role=f.role, person=f.person)
        else:
            inc.record(f.at, "page", AUTOMATION, f.text(), role=f.role, person=f.person, sent=False)
        inc.escalation = inc.escalation.paging(f.role, f.person, f.at)


# ---- changes to a running ladder ------------------------------------------------------------------

def plan(inc: Incident, steps: Sequence[Step], now: datetime, pause: timedelta | None) -> None:
    """Copy the ladder `steps` onto the incident (its escalation state starts over). `pause` is the runbook's
    noise-control pause for its severity: it holds the ladder of an alert's incident that is not a security
    one, from the incident's start."""
    inc.escalation = EscalationState.planned(inc.severity, tuple(steps))
    inc.record(now, "escalation", AUTOMATION, f"{inc.severity} ladder: " + "; ".join(s.describe() for s in steps)
               if steps else f"{inc.severity}: no escalation steps")
    if pause and steps and inc.source == "alert" and not inc.classification.security:
        # noise control: a low-severity alert that resolves on its own never reaches a ticket or chat
        until = inc.created_at + pause
        inc.escalation = inc.escalation.paused(until)
        work = sorted({w for s in steps for w in (*s.also, *s.roles)})
        inc.record(now, "escalation", AUTOMATION, f"Noise-control pause: {', '.join(work)} held until {iso(until)} "
                   f"({int(pause.total_seconds() // 60)} minutes). Another alert or a severity raise ends it at once; "
                   "if every alert resolves first, the incident resolves as transient", pause_until=iso(until))


def replan(inc: Incident, steps: Sequence[Step], now: datetime) -> None:
    """After a severity change: the new ladder `steps`, keeping what was done (steps never repeat)."""
    inc.escalation = inc.escalation.replanned(inc.severity, tuple(steps))
    overdue = [s.name for s in inc.escalation.pending(inc.state) if inc.created_at + s.at <= now]
    inc.record(now, "escalation", AUTOMATION, f"Re-planned on the {inc.severity} ladder" +
               (f"; due at once: {', '.join(overdue)}" if overdue else ""))


def advance_now(inc: Incident, now: datetime, reason: str) -> None:
    """Bring the next pending step forward to now (a failed remediation escalates at once)."""
    nxt = inc.escalation.pending(inc.state)
    if nxt:
        inc.escalation = inc.escalation.brought_forward(nxt[0].name, now)
        inc.record(now, "escalation", AUTOMATION, f"Escalating at once to {nxt[0].name}: {reason}")


def end_pause(inc: Incident, now: datetime, why: str) -> bool:
    """End a running pause now (firing the due steps then runs what it held). Returns False when none was
    running."""
    until = inc.escalation.pause_until
    if until is None or until <= now or inc.escalation.done:
        return False
    inc.escalation = inc.escalation.paused(now)
    silenced = parse_iso(inc.silence["until"]) if inc.silence else None
    rest = f"the silence still holds the ladder until {iso(silenced)}" if silenced and silenced > now \
        else "the ladder starts now"
    inc.record(now, "escalation", AUTOMATION, f"Noise-control pause ended early: {why}; {rest}")
    return True


def hold_chat(inc: Incident, step: Step, now: datetime) -> None:
    """The step's chat (runbook step 1's initial assessment) waits for the diagnostics (step 2) and goes
    out with them."""
    inc.escalation = inc.escalation.chat_held(step.name)
    inc.record(now, "communication", AUTOMATION, f"chat due ({step.name} step): the initial assessment "
               "waits for the diagnostics (runbook step 2) and is queued with them")


def release_chat(inc: Incident) -> str | None:
    """The step whose chat waited for the diagnostics, if one did; it waits no longer."""
    step = inc.escalation.chat_after_diagnostics
    if step is not None:
        inc.escalation = inc.escalation.chat_held(None)
    return step
