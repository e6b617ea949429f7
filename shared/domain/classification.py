"""Impact x scope -> SEV, with the reason in words (runbook section 1, "Severity Decision Matrix").

Precedence: (a) the alert's customProperties, (b) the first matching rule of runbook.toml,
(c) defaults from the Azure severity and whether a target is a core resource.
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from shared.domain.alerts import Alert
from shared.domain.errors import InvalidInput, PolicyError

IMPACTS = {"core": "core feature broken", "degraded": "feature degraded", "minor": "minor/cosmetic"}
SCOPES = {"all": "all users", "some": "some users", "one": "one user"}
SEVERITIES = ("SEV-1", "SEV-2", "SEV-3", "SEV-4")
MATRIX = {
    ("core", "all"): "SEV-1", ("core", "some"): "SEV-2", ("core", "one"): "SEV-3",
    ("degraded", "all"): "SEV-2", ("degraded", "some"): "SEV-3", ("degraded", "one"): "SEV-3",
    ("minor", "all"): "SEV-3", ("minor", "some"): "SEV-4", ("minor", "one"): "SEV-4",
}
_IMPACT_WORDS = {"core": "core", "core feature broken": "core", "broken": "core", "critical": "core",
                 "degraded": "degraded", "feature degraded": "degraded", "major": "degraded",
                 "minor": "minor", "cosmetic": "minor", "minor/cosmetic": "minor", "low": "minor"}
_SCOPE_WORDS = {"all": "all", "all users": "all", "affecting all users": "all", "some": "some",
                "some users": "some", "affecting some users": "some", "one": "one", "one user": "one",
                "single": "one", "single tenant": "one", "affecting one user": "one"}
MATCH_FIELDS = ("alert_rule", "monitoring_service", "signal_type", "metric_name", "target_type",
                "target", "azure_severity", "category", "health_status")
# Resource Health says how bad it is in currentHealthStatus; its alerts' Azure severity is whatever the
# activity-log rule was given (Sev4 in Microsoft's samples), so the status, not the severity, is the
# default impact. Available is a recovery notice and never classified; Unknown says nothing.
HEALTH_IMPACTS = {"unavailable": "core", "degraded": "degraded"}


def severity_rank(sev: str) -> int:
    """1 for SEV-1 (most severe) .. 4 for SEV-4."""
    return SEVERITIES.index(sev) + 1


def norm_severity(value: Any) -> str | None:
    """'SEV-1', 'sev1', 'Sev 1', '1', 1 -> 'SEV-1'; anything else None."""
    s = str(value).strip().upper().replace(" ", "").replace("_", "-")
    s = s.removeprefix("SEV-").removeprefix("SEV")
    return f"SEV-{s}" if s in {"1", "2", "3", "4"} else None


def norm_impact(value: Any) -> str | None:
    return _IMPACT_WORDS.get(str(value).strip().lower())


def norm_scope(value: Any) -> str | None:
    return _SCOPE_WORDS.get(str(value).strip().lower())


@dataclass(frozen=True)
class Rule:
    name: str
    match: Mapping[str, tuple[str, ...]]
    impact: str | None = None
    scope: str | None = None
    severity: str | None = None
    category: str | None = None
    security: bool = False

    def matches(self, alert: Alert, core: Mapping[str, str]) -> bool:
        return all(_field_matches(name, wanted, alert, core) for name, wanted in self.match.items())


def _field_matches(name: str, wanted: tuple[str, ...], alert: Alert, core: Mapping[str, str]) -> bool:
    def any_glob(values: Sequence[str]) -> bool:
        return any(fnmatch.fnmatchcase(v.lower(), w) for v in values for w in wanted)

    if name == "alert_rule":
        return any_glob([alert.alert_rule or ""])
    if name == "monitoring_service":
        return any_glob([alert.monitoring_service])
    if name == "signal_type":
        return any_glob([alert.signal_type or ""])
    if name == "metric_name":
        return any_glob(list(alert.metric_names))
    if name == "target_type":
        return any_glob(list(alert.target_resource_types))
    if name == "target":  # a core role (api, postgres, redis) or an ARM id glob
        ids = [core[w] for w in wanted if w in core]
        return any(t in ids for t in alert.target_ids) or any_glob(list(alert.target_ids))
    if name == "azure_severity":
        return alert.severity is not None and f"sev{alert.severity}" in wanted
    if name == "category":
        return any_glob([str(alert.custom_properties.get("category", ""))])
    if name == "health_status":  # Resource Health: currentHealthStatus
        return any_glob([alert.health_status or ""])
    return False


def parse_rules(raw: Any) -> tuple[Rule, ...]:
    """`[[classification.rules]]` -> Rules. Raises PolicyError naming the key."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise PolicyError("classification.rules must be an array of tables")
    rules = []
    for i, r in enumerate(raw):
        where = f"classification.rules[{i}]"
        if not isinstance(r, dict) or not isinstance(r.get("name"), str):
            raise PolicyError(f"{where}.name is required (a string)")
        match = r.get("match", {})
        if not isinstance(match, dict) or not match:
            raise PolicyError(f"{where}.match must be a non-empty table")
        parsed: dict[str, tuple[str, ...]] = {}
        for k, v in match.items():
            if k not in MATCH_FIELDS:
                raise PolicyError(f"{where}.match.{k} is not one of {', '.join(MATCH_FIELDS)}")
            values = v if isinstance(v, list) else [v]
            if not values or not all(isinstance(x, (str, int)) for x in values):
                raise PolicyError(f"{where}.match.{k} must be a string or an array of strings")
            parsed[k] = tuple(f"sev{x}" if isinstance(x, int) else str(x).lower() for x in values)
        impact = norm_impact(r["impact"]) if "impact" in r else None
        scope = norm_scope(r["scope"]) if "scope" in r else None
        severity = norm_severity(r["severity"]) if "severity" in r else None
        if "impact" in r and impact is None:
            raise PolicyError(f"{where}.impact must be one of {', '.join(IMPACTS)}")
        if "scope" in r and scope is None:
            raise PolicyError(f"{where}.scope must be one of {', '.join(SCOPES)}")
        if "severity" in r and severity is None:
            raise PolicyError(f"{where}.severity must be SEV-1..SEV-4")
        if impact is None and severity is None:
            raise PolicyError(f"{where} must set impact (and optionally scope) or severity")
        rules.append(Rule(r["name"], parsed, impact, scope, severity, r.get("category"),
                          bool(r.get("security", False))))
    return tuple(rules)


@dataclass(frozen=True)
class Classification:
    severity: str
    impact: str | None           # None: the severity was set by hand, not read off the matrix
    scope: str | None
    reason: str
    security: bool = False
    category: str | None = None
    tenants: tuple[str, ...] = field(default=())

    @property
    def impact_text(self) -> str | None:
        """The impact in the runbook's words ("core feature broken"), as the app shows it."""
        return IMPACTS[self.impact] if self.impact else None

    @property
    def scope_text(self) -> str | None:
        return SCOPES[self.scope] if self.scope else None

    def as_dict(self) -> dict[str, Any]:
        """As the app shows it (incident JSON, outbox details): impact and scope in words, no severity
        (the incident's own) nor tenants (the incident's union)."""
        return {"impact": self.impact_text, "scope": self.scope_text, "reason": self.reason,
                "security": self.security, "category": self.category}

    # -- the stored shape: one codec, used by Incident.to_doc/from_doc -------------------------------
    def to_doc(self) -> dict[str, Any]:
        return {"severity": self.severity, "impact": self.impact, "scope": self.scope, "reason": self.reason,
                "security": self.security, "category": self.category, "tenants": list(self.tenants)}

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any] | None, *, severity: str,
                 tenants: Sequence[str] = ()) -> "Classification":
        """Read a stored classification. Documents written before it was typed hold impact and scope in
        words and neither severity nor tenants: those come from the incident (`severity`, `tenants`)."""
        doc = doc or {}
        stored = doc.get("tenants")
        return cls(severity=str(doc.get("severity") or severity),
                   impact=_key_of(doc.get("impact"), IMPACTS), scope=_key_of(doc.get("scope"), SCOPES),
                   reason=str(doc.get("reason") or ""), security=bool(doc.get("security")),
                   category=None if doc.get("category") is None else str(doc["category"]),
                   tenants=tuple(str(t) for t in (stored if isinstance(stored, list) else tenants)))


def _key_of(value: Any, words: Mapping[str, str]) -> str | None:
    """A stored impact or scope -> its key: the key itself, or the runbook's words for it (old documents)."""
    if value is None or value == "":
        return None
    if value in words:
        return str(value)
    return next((k for k, v in words.items() if v == value), None)


def declared(*, actor: str, severity: str | None, impact: str | None, scope: str | None,
             tenants: tuple[str, ...] = (), security: bool = False) -> Classification:
    """A responder's own classification of an incident declared by hand (normalised values).

    A security incident is SEV-1 (runbook: security breach). A severity given by hand says so and
    keeps only the impact and scope the responder gave: it never invents a matrix cell. Without a
    severity, impact and scope read the matrix. Raises ValueError when neither is given."""
    if security:
        return Classification("SEV-1", impact, scope, f"Declared by {actor}: security incident → SEV-1 "
                              "(runbook: security breach)", True, "security", tenants)
    if severity is not None:
        cell = f" (the matrix gives {MATRIX[(impact, scope)]} for {IMPACTS[impact]} × {SCOPES[scope]})" \
            if impact and scope else ""
        return Classification(severity, impact, scope, f"Declared by {actor}: {severity} set by hand{cell}",
                              False, None, tenants)
    if not (impact and scope):
        raise ValueError("give severity, or impact and scope")
    sev = MATRIX[(impact, scope)]
    return Classification(sev, impact, scope, f"Declared by {actor}: {IMPACTS[impact]} × {SCOPES[scope]} → {sev}",
                          False, None, tenants)


def from_request(body: Mapping[str, Any], *, actor: str) -> Classification:
    """A declared incident's classification from the request body: severity, or impact and scope; tenants;
    security. Raises InvalidInput naming the field."""
    severity = norm_severity(body["severity"]) if "severity" in body else None
    if "severity" in body and severity is None:
        raise InvalidInput("$.severity", "must be one of SEV-1, SEV-2, SEV-3, SEV-4")
    impact, scope = norm_impact(body.get("impact", "")), norm_scope(body.get("scope", ""))
    if "impact" in body and impact is None:
        raise InvalidInput("$.impact", f"must be one of {', '.join(IMPACTS)}")
    if "scope" in body and scope is None:
        raise InvalidInput("$.scope", f"must be one of {', '.join(SCOPES)}")
    tenants = body.get("tenants", [])
    if not isinstance(tenants, list) or not all(isinstance(t, str) for t in tenants):
        raise InvalidInput("$.tenants", "must be a list of tenant names")
    security = body.get("security", False)
    if not isinstance(security, bool):
        raise InvalidInput("$.security", "must be true or false")
    try:
        return declared(actor=actor, severity=severity, impact=impact, scope=scope,
                        tenants=tuple(sorted(tenants)), security=security)
    except ValueError as e:
        raise InvalidInput("$.severity", str(e)) from e


def _tenants(props: Mapping[str, str]) -> tuple[str, ...]:
    raw = props.get("tenants") or props.get("tenant") or ""
    return tuple(sorted({t.strip() for t in str(raw).replace(";", ",").split(",") if t.strip()}))


def _target_name(alert: Alert) -> str:
    return alert.target_ids[0].rsplit("/", 1)[-1] if alert.target_ids else alert.monitoring_service


def classify(alert: Alert, rules: Sequence[Rule], core: Mapping[str, str]) -> Classification:
    """Classify one alert. `core` maps core role (api, postgres, redis) -> lower-cased ARM id."""
    props = alert.custom_properties
    tenants = _tenants(props)
    core_hit = next((t for t in alert.target_ids if t in core.values()), None)
    rule = next((r for r in rules if r.matches(alert, core)), None)
    category = props.get("category") or (rule.category if rule else None)
    security = (alert.monitoring_service == "Activity Log - Security"
                or str(category or "").lower() == "security" or bool(rule and rule.security))
    sev_word = f"Sev{alert.severity}" if alert.severity is not None else "No Azure severity"
    where = f"on core resource {core_hit.rsplit('/', 1)[-1]}" if core_hit else f"on {_target_name(alert)}"

    if security:
        return Classification("SEV-1", "core", "all", f"{sev_word} {where}: security incident → SEV-1 "
                              "(runbook: security breach)", True, category or "security", tenants)

    sources = []
    impact, scope, direct = norm_impact(props.get("impact", "")), norm_scope(props.get("scope", "")), None
    if impact or scope:
        sources.append("customProperties")
    if norm_severity(props.get("severity", "")):
        direct = norm_severity(props["severity"])
        sources.append("customProperties")
    if rule and direct is None:
        if rule.severity and not (impact and scope):
            direct = rule.severity
        impact = impact or rule.impact
        scope = scope or rule.scope
        sources.append(f"rule '{rule.name}'")
    health = HEALTH_IMPACTS.get((alert.health_status or "").lower())
    if impact is None and health:
        impact = health
        sources.append(f"Resource Health {alert.health_status}")
    if impact is None:
        impact = {0: "core", 1: "degraded", 2: "degraded"}.get(alert.severity, "minor") \
            if alert.severity is not None else "minor"
        sources.append(f"default for {sev_word}")
    if scope is None:
        scope = "all" if core_hit else "one" if len(tenants) == 1 else "some"
        sources.append("default scope")
    severity = direct or MATRIX[(impact, scope)]
    via = ", ".join(dict.fromkeys(sources))
    if direct:
        reason = f"{sev_word} {where}: severity {direct} set by {via}"
    else:
        reason = f"{sev_word} {where}: {IMPACTS[impact]} × {SCOPES[scope]} → {severity} ({via})"
    return Classification(severity, impact, scope, reason, False, category, tenants)
