"""The escalation state is typed and has one codec: every shape stored so far loads (an incident whose
ladder was never planned stores `{}`), what today's code writes comes back unchanged, and the API view of
it is the JSON it always was. Ending the pause and bringing a step forward are domain changes."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from shared.domain import escalation as ladder
from shared.domain.classification import declared
from shared.domain.escalation_state import EscalationState, Paged, Step
from shared.domain.incident import Incident
from shared.services import escalation
from tests.harness import RUNBOOK

T0 = datetime(2026, 11, 30, 3, 0, tzinfo=timezone.utc)

# What the code before the typed state wrote for a SEV-3 alert: planned with its pause, the pause ended
# early, the primary paged, the ticket step's chat waiting for the diagnostics.
STORED = {
    "severity": "SEV-3",
    "steps": [{"name": "primary", "at_minutes": 0.0, "roles": ["primary"], "unless": "acknowledged", "also": []},
              {"name": "ticket", "at_minutes": 5.0, "roles": [], "unless": None, "also": ["ticket", "chat"]},
              {"name": "secondary", "at_minutes": 30.0, "roles": ["secondary"], "unless": "acknowledged",
               "also": []}],
    "done": {"primary": "2026-11-30T03:02:00.000000Z", "ticket": "2026-11-30T03:02:00.000000Z"},
    "advanced": {"secondary": "2026-11-30T03:04:00.000000Z"},
    "pause_until": "2026-11-30T03:02:00.000000Z",
    "paged": {"primary": {"person": "alice", "at": "2026-11-30T03:02:00.000000Z"}},
    "chat_after_diagnostics": "ticket",
}


def opened(severity: str = "SEV-1", *, source: str = "manual") -> Incident:
    c = declared(actor="ops", severity=severity, impact=None, scope=None)
    inc = Incident.declare("INC-20261130-0001", title="t", c=c, actor="ops", now=T0)
    inc.source = source
    escalation.plan(inc, RUNBOOK, T0)
    inc.new_events.clear()
    return inc


def test_a_stored_state_loads_typed_and_writes_back_unchanged():
    state = EscalationState.from_doc(STORED)
    assert state.severity == "SEV-3"
    assert state.steps[1] == Step("ticket", timedelta(minutes=5), (), None, ("ticket", "chat"))
    assert state.done == {"primary": T0 + timedelta(minutes=2), "ticket": T0 + timedelta(minutes=2)}
    assert state.advanced == {"secondary": T0 + timedelta(minutes=4)}
    assert state.paged == {"primary": Paged("alice", T0 + timedelta(minutes=2))}
    assert (state.pause_until, state.chat_after_diagnostics) == (T0 + timedelta(minutes=2), "ticket")
    assert state.to_doc() == STORED
    assert [s.name for s in state.pending("triggered")] == ["secondary"]
    assert state.pending("acknowledged") == []


def test_an_incident_never_planned_stores_an_empty_object_and_reads_it_back():
    assert EscalationState.from_doc({}) == EscalationState.from_doc(None) == EscalationState()
    assert EscalationState().empty and EscalationState().to_doc() == {}
    c = declared(actor="ops", severity="SEV-2", impact=None, scope=None)
    inc = Incident.declare("INC-20261130-0002", title="t", c=c, actor="ops", now=T0)
    doc = inc.to_doc()
    assert doc["escalation"] == {}
    doc.pop("escalation")            # a document from before the ladder was stored at all
    assert Incident.from_doc(doc).escalation.empty
    assert ladder.schedule(inc) == {} and escalation.view(inc) == {}


def test_older_and_hand_written_shapes_load():
    old = {"severity": "SEV-2", "steps": [{"name": "primary", "at_minutes": 0, "roles": ["primary"]}],
           "done": {}}           # no advanced, no paged; an integer offset; a step without unless or also
    state = EscalationState.from_doc(old)
    assert state.steps == (Step("primary", timedelta(0), ("primary",)),) and state.advanced == {}
    assert not state.empty and state.paged == {}
    sample = EscalationState.from_doc({"paged": {"primary": {"person": "bob"}}})   # templates' samples
    assert sample.paged == {"primary": Paged("bob")} and sample.severity is None
    assert sample.to_doc() == {"paged": {"primary": {"person": "bob"}}}


def test_keys_this_version_does_not_know_are_kept():
    doc = {**STORED, "padding": "x" * 10}
    assert EscalationState.from_doc(doc).to_doc() == doc


def test_the_incident_codec_round_trips_the_state():
    inc = opened()
    ops = escalation.fire(inc, "primary", T0, RUNBOOK, escalation.Paging(routable_roles=frozenset({"primary"})))
    assert ops
    ladder.advance_now(inc, T0 + timedelta(minutes=1), "remediation REM-1 failed")
    back = Incident.from_doc(inc.to_doc())
    assert back.escalation == inc.escalation
    assert back.escalation.done == {"primary": T0}
    assert back.escalation.advanced == {"secondary": T0 + timedelta(minutes=1)}
    assert set(back.escalation.paged) == {"primary"} and back.escalation.paged["primary"].at == T0


def test_the_view_is_the_json_it_always_was():
    inc = opened("SEV-3", source="alert")
    inc.escalation = EscalationState.from_doc(STORED)
    assert escalation.view(inc) == {
        "severity": "SEV-3",
        "done": [{"step": "primary", "at": "2026-11-30T03:02:00.000000Z"},
                 {"step": "ticket", "at": "2026-11-30T03:02:00.000000Z"}],
        "next": {"step": "secondary", "roles": ["secondary"], "due_at": "2026-11-30T03:04:00.000000Z"},
        "paged": {"primary": {"person": "alice", "at": "2026-11-30T03:02:00.000000Z"}},
        "steps": STORED["steps"]}


def test_advance_now_brings_the_next_step_forward_with_the_same_timeline_text():
    inc = opened()
    ladder.advance_now(inc, T0 + timedelta(minutes=2), "remediation REM-7 failed")
    assert inc.escalation.advanced == {"primary": T0 + timedelta(minutes=2)}
    assert [(e.kind, e.text) for e in inc.new_events] == [
        ("escalation", "Escalating at once to primary: remediation REM-7 failed")]
    assert ladder.step_due_at(inc, inc.escalation.steps[0]) == T0   # never later than its own offset
    inc.resolve("ops", T0 + timedelta(minutes=3), runbook=RUNBOOK)
    inc.new_events.clear()
    ladder.advance_now(inc, T0 + timedelta(minutes=4), "late")     # nothing pending: nothing changes
    assert inc.new_events == [] and set(inc.escalation.advanced) == {"primary"}


def test_end_pause_ends_a_running_pause_once_with_the_same_timeline_text():
    inc = opened("SEV-3", source="alert")
    until = T0 + RUNBOOK.pause["SEV-3"]
    assert inc.escalation.pause_until == until and ladder.pause_until(inc) == until
    inc.silence = {"until": "2026-11-30T04:00:00.000000Z"}
    assert ladder.end_pause(inc, T0 + timedelta(minutes=1), "another alert joined ('x')")
    assert inc.escalation.pause_until == T0 + timedelta(minutes=1)
    assert [e.text for e in inc.new_events] == [
        "Noise-control pause ended early: another alert joined ('x'); the silence still holds the ladder until "
        "2026-11-30T04:00:00.000000Z"]
    assert not ladder.end_pause(inc, T0 + timedelta(minutes=2), "again")   # already over
    fresh = opened("SEV-3", source="alert")
    assert ladder.end_pause(fresh, T0, "it was raised to SEV-2")
    assert fresh.new_events[-1].text == "Noise-control pause ended early: it was raised to SEV-2; the ladder starts now"


def test_a_chat_held_for_the_diagnostics_is_released_once():
    inc = opened()
    ladder.hold_chat(inc, inc.escalation.steps[0], T0)
    assert Incident.from_doc(inc.to_doc()).escalation.chat_after_diagnostics == inc.escalation.steps[0].name
    assert ladder.release_chat(inc) == inc.escalation.steps[0].name
    assert ladder.release_chat(inc) is None and "chat_after_diagnostics" not in inc.escalation.to_doc()
