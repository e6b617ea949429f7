"""runbook.toml as a validated value: the runbook's policy as data. PolicyError names the bad key."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Mapping

from shared.domain.calendar import BusinessCalendar
from shared.domain.sla import SlaPolicy
from shared.domain.classification import Rule, parse_rules
from shared.domain.comms_policy import CommsPolicy
from shared.domain.errors import PolicyError
from shared.domain.escalation import Step, parse_ladders
from shared.domain.remediation import RemediationPolicy
from shared.domain.roster import Roster


def minutes(raw: Mapping[str, Any], key: str, where: str, default: float) -> timedelta:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise PolicyError(f"{where}.{key} must be a non-negative number of minutes")
    return timedelta(minutes=value)


def table(raw: Mapping[str, Any], key: str, where: str = "") -> Mapping[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise PolicyError(f"{where + '.' if where else ''}{key} must be a table")
    return value


PAUSABLE = ("SEV-3", "SEV-4")


def pause_minutes(intake: Mapping[str, Any]) -> dict[str, timedelta]:
    """`[intake] pause_minutes`: severity -> the noise-control pause. Pages are never paused, so a SEV-1
    or SEV-2 key is refused; a pause of 0 is no pause."""
    raw = table(intake, "pause_minutes", "intake")
    for sev in raw:
        if sev in ("SEV-1", "SEV-2"):
            raise PolicyError(f"intake.pause_minutes.{sev}: pages are never paused")
        if sev not in PAUSABLE:
            raise PolicyError(f"intake.pause_minutes.{sev}: not a severity that may pause ({', '.join(PAUSABLE)})")
    pauses = {sev: minutes(raw, sev, "intake.pause_minutes", 0) for sev in raw}
    return {sev: p for sev, p in pauses.items() if p}


@dataclass(frozen=True)
class Runbook:
    rules: tuple[Rule, ...] = ()
    correlation_window: timedelta = timedelta(minutes=10)
    stability_window: timedelta = timedelta(minutes=15)
    pause: Mapping[str, timedelta] = field(default_factory=dict)  # severity -> noise-control pause (SEV-3/4)
    ladders: Mapping[str, tuple[Step, ...]] = field(default_factory=dict)
    sla: SlaPolicy = field(default_factory=SlaPolicy.default)
    calendar: BusinessCalendar = field(default_factory=BusinessCalendar)
    roster: Roster | None = None
    remediation: RemediationPolicy = field(default_factory=RemediationPolicy)
    comms: CommsPolicy = field(default_factory=CommsPolicy)
    templates: Any = field(default=None, compare=False, repr=False)  # shared.templates.Templates (bootstrap)
    # the deployment's core resources, role -> ARM id (settings, attached by bootstrap): which public
    # service an incident's targets are, which Statuspage components it touches
    core_ids: Mapping[str, str] = field(default_factory=dict, compare=False)
    sections: Mapping[str, Any] = field(default_factory=dict)  # the raw document, for the other capabilities

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "Runbook":
        c = table(raw, "classification")
        i = table(raw, "intake")
        return cls(
            rules=parse_rules(c.get("rules")),
            correlation_window=minutes(i, "correlation_window_minutes", "intake", 10),
            stability_window=minutes(i, "stability_window_minutes", "intake", 15),
            pause=pause_minutes(i),
            ladders=parse_ladders(raw.get("escalation", {})),
            sla=SlaPolicy.from_policy(raw["sla"]) if "sla" in raw else SlaPolicy.default(),
            calendar=BusinessCalendar.from_policy(raw["calendar"]) if "calendar" in raw else BusinessCalendar(),
            roster=Roster.from_policy(table(raw, "oncall")) if raw.get("oncall") else None,
            remediation=RemediationPolicy.from_dict(raw.get("remediation")),
            comms=CommsPolicy.from_dict(raw),
            sections=raw,
        )
