"""The escalation state an incident carries: the ladder copied onto it (its steps), what was done and
when, who was paged for each role, steps brought forward, the noise-control pause, and the chat that
waits for the diagnostics. Immutable: each change returns a new state. One codec (`to_doc`/`from_doc`)
reads every shape stored so far, including `{}` for an incident whose ladder was never planned.

It lives apart from escalation.py (the decisions over an incident) because the incident holds it.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Mapping

from shared.domain.timeutil import iso, parse_iso

CONDITIONS = {"acknowledged": "not acknowledged", "resolved": "not resolved"}


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


@dataclass(frozen=True)
class Paged:
    """Who was paged for a role (sent or not), and when: acknowledging or resolving stops their page."""
    person: str
    at: datetime | None = None     # None only in documents written by hand (templates' samples)

    def to_doc(self) -> dict[str, Any]:
        return {"person": self.person} if self.at is None else {"person": self.person, "at": iso(self.at)}

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> "Paged":
        return cls(str(doc.get("person") or ""), parse_iso(doc.get("at")))


@dataclass(frozen=True)
class EscalationState:
    severity: str | None = None                 # the ladder's severity; None until it is planned
    steps: tuple[Step, ...] = ()                # the snapshot, in the runbook's order
    done: Mapping[str, datetime] = field(default_factory=dict)      # step -> when it fired
    advanced: Mapping[str, datetime] = field(default_factory=dict)  # step -> brought forward to
    paged: Mapping[str, Paged] = field(default_factory=dict)        # role -> who, the latest page
    pause_until: datetime | None = None         # the noise-control pause, as planned (or ended early)
    chat_after_diagnostics: str | None = None   # the step whose chat waits for the diagnostics
    extra: Mapping[str, Any] = field(default_factory=dict)          # keys this version does not know: kept

    @classmethod
    def planned(cls, severity: str, steps: tuple[Step, ...]) -> "EscalationState":
        """A new ladder: nothing done yet."""
        return cls(severity=severity, steps=steps)

    @property
    def empty(self) -> bool:
        """No ladder was ever planned (and nothing else recorded): stored as `{}`."""
        return self == EscalationState()

    def pending(self, state: str) -> list[Step]:
        """Steps not done and not stopped by the incident's `state`, in due order."""
        return sorted((s for s in self.steps if s.name not in self.done and not s.stopped(state)),
                      key=lambda s: s.at)

    def replanned(self, severity: str, steps: tuple[Step, ...]) -> "EscalationState":
        """The ladder of a new severity, keeping what was done (a step never fires twice)."""
        return replace(self, severity=severity, steps=steps)

    def fired(self, step: str, at: datetime) -> "EscalationState":
        return replace(self, done={**self.done, step: at})

    def paging(self, role: str, person: str, at: datetime) -> "EscalationState":
        return replace(self, paged={**self.paged, role: Paged(person, at)})

    def brought_forward(self, step: str, to: datetime) -> "EscalationState":
        return replace(self, advanced={**self.advanced, step: to})

    def paused(self, until: datetime | None) -> "EscalationState":
        return replace(self, pause_until=until)

    def chat_held(self, step: str | None) -> "EscalationState":
        return replace(self, chat_after_diagnostics=step)

    # -- the stored shape --------------------------------------------------------------------
    def to_doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = dict(self.extra)
        if self.severity is not None or self.steps or self.done or self.advanced:
            doc.update(severity=self.severity, steps=[s.as_dict() for s in self.steps],
                       done={k: iso(v) for k, v in self.done.items()},
                       advanced={k: iso(v) for k, v in self.advanced.items()})
        if self.paged:
            doc["paged"] = {role: p.to_doc() for role, p in self.paged.items()}
        if self.pause_until is not None:
            doc["pause_until"] = iso(self.pause_until)
        if self.chat_after_diagnostics is not None:
            doc["chat_after_diagnostics"] = self.chat_after_diagnostics
        return doc

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any] | None) -> "EscalationState":
        """Read a stored state: `{}` (or nothing) before the ladder is planned; keys missing from older
        documents (advanced, paged, pause_until) read as not set; unknown keys are kept as they are."""
        doc = doc or {}
        return cls(severity=None if doc.get("severity") is None else str(doc["severity"]),
                   steps=tuple(Step.from_dict(s) for s in doc.get("steps") or ()),
                   done=_times(doc.get("done")), advanced=_times(doc.get("advanced")),
                   paged={str(role): Paged.from_doc(p) for role, p in (doc.get("paged") or {}).items()
                          if isinstance(p, Mapping)},
                   pause_until=parse_iso(doc.get("pause_until")),
                   chat_after_diagnostics=None if doc.get("chat_after_diagnostics") is None
                   else str(doc["chat_after_diagnostics"]),
                   extra={k: v for k, v in doc.items() if k not in _KNOWN})


_KNOWN = frozenset({"severity", "steps", "done", "advanced", "paged", "pause_until", "chat_after_diagnostics"})


def _times(raw: Mapping[str, str | None] | None) -> dict[str, datetime]:
    parsed = {str(k): parse_iso(v) for k, v in (raw or {}).items()}
    return {k: v for k, v in parsed.items() if v is not None}
