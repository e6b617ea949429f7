"""The app-wide remediation ledger, read by the plan step (cooldown per playbook and resource, cap per
hour; written by the executor with its claim):

    rem|ledger   {"actions": JSON list of the recent actions}
"""
from __future__ import annotations

from typing import Any, Mapping

from shared.storage.uow import UnitOfWork

LEDGER = "rem|ledger"


def read(uow: UnitOfWork) -> Mapping[str, Any] | None:
    """The ledger's fields as of now, or None before the first action. One point read."""
    rec = uow.incidents.store.get(keys=[LEDGER]).get(LEDGER)
    return rec.data if rec else None
