"""Resource Health and Service Health alerts on the in-memory store and an injected clock (issue 13,
points 2 and 3).

Activity-log alerts are stateless: they only ever arrive Fired. Resource Health says a resource is back
with a new Fired alert whose currentHealthStatus is Available; Service Health says an Azure incident is
over with a Fired alert at stage Resolved. Payloads are Microsoft's samples (tests/payloads.py:
resource_health, service_health) with our ids, statuses and tracking ids.
"""
from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from shared import bootstrap
from shared.domain.alerts import parse_alert
from shared.domain.classification import classify
from shared.domain.remediation_entry import Remediation
from shared.domain.timeutil import iso
from shared.services.intake import ingest_alert
from shared.services.queries import get_incident
from shared.storage.repository import IncidentRepository
from shared.services.schedule import schedule_for
from shared.services.sweep import sweep
from tests.payloads import (API_ID, CORE, OTHER_ID, PG_ID, REDIS_ID, event, metric_alert, resolved,
                            resource_health, service_health)

RUNBOOK = bootstrap.load_runbook(bootstrap.settings().runbook_file)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def ingest(memory_store, clock):
    def run(payload):
        return ingest_alert(payload, store=memory_store, clock=clock, runbook=RUNBOOK, core=CORE).as_dict()
    return run


def show(store, incident_id):
    return get_incident(incident_id, store=store)


def incidents(store) -> list:
    return store.scan(start="inc|", end="inc}").records


def at(clock, minutes: float = 0) -> str:
    """An Azure timestamp `minutes` from the clock's now."""
    return (clock.now() + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# ---- what the real payloads carry ----------------------------------------------------------------

def test_resource_health_status_and_cause_come_from_the_alert_context():
    a = parse_alert(event("test-resourcehealth-fired.json"))
    assert (a.health_status, a.health_cause, a.tracking_id) == ("Unavailable", "UserInitiated", None)
    assert a.fingerprint == "resource health|" + a.target_ids[0] and not a.is_recovery_notice
    assert parse_alert(resource_health("rh", cause=None)).health_cause is None


def test_a_resource_health_fingerprint_is_the_resource_whatever_the_rule():
    down = parse_alert(resource_health("rh1", rule="ir-prod-postgres-health-unavailable"))
    up = parse_alert(resource_health("rh2", rule="ir-prod-postgres-health", status="Available"))
    other = parse_alert(resource_health("rh3", rule="ir-prod-postgres-health", target=API_ID))
    assert down.fingerprint == up.fingerprint != other.fingerprint
    assert up.is_recovery_notice and not down.is_recovery_notice
    assert parse_alert(resource_health("rh4", status="Unavailable", event_status="Resolved")).is_recovery_notice


def test_service_health_is_keyed_by_the_tracking_id_in_the_alert_context():
    # data.alertContext.properties.trackingId in both of Microsoft's samples
    assert parse_alert(event("test-servicehealth-fired.json")).tracking_id == "TEST-TTT"
    assert parse_alert(event("test2022-servicehealth-fired.json")).tracking_id == "ABC1-DEF"
    a = parse_alert(service_health("s1", tracking_id="VT1L-1Z8"))
    b = parse_alert(service_health("s2", tracking_id="VT1L-1Z8", stage="Resolved"))
    c = parse_alert(service_health("s3", tracking_id="QK2N-7A0"))
    assert a.fingerprint == b.fingerprint == "servicehealth|vt1l-1z8" != c.fingerprint
    assert (a.stage, b.stage) == ("Active", "Resolved") and b.is_recovery_notice and not a.is_recovery_notice
    assert parse_alert(service_health("s4", tracking_id="VT1L-1Z8", stage="RCA")).is_recovery_notice


# ---- Resource Health: classified from currentHealthStatus -----------------------------------------

@pytest.mark.parametrize("target,status,severity,why", [
    (PG_ID, "Unavailable", "SEV-1", "core feature broken × all users"),
    (PG_ID, "Degraded", "SEV-2", "feature degraded × all users"),
    (API_ID, "Unavailable", "SEV-1", "core feature broken × all users"),
    (API_ID, "Degraded", "SEV-2", "feature degraded × all users"),
    (REDIS_ID, "Unavailable", "SEV-2", "rule 'cache failure'"),       # runbook: the app falls back to the DB
    (OTHER_ID, "Unavailable", "SEV-2", "core feature broken × some users"),
])
def test_resource_health_is_classified_from_its_health_status(target, status, severity, why):
    c = classify(parse_alert(resource_health("rh", target=target, status=status)), RUNBOOK.rules, CORE)
    assert c.severity == severity and why in c.reason, c.reason


# ---- Resource Health: Available resolves by the resource -------------------------------------------

def test_available_from_another_rule_resolves_the_incident_its_resource_opened(ingest, memory_store, clock):
    down = ingest(resource_health("rh1", status="Unavailable", rule="ir-prod-postgres-health-unavailable",
                                  fired=at(clock)))
    assert down["outcome"] == "created" and down["severity"] == "SEV-1"
    clock.advance(minutes=30)       # far outside the correlation window: only the resource ties them
    up = ingest(resource_health("rh2", status="Available", previous="Unavailable", rule="ir-prod-postgres-health",
                                fired=at(clock)))
    assert up == {"incident_id": down["incident_id"], "outcome": "resolved", "severity": "SEV-1"}
    shown = show(memory_store, down["incident_id"])
    assert shown["phase"] == "monitoring" and shown["alerts_firing"] == 0
    assert len(incidents(memory_store)) == 1


def test_available_resolves_the_degraded_event_that_joined_a_metric_incident(ingest, memory_store, clock):
    inc = ingest(metric_alert("m1", target=PG_ID, rule="pg-alive", metric="is_db_alive", fired=at(clock)))
    clock.advance(minutes=2)
    joined = ingest(resource_health("rh1", status="Degraded", rule="ir-prod-postgres-health-degraded",
                                    fired=at(clock)))
    assert joined["outcome"] == "correlated" and joined["incident_id"] == inc["incident_id"]
    clock.advance(minutes=40)
    up = ingest(resource_health("rh2", status="Available", previous="Degraded", fired=at(clock)))
    assert up["outcome"] == "resolved" and up["incident_id"] == inc["incident_id"]
    shown = show(memory_store, inc["incident_id"])
    assert shown["alerts_firing"] == 1 and shown["phase"] == "investigating"   # the metric alert still fires
    assert ingest(resolved(metric_alert("m1", target=PG_ID, rule="pg-alive", metric="is_db_alive")))["outcome"] \
        == "resolved"
    assert show(memory_store, inc["incident_id"])["phase"] == "monitoring"


def test_available_of_another_resource_resolves_nothing(ingest, memory_store, clock):
    down = ingest(resource_health("rh1", target=PG_ID, status="Unavailable", fired=at(clock)))
    clock.advance(minutes=3)
    up = ingest(resource_health("rh2", target=API_ID, status="Available", rule="ir-prod-api-health", fired=at(clock)))
    assert up == {"incident_id": None, "outcome": "ignored", "severity": None}
    assert show(memory_store, down["incident_id"])["alerts_firing"] == 1


# ---- Resource Health: the app's own remediation -------------------------------------------------------

def remediating(store, incident_id: str, *, status: str, started: datetime, resource: str = PG_ID,
                finished: datetime | None = None, verify_minutes: int = 10) -> str:
    """Put a postgres-failover remediation in `status` on the incident, as remediation_run leaves it."""
    repo = IncidentRepository(store)
    inc, etag = repo.load(incident_id)
    execution = {"started_at": iso(started), "action": "restart_postgres"}
    verification = None
    if finished is None and status != "executing":   # ARM answered at once
        finished = started
    if finished is not None:
        execution.update(finished_at=iso(finished), status="Succeeded", request_id="req-1", detail={})
        verification = {"until": iso(finished + timedelta(minutes=verify_minutes)), "next_at": iso(finished),
                        "checks": 0}
    inc.remediations.append(Remediation.from_doc({
        "id": "REM-abc123", "playbook": "postgres-failover", "resource_id": resource.lower(), "mode": "approval",
        "status": status, "reason": "test", "alert_id": "m1", "alert_fired_at": iso(started),
        "created_at": iso(started), "plan": None, "approval": None, "execution": execution,
        "verification": verification}))
    store.commit(ops=repo.save_ops(inc, etag, schedule_for(inc, RUNBOOK)))
    return "REM-abc123"


def sev2_on_postgres(ingest, clock) -> str:
    body = metric_alert("m1", target=PG_ID, rule="pg-connections-failed", metric="connections_failed",
                        severity="Sev1", fired=at(clock), custom={"impact": "degraded", "scope": "all"})
    out = ingest(body)
    assert out["severity"] == "SEV-2"
    return out["incident_id"]


@pytest.mark.parametrize("status", ["executing", "verifying"])
def test_the_restart_of_a_remediation_in_flight_is_its_expected_effect(ingest, memory_store, clock, status):
    inc = sev2_on_postgres(ingest, clock)
    clock.advance(minutes=25)                      # approval took a while: outside the correlation window
    remediating(memory_store, inc, status=status, started=clock.now())
    clock.advance(minutes=1)
    out = ingest(resource_health("rh1", status="Unavailable", cause="UserInitiated", fired=at(clock, -0.5)))
    assert out == {"incident_id": inc, "outcome": "correlated", "severity": "SEV-2"}   # no new SEV-1
    assert len(incidents(memory_store)) == 1
    shown = show(memory_store, inc)
    [expected] = [e for e in shown["timeline"] if e["kind"] == "alert-expected"]
    assert "Expected effect of remediation REM-abc123 (postgres-failover" in expected["text"]
    assert "UserInitiated" in expected["text"]
    assert not any(e["kind"] == "severity" for e in shown["timeline"])
    assert shown["alerts_firing"] == 2
    clock.advance(minutes=2)                       # the server is back: its Available resolves that alert
    up = ingest(resource_health("rh2", status="Available", previous="Unavailable", cause="UserInitiated",
                                fired=at(clock)))
    assert up["outcome"] == "resolved" and up["incident_id"] == inc
    assert show(memory_store, inc)["alerts_firing"] == 1


def test_a_late_report_within_the_verification_window_is_still_expected(ingest, memory_store, clock):
    inc = sev2_on_postgres(ingest, clock)
    clock.advance(minutes=25)
    done = clock.now()
    remediating(memory_store, inc, status="succeeded", started=done - timedelta(seconds=20), finished=done)
    clock.advance(minutes=6)                       # Resource Health reported the restart minutes later
    out = ingest(resource_health("rh1", status="Unavailable", cause="UserInitiated", fired=at(clock, -2)))
    assert out["outcome"] == "correlated" and out["incident_id"] == inc and out["severity"] == "SEV-2"


def test_a_cause_that_azure_has_not_given_yet_counts_as_the_remediation(ingest, memory_store, clock):
    inc = sev2_on_postgres(ingest, clock)
    clock.advance(minutes=25)
    remediating(memory_store, inc, status="verifying", started=clock.now())
    clock.advance(minutes=1)
    out = ingest(resource_health("rh1", status="Unavailable", cause=None, fired=at(clock)))
    assert out["outcome"] == "correlated" and out["incident_id"] == inc
    assert any("cause not given" in e["text"] for e in show(memory_store, inc)["timeline"])


@pytest.mark.parametrize("case", ["after the window", "before the action", "platform initiated",
                                  "another resource"])
def test_what_no_remediation_explains_is_a_new_problem(ingest, memory_store, clock, case):
    inc = sev2_on_postgres(ingest, clock)
    clock.advance(minutes=25)
    start = clock.now()
    if case == "after the window":
        remediating(memory_store, inc, status="succeeded", started=start, finished=start)
        clock.advance(minutes=15)
    elif case == "another resource":
        remediating(memory_store, inc, status="verifying", started=start, resource=REDIS_ID)
        clock.advance(minutes=1)
    else:
        remediating(memory_store, inc, status="verifying", started=start)
        clock.advance(minutes=1)
    fired = at(clock, -10 if case == "before the action" else 0)
    cause = "PlatformInitiated" if case == "platform initiated" else "UserInitiated"
    out = ingest(resource_health("rh1", status="Unavailable", cause=cause, fired=fired))
    assert out["outcome"] == "created" and out["severity"] == "SEV-1" and out["incident_id"] != inc
    assert not any(e["kind"] == "alert-expected" for e in show(memory_store, inc)["timeline"])


def test_an_expected_effect_during_monitoring_holds_the_stability_window(ingest, memory_store, clock):
    inc = sev2_on_postgres(ingest, clock)
    ingest(resolved(metric_alert("m1", target=PG_ID, rule="pg-connections-failed", metric="connections_failed")))
    assert show(memory_store, inc)["phase"] == "monitoring"
    clock.advance(minutes=2)
    remediating(memory_store, inc, status="verifying", started=clock.now())
    clock.advance(minutes=1)
    assert ingest(resource_health("rh1", status="Unavailable", cause="UserInitiated", fired=at(clock)))[
        "outcome"] == "correlated"
    assert show(memory_store, inc)["phase"] == "identified"
    clock.advance(minutes=20)                      # past the stability window: nothing resolves meanwhile
    sweep(store=memory_store, clock=clock, runbook=RUNBOOK)
    assert show(memory_store, inc)["state"] != "resolved"
    ingest(resource_health("rh2", status="Available", previous="Unavailable", cause="UserInitiated", fired=at(clock)))
    assert show(memory_store, inc)["phase"] == "monitoring"


# ---- Service Health: one incident per tracking id ----------------------------------------------------

def test_updates_of_one_tracking_id_are_one_incident_that_its_resolved_closes(ingest, memory_store, clock):
    first = ingest(service_health("s1", tracking_id="VT1L-1Z8", fired=at(clock)))
    assert first["outcome"] == "created"
    clock.advance(hours=1)
    update = ingest(service_health("s2", tracking_id="VT1L-1Z8", fired=at(clock)))
    assert update == {**first, "outcome": "correlated"}
    assert any("tracking id VT1L-1Z8" in e["text"] for e in show(memory_store, first["incident_id"])["timeline"])
    clock.advance(hours=1)
    done = ingest(service_health("s3", tracking_id="VT1L-1Z8", stage="Resolved", fired=at(clock)))
    assert done == {**first, "outcome": "resolved"}
    shown = show(memory_store, first["incident_id"])
    assert shown["phase"] == "monitoring" and shown["alerts_firing"] == 0


def test_a_resolved_of_another_tracking_id_leaves_the_incident_open(ingest, memory_store, clock):
    a = ingest(service_health("s1", tracking_id="VT1L-1Z8", fired=at(clock)))
    clock.advance(minutes=5)
    b = ingest(service_health("s2", tracking_id="QK2N-7A0", title="Azure Cache for Redis - West Europe",
                              fired=at(clock)))
    assert b["outcome"] == "created" and b["incident_id"] != a["incident_id"]
    clock.advance(minutes=30)
    assert ingest(service_health("s3", tracking_id="QK2N-7A0", stage="Resolved", fired=at(clock))) == \
        {**b, "outcome": "resolved"}
    assert show(memory_store, a["incident_id"])["alerts_firing"] == 1
    assert show(memory_store, a["incident_id"])["phase"] == "investigating"
    assert show(memory_store, b["incident_id"])["phase"] == "monitoring"


def test_a_post_incident_review_never_opens_an_incident(ingest, memory_store, clock):
    assert ingest(service_health("s1", tracking_id="VT1L-1Z8", stage="RCA", fired=at(clock)))["outcome"] == "ignored"
    assert incidents(memory_store) == []


# ---- the rule that sends Available ------------------------------------------------------------------

def test_infra_check_refuses_a_resource_health_rule_without_available(tmp_path):
    import shutil
    sys.path.insert(0, str(ROOT / "infra"))
    try:
        import check_infra
    finally:
        sys.path.remove(str(ROOT / "infra"))
    assert check_infra.check_alerts_resolve(ROOT) == []
    shutil.copytree(ROOT / "infra", tmp_path / "infra", ignore=shutil.ignore_patterns("__pycache__"))
    bicep = tmp_path / "infra/bicep/modules/alerts.bicep"
    text = bicep.read_text()
    available = ("            {\n              field: 'properties.currentHealthStatus'\n"
                 "              equals: 'Available'\n            }\n")
    assert available in text
    bicep.write_text(text.replace(available, "", 1))
    [problem] = check_infra.check_alerts_resolve(tmp_path)
    assert "without Available" in problem.message
