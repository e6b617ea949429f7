"""A severity set by hand says so: it never invents a cell of the runbook's matrix."""
from __future__ import annotations

import pytest

from shared.domain.classification import declared
from shared.services import commands
from tests.harness import Harness


def test_a_hand_set_severity_records_no_matrix_cell(memory_store, clock):
    h = Harness(memory_store, clock)
    shown = commands.declare({"title": "checkout slow", "severity": "SEV-2"}, "alice", store=h.store, clock=h.clock,
                             runbook=h.runbook, paging=h.paging())
    assert shown["severity"] == "SEV-2"
    assert shown["classification"]["impact"] is None and shown["classification"]["scope"] is None
    assert shown["classification"]["reason"] == "Declared by alice: SEV-2 set by hand"


@pytest.mark.parametrize("args, severity, impact, reason", [
    (dict(severity="SEV-3", impact="core", scope="all"), "SEV-3", "core feature broken",
     "Declared by bob: SEV-3 set by hand (the matrix gives SEV-1 for core feature broken × all users)"),
    (dict(severity=None, impact="degraded", scope="some"), "SEV-3", "feature degraded",
     "Declared by bob: feature degraded × some users → SEV-3"),
    (dict(severity=None, impact=None, scope=None, security=True), "SEV-1", None,
     "Declared by bob: security incident → SEV-1 (runbook: security breach)"),
])
def test_declared_classification(args, severity, impact, reason):
    c = declared(actor="bob", **{"severity": None, "impact": None, "scope": None, **args})
    assert (c.severity, c.as_dict()["impact"], c.reason) == (severity, impact, reason)


def test_neither_severity_nor_matrix_cell_is_refused():
    with pytest.raises(ValueError):
        declared(actor="bob", severity=None, impact="core", scope=None)
