"""runbook.toml's `[communications]` and `[customers]`: who we are in public, how often the status page
is updated (runbook section 5: "We will provide an update within [30 minutes / 1 hour]"), the public
names of the core services, and each tenant's customer. PolicyError names the bad key."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Mapping

from shared.domain.classification import SEVERITIES
from shared.domain.errors import PolicyError

CORE_ROLES = ("api", "postgres", "redis")
_KEYS = ("product", "support_email", "update_minutes", "remind_before_minutes", "templates_dir", "services")
_CUSTOMER_KEYS = ("name", "contact")


@dataclass(frozen=True)
class CommsPolicy:
    product: str = "ProcGenie"
    support_email: str = "support@procgenie.io"
    update_minutes: Mapping[str, timedelta] = field(default_factory=lambda: {  # SEV -> the promised cadence
        "SEV-1": timedelta(minutes=30), "SEV-2": timedelta(minutes=60)})
    remind_before: timedelta = timedelta(minutes=5)                    # remind the lead this long before
    templates_dir: str | None = None                                   # relative to the runbook file
    services: Mapping[str, str] = field(default_factory=dict)          # core role -> public name
    customers: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # tenant -> {name, contact}

    @classmethod
    def from_dict(cls, sections: Mapping[str, Any]) -> "CommsPolicy":
        """Parse `[communications]` (with `.services` and `.update_minutes`) and `[customers]` of the
        whole runbook document. Raises PolicyError naming the offending key."""
        raw = _table(sections.get("communications", {}), "communications")
        for k in raw:
            if k not in _KEYS:
                raise PolicyError(f"communications.{k} is not a known key (expected one of {', '.join(_KEYS)})")
        default = cls()
        return cls(
            product=_text(raw, "product", default.product),
            support_email=_text(raw, "support_email", default.support_email),
            update_minutes=_cadence(raw["update_minutes"]) if "update_minutes" in raw else default.update_minutes,
            remind_before=timedelta(minutes=_minutes(raw.get("remind_before_minutes", 5),
                                                     "communications.remind_before_minutes", allow_zero=True)),
            templates_dir=_text(raw, "templates_dir", "") or None,
            services=_services(raw.get("services", {})),
            customers=_customers(sections.get("customers", {})),
        )

    def update_every(self, severity: str) -> timedelta | None:
        """The promised status-page cadence for `severity`, or None when the runbook promises none."""
        return self.update_minutes.get(severity)

    def customer(self, tenant: str) -> dict[str, str]:
        """The tenant's customer {name, contact}; a tenant not listed is its own name, without a contact."""
        c = self.customers.get(tenant)
        return {"name": c["name"], "contact": c["contact"]} if c else {"name": tenant, "contact": ""}


def _table(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise PolicyError(f"{where} must be a table")
    return value


def _text(raw: Mapping[str, Any], key: str, default: str, where: str = "communications") -> str:
    value = raw.get(key, default)
    if not isinstance(value, str) or (key in raw and not value.strip()):
        raise PolicyError(f"{where}.{key} must be a non-empty string")
    return value.strip()


def _minutes(value: Any, where: str, *, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if allow_zero else 1):
        raise PolicyError(f"{where} must be a whole number of minutes ({'0' if allow_zero else '1'} or more)")
    return value


def _cadence(value: Any) -> dict[str, timedelta]:
    table = _table(value, "communications.update_minutes")
    out: dict[str, timedelta] = {}
    for sev, m in table.items():
        if sev not in SEVERITIES:
            raise PolicyError(f"communications.update_minutes.{sev} is not a severity (one of {', '.join(SEVERITIES)})")
        out[sev] = timedelta(minutes=_minutes(m, f"communications.update_minutes.{sev}"))
    return out


def _services(value: Any) -> dict[str, str]:
    table = _table(value, "communications.services")
    for role, name in table.items():
        if role not in CORE_ROLES:
            raise PolicyError(f"communications.services.{role} is not a core role (one of {', '.join(CORE_ROLES)})")
        if not isinstance(name, str) or not name.strip():
            raise PolicyError(f"communications.services.{role} must be a non-empty string (the public name)")
    return {role: name.strip() for role, name in table.items()}


def _customers(value: Any) -> dict[str, dict[str, str]]:
    table = _table(value, "customers")
    out: dict[str, dict[str, str]] = {}
    for tenant, body in table.items():
        where = f"customers.{tenant}"
        body = _table(body, where)
        for k in body:
            if k not in _CUSTOMER_KEYS:
                raise PolicyError(f"{where}.{k} is not a known key (expected one of {', '.join(_CUSTOMER_KEYS)})")
        out[tenant] = {"name": _text(body, "name", tenant, where), "contact": _contact(body, where)}
    return out


def _contact(body: Mapping[str, Any], where: str) -> str:
    value = body.get("contact", "")
    if not isinstance(value, str):
        raise PolicyError(f"{where}.contact must be a string")
    return value.strip()
