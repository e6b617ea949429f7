"""Alert index and audit rows expire after runbook.toml's [retention] periods; the rest stays."""
from __future__ import annotations

from datetime import timedelta

import pytest

from shared.domain.errors import PolicyError
from shared.ports import Op
from shared.services.retention import expire, periods
from tests.harness import RUNBOOK, Harness
from tests.payloads import OTHER_ID, metric_alert


def test_old_alert_index_and_audit_rows_expire_and_recent_ones_stay(table_store, clock):
    h = Harness(table_store, clock)
    old = h.alert(metric_alert("old", target=OTHER_ID, rule="r-old"))["incident_id"]
    t0 = clock.now()
    table_store.commit(ops=[Op("insert", f"aud|{(t0 - timedelta(days=500)).isoformat()}|REM-a|000001", {"x": 1}),
                            Op("insert", f"aud|{t0.isoformat()}|REM-b|000001", {"x": 2})])
    clock.advance(days=100)
    new = h.alert(metric_alert("new", target=OTHER_ID, rule="r-new"))["incident_id"]
    report = expire(store=table_store, clock=clock, sections=RUNBOOK.sections)
    rows = {r.key: r.data for r in table_store.scan(start="alert|", end="alert}").records}
    assert {d["incident_id"] for d in rows.values()} == {new}
    audit = [r.key for r in table_store.scan(start="aud|", end="aud}").records]
    assert audit == [f"aud|{t0.isoformat()}|REM-b|000001"] and report.audit == 1 and report.alerts == 1
    assert h.show(old)["id"] == old                      # the incident itself stays
    assert h.alert(metric_alert("new", target=OTHER_ID, rule="r-new"))["outcome"] == "duplicate"


@pytest.mark.parametrize("raw, message", [
    ({"retention": {"alert_index_days": 0}}, "retention.alert_index_days"),
    ({"retention": {"audit_days": "a year"}}, "retention.audit_days"),
    ({"retention": {"alert_index_days": 90, "audit_days": 30}}, "kept longer"),
])
def test_bad_retention_is_refused_naming_the_key(raw, message):
    with pytest.raises(PolicyError, match=message):
        periods(raw)


def test_the_shipped_runbook_keeps_audit_longer():
    alerts, audit = periods(RUNBOOK.sections)
    assert audit > alerts >= timedelta(days=30)
