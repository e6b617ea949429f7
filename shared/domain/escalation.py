"""The escalation ladder (runbook section 2): steps as data, which are pending and when they fall due.

A ladder is copied onto the incident when it opens (`snapshot`), so editing runbook.toml never
changes a running incident. Re-planning on a severity change copies the new ladder but keeps what
was done: a step (by name) never fires twice, and a step whose offset has passed fires at once.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Mapping

from shared.domain.errors import PolicyError

ROLES = ("primary", "secondary", "engineering_lead", "vp_engineering", "security_lead",
         "customer_success_lead", "cto")
CONDITIONS = {"acknowledged": "not acknowledged", "resolved": "not resolved"}
CHANNELS = ("page", "status_page", "customer_comms", "ticket", "chat")
SECURITY = "security"


@dataclass(frozen=True)
class Step:
    name: str
    at: timedelta                  # offset from the incident's start
    roles: tuple[str, ...]         # who is paged (PagerDuty) at this step
    unless: str | None = None      # "acknowledged": stops on acknowledgment; "resolved": on resolution
    also: tuple[str, ...] = ()     # other work: status_page, customer_comms, ticket, chat

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "at_minutes": self.at.total_seconds() / 60, "roles": list(self.roles),
                "unless": self.unless, "also": list(self.also)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Step":
        return cls(d["name"], timedelta(minutes=d["at_minutes"]), tuple(d["roles"]), d.get("unless"),
                   tuple(d.get("also", ())))

    def stopped(self, state: str) -> bool:
        """Resolution stops every step; acknowledgment stops the "if not acknowledged" ones."""
        return state == "resolved" or (self.unless == "acknowledged" and state == "acknowledged")

    def describe(self) -> str:
        who = " and ".join(r.replace("_", " ") for r in self.roles) or "no one"
        cond = f" ({CONDITIONS[self.unless]})" if self.unless else ""
        return f"{self.name} at {int(self.at.total_seconds() // 60)} min: {who}{cond}"


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


def pending(escalation: Mapping[str, Any], state: str) -> list[Step]:
    """Steps of the incident's snapshot not done, not stopped by its state, in due order."""
    done = escalation.get("done", {})
    steps = [Step.from_dict(d) for d in escalation.get("steps", [])]
    return sorted((s for s in steps if s.name not in done and not s.stopped(state)), key=lambda s: s.at)


def due_at(step: Step, opened_at: datetime, hold_until: datetime | None = None,
           advanced: Mapping[str, str] | None = None) -> datetime:
    """When a step falls due: its offset from the start. While a silence holds the incident, the
    ladder starts over when the silence ends (the primary first, not everyone at once)."""
    start = max(opened_at, hold_until) if hold_until else opened_at
    due = start + step.at
    if advanced and step.name in advanced:
        due = min(due, datetime.fromisoformat(advanced[step.name].replace("Z", "+00:00")))
    return due
