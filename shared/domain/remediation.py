"""The remediation policy (the `[remediation]` table of runbook.toml) and playbook selection.

Which alert triggers which playbook is policy, not code: each playbook lists `when` tables, and a
`when` matches when every condition it sets matches the alert. Playbooks are tried in the order
they appear in the file; the first one whose `when` matches is selected. Security incidents never
select a playbook (runbook: "do not destroy evidence"). Pure: no I/O, no clock.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Mapping

from shared.domain.errors import PolicyError

MODES = ("off", "dry-run", "approval", "auto")
ROLES = ("api", "postgres", "redis")
# playbook -> (the core resource role it acts on, its own keys with their defaults)
PLAYBOOKS: dict[str, tuple[str, dict[str, int]]] = {
    "rollback": ("api", {"window_minutes": 60}),
    "scale-out": ("api", {"min_replicas": 4, "max_replicas": 20}),
    "redis-reboot": ("redis", {}),
    "postgres-failover": ("postgres", {}),
}
_COMMON_KEYS = ("mode", "resource", "when", "description")
_WHEN_KEYS = ("target", "monitoring_service", "signal_type", "metric_names", "alert_rule_contains",
              "min_severity", "category")
SECURITY_REASON = "security incident: no automated remediation (runbook: do not destroy evidence)"


@dataclass(frozen=True)
class AlertFacts:
    """What selection looks at, taken from an Alert (see `from_alert`)."""
    target_ids: tuple[str, ...]                 # lower-cased ARM ids
    monitoring_service: str
    signal_type: str | None
    metric_names: tuple[str, ...]
    alert_rule: str | None
    severity: int | None                        # 0..4 (Sev0 is the most severe)
    custom_properties: Mapping[str, str]
    fired_at: datetime

    @classmethod
    def from_alert(cls, alert: Any) -> "AlertFacts":
        return cls(tuple(alert.target_ids), alert.monitoring_service, alert.signal_type,
                   tuple(alert.metric_names), alert.alert_rule, alert.severity,
                   dict(alert.custom_properties), alert.fired_at)


@dataclass(frozen=True)
class When:
    """One `[[remediation.playbooks.<name>.when]]` table. Unset conditions match anything;
    strings compare case-insensitively; lists mean "any of"."""
    target: tuple[str, ...] = ()                # core roles: an alert target must be one of them
    monitoring_service: tuple[str, ...] = ()
    signal_type: tuple[str, ...] = ()
    metric_names: tuple[str, ...] = ()          # at least one of the alert's metrics
    alert_rule_contains: tuple[str, ...] = ()   # substrings of the alert rule name
    min_severity: int | None = None             # the alert is this severe or more (Sev n <= this)
    category: tuple[str, ...] = ()              # customProperties.category

    def mismatch(self, facts: AlertFacts, core: Mapping[str, str]) -> str | None:
        """None when the alert matches, else the first condition that does not, in words."""
        def low(values: Any) -> list[str]:
            return [str(v).lower() for v in values if v is not None]

        if self.target and not any(core.get(r) in facts.target_ids for r in self.target):
            return f"target is not the {'/'.join(self.target)} core resource"
        if self.monitoring_service and facts.monitoring_service.lower() not in self.monitoring_service:
            return f"monitoring service {facts.monitoring_service!r} not in {list(self.monitoring_service)}"
        if self.signal_type and (facts.signal_type or "").lower() not in self.signal_type:
            return f"signal type {facts.signal_type!r} not in {list(self.signal_type)}"
        if self.metric_names and not set(low(facts.metric_names)) & set(self.metric_names):
            return f"metrics {list(facts.metric_names)} not in {list(self.metric_names)}"
        rule = (facts.alert_rule or "").lower()
        if self.alert_rule_contains and not any(s in rule for s in self.alert_rule_contains):
            return f"alert rule {facts.alert_rule!r} contains none of {list(self.alert_rule_contains)}"
        if self.min_severity is not None and (facts.severity is None or facts.severity > self.min_severity):
            return f"severity {facts.severity} is less severe than Sev{self.min_severity}"
        category = str(facts.custom_properties.get("category", "")).lower()
        if self.category and category not in self.category:
            return f"category {category!r} not in {list(self.category)}"
        return None


@dataclass(frozen=True)
class PlaybookPolicy:
    name: str
    resource: str                               # core role: api, postgres or redis
    mode: str = ""                              # "" = REMEDIATION_MODE, else default_mode
    when: tuple[When, ...] = ()
    options: Mapping[str, int] = field(default_factory=dict)   # window_minutes, min/max_replicas


@dataclass(frozen=True)
class RemediationPolicy:
    default_mode: str = "dry-run"
    cooldown: timedelta = timedelta(minutes=30)
    max_actions_per_hour: int = 6
    approval_ttl: timedelta = timedelta(minutes=30)
    verify_after: timedelta = timedelta(minutes=10)
    playbooks: Mapping[str, PlaybookPolicy] = field(default_factory=dict)   # in file order

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> "RemediationPolicy":
        """Parse the `[remediation]` table. Raises PolicyError naming the offending key."""
        raw = raw or {}
        if not isinstance(raw, Mapping):
            raise PolicyError("remediation must be a table")
        _known(raw, ("default_mode", "cooldown_minutes", "max_actions_per_hour", "approval_ttl_minutes",
                     "verify_minutes", "playbooks"), "remediation")
        books = raw.get("playbooks", {})
        if not isinstance(books, Mapping):
            raise PolicyError("remediation.playbooks must be a table of playbooks")
        return cls(
            default_mode=_mode(raw.get("default_mode", "dry-run"), "remediation.default_mode", allow_empty=False),
            cooldown=timedelta(minutes=_number(raw, "cooldown_minutes", "remediation", 30)),
            max_actions_per_hour=int(_number(raw, "max_actions_per_hour", "remediation", 6, integer=True)),
            approval_ttl=timedelta(minutes=_number(raw, "approval_ttl_minutes", "remediation", 30)),
            verify_after=timedelta(minutes=_number(raw, "verify_minutes", "remediation", 10)),
            playbooks={name: _playbook(name, body) for name, body in books.items()},
        )

    def mode_for(self, playbook: str, env_mode: str | None = None) -> str:
        """The playbook's own mode, else REMEDIATION_MODE when set, else default_mode."""
        own = self.playbooks[playbook].mode if playbook in self.playbooks else ""
        return own or env_mode or self.default_mode


@dataclass(frozen=True)
class Selection:
    """The outcome of selection: a playbook with the resource it acts on, or None and why."""
    playbook: str | None
    resource_id: str | None
    mode: str
    reason: str


def select_playbook(policy: RemediationPolicy, facts: AlertFacts, *, core: Mapping[str, str],
                    security: bool, env_mode: str | None = None) -> Selection:
    """The first playbook (file order) with a matching `when`. `core`: role -> lower-cased ARM id."""
    if security:
        return Selection(None, None, "off", SECURITY_REASON)
    skipped = []
    for book in policy.playbooks.values():
        for i, when in enumerate(book.when):
            if when.mismatch(facts, core) is not None:
                continue
            where = f"remediation.playbooks.{book.name}.when[{i}]"
            resource_id = core.get(book.resource)
            if not resource_id:
                skipped.append(f"{where} matched but the {book.resource} resource is not configured")
                break
            mode = policy.mode_for(book.name, env_mode)
            return Selection(book.name, resource_id, mode,
                             f"alert {facts.alert_rule or facts.monitoring_service!r} matches {where}; "
                             f"mode {mode}")
    return Selection(None, None, "off", "; ".join(skipped) or "no remediation playbook matches this alert")


# ---- parsing helpers -------------------------------------------------------------------------

def _known(raw: Mapping[str, Any], keys: tuple[str, ...], where: str) -> None:
    for k in raw:
        if k not in keys:
            raise PolicyError(f"{where}.{k} is not a known key (expected one of {', '.join(keys)})")


def _mode(value: Any, where: str, *, allow_empty: bool) -> str:
    if value == "" and allow_empty:
        return ""
    if value not in MODES:
        raise PolicyError(f"{where} must be one of {', '.join(MODES)}{' or empty' if allow_empty else ''},"
                          f" not {value!r}")
    return str(value)


def _number(raw: Mapping[str, Any], key: str, where: str, default: float, *, integer: bool = False,
            minimum: float = 0) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int,) if integer else (int, float)) or value < minimum:
        kind = "an integer" if integer else "a number"
        raise PolicyError(f"{where}.{key} must be {kind} >= {minimum:g}, not {value!r}")
    return value


def _strings(value: Any, where: str, *, lower: bool = True) -> tuple[str, ...]:
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str) and v.strip() for v in values):
        raise PolicyError(f"{where} must be a non-empty string or array of strings")
    return tuple(v.strip().lower() if lower else v.strip() for v in values)


def _severity(value: Any, where: str) -> int:
    text = str(value).strip().lower().removeprefix("sev")
    if isinstance(value, bool) or not text.isdigit() or not 0 <= int(text) <= 4:
        raise PolicyError(f"{where} must be an Azure severity 0..4 (or \"Sev0\"..\"Sev4\"), not {value!r}")
    return int(text)


def _when(raw: Any, where: str) -> When:
    if not isinstance(raw, Mapping) or not raw:
        raise PolicyError(f"{where} must be a table with at least one of {', '.join(_WHEN_KEYS)}")
    _known(raw, _WHEN_KEYS, where)
    lists = {k: _strings(raw[k], f"{where}.{k}") for k in _WHEN_KEYS if k in raw and k != "min_severity"}
    for role in lists.get("target", ()):
        if role not in ROLES:
            raise PolicyError(f"{where}.target: {role!r} is not one of {', '.join(ROLES)}")
    severity = _severity(raw["min_severity"], f"{where}.min_severity") if "min_severity" in raw else None
    return When(min_severity=severity, **lists)


def _playbook(name: str, raw: Any) -> PlaybookPolicy:
    where = f"remediation.playbooks.{name}"
    if name not in PLAYBOOKS:
        raise PolicyError(f"{where} is not a known playbook (expected one of {', '.join(PLAYBOOKS)})")
    if not isinstance(raw, Mapping):
        raise PolicyError(f"{where} must be a table")
    role, defaults = PLAYBOOKS[name]
    _known(raw, _COMMON_KEYS + tuple(defaults), where)
    resource = raw.get("resource", role)
    if resource != role:
        raise PolicyError(f"{where}.resource must be {role!r}: the {name} playbook acts on the {role} resource")
    when = raw.get("when", [])
    if not isinstance(when, list):
        raise PolicyError(f"{where}.when must be an array of tables ([[{where}.when]])")
    options = {k: int(_number(raw, k, where, d, integer=True, minimum=1 if k != "min_replicas" else 0))
               for k, d in defaults.items()}
    if name == "scale-out" and options["min_replicas"] > options["max_replicas"]:
        raise PolicyError(f"{where}.min_replicas must not exceed {where}.max_replicas")
    return PlaybookPolicy(name, resource, _mode(raw.get("mode", ""), f"{where}.mode", allow_empty=True),
                          tuple(_when(w, f"{where}.when[{i}]") for i, w in enumerate(when)), options)
