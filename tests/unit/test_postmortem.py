"""The post-incident report draft: a scripted SEV-1 against a golden file, and the condensing rules."""
from __future__ import annotations

import os
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.domain.classification import declared
from shared.domain.escalation_state import EscalationState
from shared.domain.incident import AUTOMATION, Incident
from shared.domain.policy import Runbook
from shared.domain.postmortem import draft, duration_text, to_markdown
from shared.domain.remediation_entry import Remediation
from shared.domain.review import Review
from shared.domain.timeutil import iso

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = Runbook.from_dict(tomllib.loads((ROOT / "runbook.toml").read_text()))
GOLDEN = ROOT / "tests" / "golden" / "postmortem-sev1.md"
API = "/subscriptions/0000/resourceGroups/rg-prod/providers/Microsoft.Web/sites/app-checkout-api"


def t(day: int, hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=UTC)


def delivery(at: datetime, text: str) -> dict:
    """An outbox outcome as the repository's timeline returns it (written beside the incident)."""
    return {"at": iso(at), "kind": "delivery", "actor": AUTOMATION, "text": text}


def scripted() -> tuple[Incident, list[dict]]:
    """A SEV-2 declared at 23:40 UTC, raised to SEV-1, remediated and resolved after midnight."""
    c = declared(actor="alice", severity=None, impact="core", scope="some", tenants=("contoso", "fabrikam"))
    inc = Incident.declare("INC-20261129-0007", title="Checkout API returns 503", c=c, actor="alice",
                           now=t(29, 23, 40))
    inc.core_targets.append(API)
    inc.record(t(29, 23, 40), "escalation", AUTOMATION, "SEV-2 ladder: page primary now; chat at 5 min")
    inc.escalation = inc.escalation.paging("primary", "bob", t(29, 23, 41))
    inc.record(t(29, 23, 41), "page", AUTOMATION, "Paging primary (bob) via PagerDuty: page primary now")
    inc.record(t(29, 23, 43), "diagnostics", AUTOMATION,
               "Diagnostics (runbook step 2):\n  app-checkout-api: Running, 5xx 38%\n  postgres: disk 100% used")
    for n in range(5):
        inc.record(t(29, 23, 45 + n), "alert-correlated", "azure-monitor",
                   f"Correlated: 'checkout-5xx-{n + 1}' (same core resource)")
    inc.record(t(29, 23, 46), "communication", AUTOMATION, "chat due (chat step): queued for delivery")
    inc.acknowledge("bob", t(29, 23, 52))
    inc.record(t(29, 23, 58), "diagnostics", AUTOMATION, "Diagnostics again: unchanged")
    inc.note("Disk on the database server is full; clearing old WAL files", "bob", t(30, 0, 5))
    inc.set_severity("SEV-1", "every tenant fails at checkout now", "bob", t(30, 0, 10))
    inc.remediations.append(Remediation.from_doc({"id": "REM-1a2b3c", "playbook": "restart-app", "status": "succeeded",
                                                  "resource_id": API, "reason": "5xx on a core web app"}))
    inc.record(t(30, 0, 12), "remediation", AUTOMATION,
               "Remediation REM-1a2b3c: playbook restart-app selected (5xx on a core web app)")
    inc.record(t(30, 0, 20), "remediation", AUTOMATION, "Verification of REM-1a2b3c (restart-app), check 1:\n"
               "  app-checkout-api: Running\n  5xx rate 0.2% (below 1%)")
    inc.set_phase("monitoring", "5xx back to normal", "bob", t(30, 0, 30), runbook=RUNBOOK)
    inc.record(t(30, 0, 41), "sla-breach", AUTOMATION, "Resolution SLA breached: SEV-1 target was "
               "2026-11-30T00:40:00.000000Z")
    inc.resolve("bob", t(30, 0, 52), runbook=RUNBOOK)
    timeline = [e.as_dict() for e in inc.new_events] + [
        delivery(t(29, 23, 41, 5), "PagerDuty trigger for primary (bob): failed (503, delivery 1, 1 attempt: "
                                   "Service Unavailable); will retry"),
        delivery(t(29, 23, 41, 20), "PagerDuty trigger for primary (bob): delivered (202, 1 attempt)"),
        delivery(t(29, 23, 42), "PagerDuty trigger for primary (bob): delivered (202, 2 attempts)"),
        delivery(t(29, 23, 50), "chat: not sent (no webhook); nothing was delivered"),
        delivery(t(29, 23, 52, 30), "PagerDuty acknowledge for primary (bob): delivered (202, 1 attempt)"),
        delivery(t(30, 0, 52, 30), "PagerDuty resolve for primary (bob): delivered (202, 1 attempt)"),
    ]
    return inc, sorted(timeline, key=lambda e: e["at"])


def reviewed(inc: Incident) -> Review:
    review, _ = Review.from_incident(inc, RUNBOOK).record({
        "meeting": {"at": "2026-12-01T10:00:00Z", "attendees": ["alice", "bob", "carol"]},
        "root_cause": "The database disk filled up with write-ahead log files that an archiving job, failing "
                      "silently since 27 November, no longer removed.",
        "action_items": [
            {"text": "Alert when the database disk is over 80% full", "owner": "carol", "due": "2026-12-08",
             "ticket": "OPS-101"},
            {"text": "Make the WAL archiving job fail loudly | page the primary\non error", "owner": "bob",
             "due": "2026-12-15", "link": "https://wiki.example/ops/wal"},
            {"text": "Rehearse the restart-app playbook", "owner": "alice", "status": "done"}]},
        now=t(30, 12, 0).replace(day=1, month=12), calendar=RUNBOOK.calendar)
    return review


def test_the_scripted_sev1_matches_the_golden_report():
    inc, timeline = scripted()
    text = to_markdown(draft(inc, timeline, reviewed(inc), now=datetime(2026, 12, 1, 12, tzinfo=UTC)))
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()


def test_the_draft_condenses_the_timeline():
    inc, timeline = scripted()
    d = draft(inc, timeline, None, now=t(30, 1, 0))
    events = [e["event"] for e in d["timeline"]]
    deliveries = [e for e in events if "PagerDuty" in e and "delivered" in e]
    assert deliveries == ["PagerDuty trigger for primary (bob): delivered (202, 1 attempt)"]
    assert not any("failed" in e or "not sent" in e for e in events)
    assert [e for e in events if "checkout-5xx" in e or "more alerts" in e] == [
        "Correlated: 'checkout-5xx-1' (same core resource)", "Correlated: 'checkout-5xx-2' (same core resource)",
        "Correlated: 'checkout-5xx-3' (same core resource)", "+2 more alerts correlated"]
    assert [e for e in events if e.startswith("Diagnostics")] == [
        "Diagnostics (runbook step 2): app-checkout-api: Running, 5xx 38%; postgres: disk 100% used"]
    assert not any(e.startswith(("SEV-2 ladder", "chat due", "Post-incident review due")) for e in events)
    assert d["timeline"][0] == {"at": "11-29 23:40", "event": "Declared by hand: Checkout API returns 503"}
    assert (d["lead"], d["severity"], d["duration"], d["end"]) == ("bob", "SEV-1", "1 h 12 min", "2026-11-30 00:52 UTC")
    assert d["remediations"] == [{"playbook": "restart-app", "status": "succeeded", "outcome": "verified"}]
    assert d["impact"] == {"users": "some users (core feature broken)", "tenants": ["contoso", "fabrikam"],
                           "tenants_truncated": False, "services": ["app-checkout-api"], "data_impact": "unknown"}


def test_a_same_day_incident_shows_times_only_and_an_open_one_runs_to_now():
    inc = Incident.declare("INC-2", title="Slow search", actor="dee", now=t(10, 9, 0),
                           c=declared(actor="dee", severity="SEV-3", impact=None, scope=None))
    inc.note("Looking at the index", "dee", t(10, 9, 5))
    d = draft(inc, [e.as_dict() for e in inc.new_events], None, now=t(10, 9, 45))
    assert [e["at"] for e in d["timeline"]] == ["09:00", "09:00", "09:05"]
    assert (d["end"], d["duration"], d["lead"], d["impact"]["users"]) == ("ongoing", "45 min", "unassigned", "unknown")
    assert d["summary"].startswith("Slow search is a SEV-3 incident, open for 45 min since 2026-11-10 09:00 UTC. "
                                   "The impact was not assessed")
    md = to_markdown(d)
    assert "## Root Cause\n<!-- Detailed technical explanation of what caused the incident. Blameless: " in md
    assert "|---|--------|-------|----------|--------|\n\n<!-- Action items are created during the review" in md


def test_the_lead_falls_back_to_the_paged_primary():
    inc, timeline = scripted()
    inc.acknowledged_by = ""
    assert draft(inc, timeline, None, now=t(30, 1, 0))["lead"] == "bob"
    inc.escalation = EscalationState()
    assert draft(inc, timeline, None, now=t(30, 1, 0))["lead"] == "unassigned"


def test_sections_follow_the_runbook_template():
    inc, timeline = scripted()
    md = to_markdown(draft(inc, timeline, reviewed(inc), now=t(30, 1, 0)))
    heads = [line for line in md.splitlines() if line.startswith(("#", "**"))]
    assert heads[:5] == ["# Post-Incident Report: Checkout API returns 503", "**Date:** 2026-11-29",
                         "**Duration:** 2026-11-29 23:40 UTC to 2026-11-30 00:52 UTC (1 h 12 min)",
                         "**Severity:** SEV-1", "**Lead:** bob"]
    assert heads[5:] == ["## Summary", "## Timeline", "## Root Cause", "## Impact", "## What Went Well",
                         "## What Needs Improvement", "## Action Items", "## Lessons Learned"]
    assert r"| A2 | Make the WAL archiving job fail loudly \| page the primary<br>on error " in md


@pytest.mark.parametrize("seconds, text", [(20, "under a minute"), (60, "1 min"), (3600, "1 h"),
                                           (90_061, "1 d 1 h 1 min")])
def test_duration_text(seconds, text):
    from datetime import timedelta
    assert duration_text(timedelta(seconds=seconds)) == text
