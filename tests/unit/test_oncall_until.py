"""GET oncall says until when each holder keeps the role: an override until its own end; the rotation
until its hand-off or the start of a later override, whichever comes first."""
from __future__ import annotations

from datetime import timedelta

from shared.domain.timeutil import iso
from shared.services import oncall
from tests.harness import RUNBOOK


def _add(store, clock, role, person, start, end):
    return oncall.add_override({"role": role, "person": person, "start": iso(start), "end": iso(end),
                                "reason": "swap"}, "alice", store=store, clock=clock)


def test_an_override_holds_the_role_until_its_own_end(memory_store, clock):
    now = clock.now()
    _add(memory_store, clock, "primary", "dana", now - timedelta(minutes=5), now + timedelta(hours=3))
    shown = {o["role"]: o for o in oncall.who_is_on_call(roster=RUNBOOK.roster, store=memory_store,
                                                          clock=clock)["oncall"]}
    assert shown["primary"]["person"] == "dana" and shown["primary"]["source"] == "override"
    assert shown["primary"]["until"] == iso(now + timedelta(hours=3))


def test_the_rotation_holds_the_role_until_a_later_override_starts(memory_store, clock):
    now = clock.now()
    handoff = RUNBOOK.roster.next_handoff("secondary", now)
    starts = min(handoff, now + timedelta(hours=1)) - timedelta(minutes=1)
    _add(memory_store, clock, "secondary", "erin", starts, starts + timedelta(hours=2))
    shown = {o["role"]: o for o in oncall.who_is_on_call(roster=RUNBOOK.roster, store=memory_store,
                                                          clock=clock)["oncall"]}
    assert shown["secondary"]["source"] == "rotation" and shown["secondary"]["until"] == iso(starts)
    assert shown["primary"]["until"] == iso(RUNBOOK.roster.next_handoff("primary", now))
