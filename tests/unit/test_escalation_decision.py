"""The escalation decision is pure: which step is due for (incident, now), who is on call for each of its
roles, and whether a page can go out. Recording it changes the incident; the service only adds messages."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from shared.domain import escalation as ladder
from shared.domain.classification import declared
from shared.domain.escalation import PageNotSent, PageRequested, StepFired
from shared.domain.escalation_state import Paged
from shared.domain.incident import Incident
from shared.domain.roster import Override
from shared.domain.timeutil import iso
from shared.services import escalation
from tests.harness import RUNBOOK

T0 = datetime(2026, 11, 30, 3, 0, tzinfo=timezone.utc)   # a Monday; alice is primary (runbook.toml)


def opened(severity: str, *, source: str = "manual", security: bool = False) -> Incident:
    c = declared(actor="ops", severity=severity, impact=None, scope=None, security=security)
    inc = Incident.declare("INC-20261130-0001", title="t", c=c, actor="ops", now=T0)
    inc.source = source
    escalation.plan(inc, RUNBOOK, T0)
    inc.new_events.clear()
    return inc


def never() -> list[Override]:
    raise AssertionError("the overrides were read")


def test_a_due_step_pages_the_person_on_call_when_the_role_has_a_routing_key():
    inc = opened("SEV-1")
    firing = ladder.decide_step(inc, "primary", T0, roster=RUNBOOK.roster, overrides=list,
                                routable_roles=frozenset({"primary"}))
    assert firing is not None
    fired, page = firing
    assert isinstance(fired, StepFired) and fired.step.name == "primary" and fired.at == T0
    person = RUNBOOK.roster.on_call("primary", T0).person
    assert page == PageRequested("primary", person, T0, fired.step)
    assert inc.new_events == [] and "primary" not in inc.escalation.done   # deciding changes nothing


def test_a_role_without_a_routing_key_is_not_paged_and_says_why():
    inc = opened("SEV-1")
    [_, page] = ladder.decide_step(inc, "primary", T0, roster=None, overrides=never, routable_roles=frozenset())
    assert page == PageNotSent("primary", "unknown", T0, "no PagerDuty routing key for primary")


def test_an_override_wins_over_the_rotation():
    inc = opened("SEV-1")
    o = Override("o1", "primary", "zoe", T0 - timedelta(hours=1), T0 + timedelta(hours=1), "ops", "swap",
                 created_at=T0 - timedelta(hours=2))
    [_, page] = ladder.decide_step(inc, "primary", T0, roster=RUNBOOK.roster, overrides=lambda: [o],
                                   routable_roles=frozenset({"primary"}))
    assert isinstance(page, PageRequested) and page.person == "zoe"


def test_a_step_not_yet_due_or_already_done_does_not_fire():
    inc = opened("SEV-1")
    args = dict(roster=RUNBOOK.roster, overrides=never, routable_roles=frozenset(ladder.ROLES))
    assert ladder.decide_step(inc, "secondary", T0 + timedelta(minutes=9), **args) is None
    assert ladder.decide_step(inc, "no-such-step", T0 + timedelta(hours=9), **args) is None
    inc.escalation = inc.escalation.fired("secondary", T0)
    assert ladder.decide_step(inc, "secondary", T0 + timedelta(minutes=11), **args) is None


def test_a_silence_holds_the_ladder_and_it_starts_over_when_the_silence_ends():
    inc = opened("SEV-1")
    inc.silence = {"until": iso(T0 + timedelta(minutes=30))}
    args = dict(roster=None, overrides=never, routable_roles=frozenset())
    assert ladder.hold_until(inc) == T0 + timedelta(minutes=30)
    assert ladder.decide_step(inc, "primary", T0 + timedelta(minutes=29), **args) is None
    assert ladder.decide_step(inc, "primary", T0 + timedelta(minutes=30), **args) is not None
    assert ladder.schedule(inc)["esc:secondary"] == T0 + timedelta(minutes=40)


@pytest.mark.parametrize("source, security, held", [("alert", False, True), ("manual", False, False),
                                                    ("alert", True, False)])
def test_the_noise_control_pause_holds_only_an_alerts_low_severity_non_security_ladder(source, security, held):
    inc = opened("SEV-3", source=source, security=security)
    until = T0 + RUNBOOK.pause["SEV-3"]
    assert ladder.pause_until(inc) == (until if held else None)
    inc.severity = "SEV-2"   # a raise lifts it, whatever was stored
    assert ladder.pause_until(inc) is None


def test_recording_a_firing_marks_the_step_done_and_writes_each_page_to_the_timeline():
    inc = opened("SEV-1")
    [fired, _] = ladder.decide_step(inc, "primary", T0, roster=None, overrides=never, routable_roles=frozenset())
    step = fired.step
    firing = (fired, PageRequested("primary", "alice", T0, step), PageNotSent("cto", "dan", T0, "no key"))
    ladder.record(inc, firing)
    assert inc.escalation.done == {"primary": T0}
    assert inc.escalation.paged == {"primary": Paged("alice", T0), "cto": Paged("dan", T0)}
    assert [(e.kind, e.text, e.data) for e in inc.new_events] == [
        ("page", f"Paging primary (alice) via PagerDuty: {step.describe()}", {"role": "primary", "person": "alice"}),
        ("page", "Page to cto (dan) not sent: no key", {"role": "cto", "person": "dan", "sent": False})]


def test_the_schedule_has_the_pending_steps_and_the_open_sla_clocks():
    inc = opened("SEV-1")
    due = ladder.schedule(inc)
    assert due["esc:primary"] == T0 and due["esc:secondary"] == T0 + timedelta(minutes=10)
    assert due["sla:response"] == T0 + timedelta(minutes=15, seconds=1)
    inc.acknowledge("alice", T0 + timedelta(minutes=1))
    due = ladder.schedule(inc)
    assert "sla:response" not in due and "esc:secondary" not in due and "esc:engineering_lead" in due


def test_the_service_turns_only_the_requested_pages_into_messages():
    inc = opened("SEV-1")
    paging = escalation.Paging(routable_roles=frozenset({"primary"}))
    ops = escalation.fire(inc, "primary", T0, RUNBOOK, paging)
    pages = [o for o in ops if (getattr(o, "fields", None) or o.data)["channel"] == "pagerduty"]
    assert len(pages) == 1 and (getattr(pages[0], "fields", None) or pages[0].data)["role"] == "primary"
    assert escalation.fire(inc, "primary", T0, RUNBOOK, paging) is None   # a step never fires twice
