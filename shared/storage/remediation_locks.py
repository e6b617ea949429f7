"""The rows behind the remediation guardrails, written with the claim or outcome that changes them:

    rem|ledger            {"actions": JSON list of the recent actions}: cooldown and hourly cap, app-wide
    rem|lock|<h>          one action in flight per resource: {"remediation_id", "incident_id", "until"}

Both are written under the ETag read in the same unit of work, so two executors racing for one
resource cannot both claim it: the loser's whole batch (its incident included) fails and retries.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Mapping

from shared.domain.timeutil import iso, parse_stored
from shared.ports import Op, Record
from shared.storage.remediation_ledger import LEDGER
from shared.storage.repository import h
from shared.storage.uow import UnitOfWork


def lock_key(resource_id: str) -> str:
    return f"rem|lock|{h(resource_id)}"


@dataclass(frozen=True)
class Lock:
    remediation_id: str
    until: datetime


@dataclass(frozen=True)
class Guardrails:
    """What a claim reads, in one round trip: the ledger's fields and the resource's lock."""
    resource_id: str
    ledger: Mapping[str, Any] | None
    lock: Lock | None
    _rows: Mapping[str, Record | None]


def read(uow: UnitOfWork, resource_id: str) -> Guardrails:
    key = lock_key(resource_id)
    rows = uow.incidents.store.get(keys=[LEDGER, key])
    found = {LEDGER: rows.get(LEDGER), key: rows.get(key)}
    uow.remember(found)
    ledger, lock = found[LEDGER], found[key]
    return Guardrails(resource_id, ledger.data if ledger else None,
                      Lock(str(lock.data["remediation_id"]), parse_stored(lock.data["until"])) if lock else None, found)


def claim(uow: UnitOfWork, g: Guardrails, *, remediation_id: str, incident_id: str, playbook: str, now: datetime,
          keep: timedelta, until: datetime) -> None:
    """Record the action in the ledger (actions older than `keep` dropped) and take the resource's lock
    until `until`, both under the ETags read."""
    ledger = g._rows[LEDGER]
    actions = [a for a in (json.loads(ledger.data["actions"]) if ledger else []) if now - parse_stored(a["at"]) < keep]
    actions.append({"playbook": playbook, "resource_id": g.resource_id, "at": iso(now)})
    data = {"actions": json.dumps(actions)}
    key = lock_key(g.resource_id)
    lock, lock_data = g._rows[key], {"remediation_id": remediation_id, "incident_id": incident_id, "until": iso(until)}
    uow.include([Op("replace", LEDGER, data, ledger.etag) if ledger else Op("insert", LEDGER, data),
                 Op("replace", key, lock_data, lock.etag) if lock else Op("insert", key, lock_data)])


def release(uow: UnitOfWork, resource_id: str, remediation_id: str) -> None:
    """Drop the resource's lock if this remediation still holds it."""
    key = lock_key(resource_id)
    lock = uow.incidents.store.get(keys=[key]).get(key)
    if lock and lock.data["remediation_id"] == remediation_id:
        uow.include([Op("delete", key, etag=lock.etag)])


def hold(uow: UnitOfWork, resource_id: str, remediation_id: str, until: datetime) -> None:
    """Keep the resource's lock (held by this remediation) at least until `until`."""
    key = lock_key(resource_id)
    lock = uow.incidents.store.get(keys=[key]).get(key)
    if lock is None or lock.data["remediation_id"] != remediation_id or parse_stored(lock.data["until"]) >= until:
        return
    uow.include([Op("replace", key, {**lock.data, "until": iso(until)}, lock.etag)])
