"""The incident: its state machine, its public phase, and the timeline events each change records.

Methods mutate the incident and append TimelineEvents to `new_events`; the repository writes the
incident and those events in one atomic batch, so the timeline never disagrees with the state.
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Iterable

from shared.domain.alerts import Alert
from shared.domain.classification import Classification, severity_rank
from shared.domain.errors import Conflict
from shared.domain.escalation_state import EscalationState
from shared.domain.remediation_entry import Remediation
from shared.domain.review import Review
from shared.domain.timeutil import iso, parse_iso

if TYPE_CHECKING:
    from shared.domain.policy import Runbook

STATES = ("triggered", "acknowledged", "resolved")
PHASES = ("investigating", "identified", "monitoring", "resolved")
AUTOMATION = "automation"
RECENT_ALERTS = 50  # an incident keeps facts of its latest alerts only: a long storm of stateless
                    # log alerts must not outgrow the entity (each alert's state is its index row)
MAX_TENANTS = 200   # tenant names kept on the incident (tenants_truncated says when there were more)
MAX_TARGETS = 5     # target ids kept per alert fact (a fact is at most about 3 KB: 50 of them fit with room)
MAX_FACT_TEXT = 512 # characters kept of a rule name or target id in an alert fact
MAX_NAME = 200      # characters kept of a tenant name


def fingerprint_digest(fingerprint: str) -> str:
    """A fixed-size stand-in for a fingerprint (rule + up to 100 target ids) in an incident's alert facts."""
    return hashlib.sha256(fingerprint.encode("utf-8", "surrogatepass")).hexdigest()[:32]


@dataclass(frozen=True)
class TimelineEvent:
    at: datetime
    kind: str
    actor: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"at": iso(self.at), "kind": self.kind, "actor": self.actor, "text": self.text}


@dataclass
class Incident:
    id: str
    title: str
    severity: str
    created_at: datetime
    classification: Classification
    state: str = "triggered"
    phase: str = "investigating"
    acknowledged_at: datetime | None = None
    acknowledged_by: str = ""  # who acknowledged: the incident's lead, for the messages
    resolved_at: datetime | None = None
    source: str = "alert"
    alerts: dict[str, dict[str, Any]] = field(default_factory=dict)  # the latest RECENT_ALERTS: id -> facts
    alert_count: int = 0     # every alert that joined, however many
    firing: int = 0          # of those, how many have not resolved
    tenants: list[str] = field(default_factory=list)
    tenants_truncated: bool = False  # more tenants were affected than `tenants` keeps
    core_targets: list[str] = field(default_factory=list)
    monitoring_since: datetime | None = None
    escalation: EscalationState = field(default_factory=EscalationState)
    sla: dict[str, Any] = field(default_factory=dict)
    remediations: list[Remediation] = field(default_factory=list)
    diagnostics: dict[str, Any] = field(default_factory=dict)
    pir: Review | None = None          # the post-incident review, from resolution on
    comms: dict[str, Any] = field(default_factory=dict)  # what was told to whom: chat, ticket, public updates
    breach: dict[str, Any] = field(default_factory=dict)  # GDPR Article 33 clock (shared/domain/breach.py)
    transient: bool = False  # resolved within the noise-control pause: no ticket, no chat, counted apart
    metrics: dict[str, str] = field(default_factory=dict)  # the metrics aggregate it is counted in, and how
    silence: dict[str, Any] | None = None
    scheduled: dict[str, str] = field(default_factory=dict)  # step -> due ISO, earliest first
    lanes: dict[str, str] = field(default_factory=dict)      # lane -> due ISO: its due-index rows
    timeline_seq: int = 0
    new_events: list[TimelineEvent] = field(default_factory=list, repr=False)

    # -- creation ----------------------------------------------------------------------------
    @classmethod
    def from_alert(cls, incident_id: str, alert: Alert, c: Classification, now: datetime,
                   core_ids: frozenset[str]) -> "Incident":
        inc = cls(id=incident_id, title=alert.summary or alert.alert_rule or alert.monitoring_service,
                  severity=c.severity, created_at=now, classification=c)
        inc.add_tenants(c.tenants)
        inc._add_alert(alert, core_ids)
        inc.record(now, "created", "azure-monitor",
                   f"Opened from {alert.monitoring_service} alert '{alert.alert_rule or alert.alert_id}'"
                   f" fired at {iso(alert.fired_at)}", alert_id=alert.alert_id)
        inc.record(now, "classified", AUTOMATION, c.reason, severity=c.severity)
        return inc

    @classmethod
    def declare(cls, incident_id: str, *, title: str, c: Classification, actor: str, now: datetime) -> "Incident":
        inc = cls(id=incident_id, title=title, severity=c.severity, created_at=now,
                  classification=c, source="manual")
        inc.add_tenants(c.tenants)
        inc.record(now, "created", actor, f"Declared by hand: {title}")
        inc.record(now, "classified", actor, c.reason, severity=c.severity)
        return inc

    # -- alerts ------------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self.state != "resolved"

    def _add_alert(self, alert: Alert, core_ids: frozenset[str]) -> None:
        self.alert_count += 1
        self.firing += 1
        self.alerts[alert.alert_id] = {"fingerprint": fingerprint_digest(alert.fingerprint),
                                       "rule": (alert.alert_rule or "")[:MAX_FACT_TEXT] or alert.alert_rule,
                                       "fired_at": iso(alert.fired_at), "resolved_at": None,
                                       "targets": [t[:MAX_FACT_TEXT] for t in alert.target_ids[:MAX_TARGETS]]}
        while len(self.alerts) > RECENT_ALERTS:
            del self.alerts[next(iter(self.alerts))]
        for t in alert.target_ids:
            if t in core_ids and t not in self.core_targets:
                self.core_targets.append(t)

    def join(self, alert: Alert, c: Classification, now: datetime, core_ids: frozenset[str], why: str) -> bool:
        """Add a correlated alert. Severity only rises. Returns True when the severity rose or the incident
        became a security incident (either re-plans its ladder)."""
        self._add_alert(alert, core_ids)
        self.add_tenants(c.tenants)
        self.record(now, "alert-correlated", "azure-monitor",
                    f"Correlated: '{alert.alert_rule or alert.alert_id}' ({why})", alert_id=alert.alert_id)
        if self.phase == "monitoring":
            self.phase, self.monitoring_since = "investigating", None
            self.record(now, "phase", AUTOMATION, "An alert fired again during the stability window: "
                        "back to investigating")
        rose = severity_rank(c.severity) < severity_rank(self.severity)
        if rose:
            old, self.severity = self.severity, c.severity
            self.classification = c
            self.record(now, "severity", AUTOMATION, f"Severity raised {old} → {c.severity}: {c.reason}",
                        old=old, new=c.severity)
        if c.security and not self.classification.security:
            self.classification = replace(self.classification, security=True, category=c.category or "security")
            self.record(now, "security", AUTOMATION, f"A security alert joined: this is now a security incident "
                        f"({c.reason})")
            return True
        return rose

    def expected_effect(self, alert: Alert, remediation: Remediation, now: datetime,
                        core_ids: frozenset[str]) -> None:
        """Add an alert that one of its own remediations explains (Resource Health reporting the restart it
        made): recorded as such, it neither raises the severity nor plans anything; it fires until its
        recovery notice, and the stability window waits for that."""
        self._add_alert(alert, core_ids)
        self.record(now, "alert-expected", "azure-monitor",
                    f"Expected effect of remediation {remediation.id} ({remediation.playbook}, "
                    f"{remediation.status.value}): '{alert.summary or alert.alert_rule or alert.alert_id}'"
                    f" (cause {alert.health_cause or 'not given'}); severity unchanged",
                    alert_id=alert.alert_id, remediation_id=remediation.id)
        if self.phase == "monitoring":
            self.phase, self.monitoring_since = "identified", None
            self.record(now, "phase", AUTOMATION, "The remediation's own effect is reported: monitoring "
                        "starts again when the resource is back")

    def resolve_alert(self, alert_id: str, rule: str | None, resolved_at: datetime, now: datetime) -> bool:
        """Mark one of its firing alerts resolved (the caller knows it fired here and had not resolved).
        Returns True when that left every alert resolved (phase monitoring)."""
        self.firing = max(0, self.firing - 1)
        if alert_id in self.alerts:
            self.alerts[alert_id]["resolved_at"] = iso(resolved_at)
        self.record(now, "alert-resolved", "azure-monitor", f"Alert '{rule or alert_id}' resolved", alert_id=alert_id)
        if self.is_open and self.firing == 0 and self.phase != "monitoring":
            self.phase, self.monitoring_since = "monitoring", now
            self.record(now, "phase", AUTOMATION, "Every alert has resolved: monitoring for stability")
            return True
        return False

    def recovered(self, alert: Alert, now: datetime) -> bool:
        """Azure reports the problem of `alert`'s fingerprint over (a recovery notice): its firing alerts
        that the incident still knows are resolved. Returns True when that left none firing."""
        mine = fingerprint_digest(alert.fingerprint)
        ended = [aid for aid, a in self.alerts.items()
                 if a["fingerprint"] in (mine, alert.fingerprint) and not a["resolved_at"]]
        self.record(now, "recovery", "azure-monitor", f"{alert.monitoring_service} reports recovery: "
                    f"{alert.summary or alert.alert_rule}", alert_id=alert.alert_id)
        done = False
        for aid in ended:
            done = self.resolve_alert(aid, self.alerts[aid].get("rule"), alert.fired_at, now) or done
        return done

    def add_tenants(self, names: Iterable[str]) -> None:
        """Union in affected tenants, bounded: the first MAX_TENANTS names (sorted) are kept and
        `tenants_truncated` says there were more."""
        merged = sorted(set(self.tenants) | {str(n)[:MAX_NAME] for n in names})
        self.tenants_truncated = self.tenants_truncated or len(merged) > MAX_TENANTS
        self.tenants = merged[:MAX_TENANTS]

    def stable_since(self, now: datetime, window: timedelta) -> bool:
        return self.phase == "monitoring" and self.monitoring_since is not None and now >= self.monitoring_since + window

    # -- commands ----------------------------------------------------------------------------
    def acknowledge(self, actor: str, now: datetime, message: str = "") -> bool:
        """triggered -> acknowledged. Raises Conflict when resolved; a repeat is a no-op (False)."""
        if self.state == "resolved":
            raise Conflict(f"incident {self.id} is resolved")
        if self.state == "acknowledged":
            return False
        self.state, self.acknowledged_at, self.acknowledged_by = "acknowledged", now, actor
        self.record(now, "acknowledged", actor, f"Acknowledged by {actor}" + (f": {message}" if message else ""))
        return True

    def resolve(self, actor: str, now: datetime, message: str = "", *, runbook: "Runbook") -> bool:
        """-> resolved (from triggered or acknowledged), by any path: a responder, the stability window,
        a recovery. Resolving starts the post-incident-review clock. A repeat is a no-op (False)."""
        if self.state == "resolved":
            return False
        self.state, self.phase, self.resolved_at = "resolved", "resolved", now
        self.monitoring_since = None
        self.record(now, "resolved", actor, f"Resolved by {actor}" + (f": {message}" if message else ""))
        self._start_review(now, runbook)
        return True

    def _start_review(self, now: datetime, runbook: "Runbook") -> None:
        """The runbook's review clock (section 6): the meeting's and the report's deadlines from the
        resolution (shared/domain/review.py), or not required."""
        review = Review.start(self.severity, now, sla=runbook.sla, calendar=runbook.calendar)
        self.pir = review
        if review.required:
            stored = review.to_dict()
            self.record(now, "review", AUTOMATION, f"Post-incident review meeting due by {stored['due_at']}, "
                        f"the written report by {stored['report_due_at']} (5 business days after the "
                        "meeting)", due_at=stored["due_at"])

    def set_severity(self, severity: str, reason: str, actor: str, now: datetime) -> bool:
        if self.state == "resolved":
            raise Conflict(f"incident {self.id} is resolved")
        if severity == self.severity:
            return False
        old, self.severity = self.severity, severity
        self.classification = replace(self.classification, severity=severity,
                                      reason=f"Set to {severity} by {actor}: {reason}")
        self.record(now, "severity", actor, f"Severity {old} → {severity}: {reason}", old=old, new=severity)
        return True

    def set_phase(self, phase: str, message: str, actor: str, now: datetime, *, runbook: "Runbook") -> None:
        if self.state == "resolved" and phase != "resolved":
            raise Conflict(f"incident {self.id} is resolved")
        if phase == "resolved":
            self.resolve(actor, now, message, runbook=runbook)
            return
        self.phase = phase
        self.monitoring_since = now if phase == "monitoring" else None
        self.record(now, "phase", actor, f"Status {phase}: {message}" if message else f"Status {phase}")

    def note(self, text: str, actor: str, now: datetime) -> None:
        self.record(now, "note", actor, text)

    def record(self, at: datetime, kind: str, actor: str, text: str, **data: Any) -> TimelineEvent:
        ev = TimelineEvent(at, kind, actor, text, data)
        self.new_events.append(ev)
        return ev

    # -- persistence shape -------------------------------------------------------------------
    _TIMES = ("created_at", "acknowledged_at", "resolved_at", "monitoring_since")

    def to_doc(self) -> dict[str, Any]:
        doc = asdict(self)
        doc.pop("new_events")
        for k in self._TIMES:
            doc[k] = iso(getattr(self, k))
        doc["classification"] = self.classification.to_doc()
        doc["remediations"] = [r.to_doc() for r in self.remediations]
        doc["escalation"] = self.escalation.to_doc()
        doc["pir"] = self.pir.to_dict() if self.pir is not None else {}
        return doc

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> "Incident":
        doc = dict(doc)
        for k in cls._TIMES:
            doc[k] = parse_iso(doc.get(k))
        doc["classification"] = Classification.from_doc(doc.get("classification"), severity=doc["severity"],
                                                        tenants=doc.get("tenants") or ())
        doc["remediations"] = [Remediation.from_doc(r) for r in doc.get("remediations") or ()]
        doc["escalation"] = EscalationState.from_doc(doc.get("escalation"))
        doc["pir"] = Review.from_dict(doc["pir"]) if doc.get("pir") else None
        known = set(cls.__dataclass_fields__) - {"new_events"}
        return cls(**{k: v for k, v in doc.items() if k in known})
