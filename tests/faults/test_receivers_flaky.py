"""Every receiver failing half its calls (issue "Trust", point 6): PagerDuty, Slack (Web API), Teams, Jira and
Statuspage, loopback fakes failing half their requests from the first call (Slack with 500 and 429, Statuspage
with 500 and 420, both with Retry-After), driven through the real adapters, on the in-memory store and on
Azurite. In the end every message is delivered exactly once: each page accepted once, one Slack thread per
incident with each reply once, each Teams card once, one Jira issue per incident with each comment once,
one Statuspage incident per published incident with each update once, and one "delivered" timeline event
per message. A create whose answer is lost on top of that still makes one issue, one page incident.

Two tests pin what this found: a step of two requests (a create after a failed one, a Jira transition) must
complete against a receiver failing every other call (progress is kept in the message, so a retry is one
request), and a public update waiting for its retry is never overtaken by the next one of its incident.
"""
from __future__ import annotations

import dataclasses
import json
from collections import Counter
from typing import Any

import pytest

from shared.adapters.notify.jira import JiraTickets
from shared.adapters.notify.pagerduty import PagerDutyPager
from shared.adapters.notify.slack import SlackWebApiChat
from shared.adapters.notify.statuspage import StatuspageStatusPage
from shared.adapters.notify.teams import TeamsWorkflowChat
from shared.services.comms_delivery import Receivers
from shared.storage.repository import IncidentRepository
from tests.fakes.jira import TOKEN as JIRA_TOKEN, USER as JIRA_USER, FakeJira
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import TOKEN as SLACK_TOKEN, FakeSlack
from tests.fakes.statuspage import API_KEY, PAGE_ID, FakeStatuspage
from tests.fakes.teams import FakeTeamsWorkflow
from tests.faults.conftest import FAULTS
from tests.harness import RUNBOOK, Harness
from tests.payloads import API_ID, CORE, OTHER_ID, metric_alert

BOOK = dataclasses.replace(RUNBOOK, core_ids=CORE)
CHANNEL = "C0INCIDENTS"
SENT = ("pagerduty", "chat", "ticket", "status_page")     # the channels with a receiver here
INJECTED = (420, 429, 500)
HALF = [500, None]      # every other call fails, from the first


@pytest.fixture(params=["memory", "azurite"])
def store(request, memory_store):
    return memory_store if request.param == "memory" else request.getfixturevalue("table_store")


@pytest.fixture
def fakes():
    with FakePagerDuty() as pd, FakeSlack() as slack, FakeTeamsWorkflow() as teams, FakeJira() as jira, \
            FakeStatuspage(components={"cmp0api00001": "API"}) as page:
        for fake in (pd, teams):
            fake.fault_pattern([500, None])
        slack.fault_pattern([500, None, 429, None], retry_after=20)
        jira.fault_pattern(HALF)
        page.fault_pattern([500, None, 420, None], retry_after=30)
        yield pd, slack, teams, jira, page


def harness(store, clock, pd, slack, teams, jira, page) -> Harness:
    receivers = Receivers(
        chats=(SlackWebApiChat(token=SLACK_TOKEN, channel=CHANNEL, api_url=slack.api_url),
               TeamsWorkflowChat(webhook_url=teams.webhook_url)),
        tickets=JiraTickets(base_url=jira.url, user=JIRA_USER, api_token=JIRA_TOKEN, project_key="PROJ"),
        status_page=StatuspageStatusPage(api_url=page.api_url, page_id=PAGE_ID, api_key=API_KEY),
        components={"api": "cmp0api00001"}, base_url="https://ir.example.com")
    # one attempt per call, as the timers' pager makes: the outbox owns the retries
    pager = PagerDutyPager(events_url=pd.url, max_attempts=1, sleep=lambda s: None)
    return Harness(store, clock, pager=pager, runbook=BOOK, receivers=receivers)


def queued_messages(store) -> dict[str, dict[str, Any]]:
    """Every outbox message ever written (message id -> its first row), recorded as the store commits."""
    queued: dict[str, dict[str, Any]] = {}
    commit = store.commit

    def recording(*, ops):
        etags = commit(ops=ops)
        for op in ops:
            if op.kind == "insert" and op.key.startswith("out|"):
                queued.setdefault(op.key.rsplit("|", 1)[1], dict(op.data))
        return etags
    store.commit = recording
    return queued


def open_incident(h: Harness, n: int, *, severity: str = "Sev0", core: bool = False, **custom: str) -> str:
    """An incident of its own (a target of its own: no correlation), SEV-1 unless told otherwise."""
    custom = {"impact": "core", "scope": "all", "tenants": "contoso,fabrikam"} | custom
    return h.alert(metric_alert(f"rf{n}", target=API_ID if core else f"{OTHER_ID}-{n}", rule=f"rf-rule-{n}",
                                severity=severity, custom=custom))["incident_id"]


def what(m: dict[str, Any]) -> str:
    """The name a message's delivery events carry (shared/services/outbox.py::_finish)."""
    who = f"{m['role']} ({m['person']})" if m.get("person") else m["role"]
    return str(m["what"]) if m.get("what") else f"PagerDuty {m['action']} for {who}"


def assert_delivered_once(h: Harness, inc: str, messages: list[dict[str, Any]]) -> None:
    """The incident's timeline says "delivered" once per message it queued (after failures saying "will retry")."""
    events = [e["text"] for e in IncidentRepository(h.store).timeline(inc)[0] if e["kind"] == "delivery"]
    delivered = Counter(t.split(": delivered (")[0] for t in events if ": delivered (" in t)
    assert delivered == Counter(what(m) for m in messages if m.get("incident_id") == inc), inc
    assert any("will retry" in t for t in events) and not [t for t in events if "dead-lettered" in t]


def count_faults(pd, slack, teams, jira, page) -> dict[str, int]:
    """What the fakes answered with an injected error (or not at all), added to the session's tally."""
    faults = {"PagerDuty calls failed": sum(1 for *_, s in pd.answers if s != 202),
              "Slack calls failed": sum(1 for _, s, _, lost in slack.answers if s in INJECTED and not lost),
              "Teams calls failed": sum(1 for s, lost in teams.answers if s in INJECTED and not lost),
              "Jira calls failed": sum(1 for *_, s in jira.answers if s in INJECTED),
              "Statuspage calls failed": sum(1 for *_, s in page.answers if s in INJECTED),
              "Jira answers lost": sum(1 for *_, s in jira.answers if s == 0),
              "Statuspage answers lost": sum(1 for *_, s in page.answers if s == 0)}
    FAULTS.update({kind: n for kind, n in faults.items() if n})
    return faults


def test_every_receiver_failing_half_its_calls_gets_every_message_exactly_once(store, clock, fakes):
    pd, slack, teams, jira, page = fakes
    h = harness(store, clock, *fakes)
    queued = queued_messages(store)
    untouched = open_incident(h, 0, core=True)
    acked, resolved = open_incident(h, 1), open_incident(h, 2)
    minor = open_incident(h, 3, severity="Sev3", impact="degraded", scope="some", tenants="contoso")
    assert [h.show(i)["severity"] for i in (untouched, acked, resolved, minor)] == ["SEV-1"] * 3 + ["SEV-3"]
    h.tick()
    h.run_for(6, tick_seconds=120)
    h.command("acknowledge", acked, {"message": "on it"})
    h.run_for(6, tick_seconds=120)
    h.command("resolve", minor, {"message": "reports back"})
    h.run_for(8, tick_seconds=120)
    h.command("set_status", resolved, {"phase": "identified", "message": "a bad deployment"})
    h.run_for(46, tick_seconds=120)                                 # 66 minutes: every step of the ladder fired
    h.command("resolve", resolved, {"message": "rolled back"})
    h.run_for(40, tick_seconds=120)                                 # the promised public update, missed
    h.run_for(80, tick_seconds=600)                                 # two hours on: nothing comes back
    assert store.scan(start="out|", end="out}").records == [], "the outbox still holds messages"
    assert store.scan(start="dead|", end="dead}").records == [], "a message was dead-lettered"

    faults = count_faults(*fakes)
    assert all(faults[f"{name} calls failed"] >= 5 for name in ("PagerDuty", "Slack", "Teams", "Jira"))
    assert faults["Statuspage calls failed"] >= 3                   # 8 updates, each create/update one call
    assert {429, 500} <= {s for _, s, *_ in slack.answers} and {420, 500} <= {s for *_, s in page.answers}
    incidents = (untouched, acked, resolved, minor)
    messages = [m for m in queued.values() if m["channel"] in SENT]
    of = {inc: [m for m in messages if m.get("incident_id") == inc] for inc in incidents}

    # PagerDuty: each event the outbox held accepted once, never sent again after its 202
    pages = Counter((m["action"], m["dedup_key"]) for m in messages if m["channel"] == "pagerduty")
    assert Counter((a, k) for a, k, s in pd.answers if s == 202) == pages
    assert {a for a, _ in pages} == {"trigger", "acknowledge", "resolve"} and pd.dropped == 0

    # Slack: one root per incident, each reply once in its thread; Teams: each card once
    chats = {inc: [m for m in of[inc] if m["channel"] == "chat"] for inc in incidents}
    assert ("trigger", f"{untouched}.cto") in pages                  # the ladder ran to its last step
    assert [m["kind"] for m in chats[untouched]].count("customer email draft") == 2
    roots = slack.in_channel(CHANNEL)
    assert sorted(next(i for i in incidents if i in r.text) for r in roots) == sorted(incidents)
    for root in roots:
        inc = next(i for i in incidents if i in root.text)
        replies = [m.text for m in slack.replies(CHANNEL, root.ts)]
        assert len(replies) == len(set(replies)) == len(chats[inc]) - 1, (inc, Counter(replies).most_common(2))
    assert len(slack.messages) == sum(map(len, chats.values()))       # none outside a thread
    cards = Counter(json.dumps(c, sort_keys=True) for c in teams.cards)
    assert set(cards.values()) == {1} and len(cards) == sum(map(len, chats.values())) and teams.failed_runs == []

    # Jira: one issue per incident, each comment once, the resolved ones Done
    for inc in incidents:
        assert jira.count(inc) == 1, inc
        [issue] = [i for i in jira.issues if inc in i["labels"]]
        comments = Counter(json.dumps(c, sort_keys=True) for c in issue["comments"])
        assert set(comments.values()) <= {1}, inc
        assert len(comments) == sum(1 for m in of[inc] if m["channel"] == "ticket" and m["action"] != "create")
        assert issue["status"] == ("Done" if inc in (resolved, minor) else "To Do")

    # Statuspage: one page incident per published incident, each update once, in order
    assert [inc for inc in incidents if page.of(inc)] == [untouched, acked, resolved] and len(page.incidents) == 3
    for inc in (untouched, acked, resolved):
        published = sorted((m for m in of[inc] if m["channel"] == "status_page"), key=lambda m: m["created_at"])
        [public] = page.of(inc)
        updates = [(u["status"], u["body"]) for u in reversed(public["incident_updates"])]
        assert len(updates) == len(set(updates)) == len(published), (inc, updates)
        assert [s for s, _ in updates] == [m["status"] for m in published]    # in the order they were written
    assert page.of(resolved)[0]["status"] == "resolved"

    for inc in incidents:
        assert_delivered_once(h, inc, of[inc])


def test_a_lost_create_answer_under_half_failing_calls_makes_one_issue_and_one_page_incident(store, clock, fakes):
    *_, jira, page = fakes
    h = harness(store, clock, *fakes)
    queued = queued_messages(store)
    jira.lose_next(1)                          # the first request: the create of the ticket
    page.fault_pattern([None, 420, 500, None], retry_after=30)   # the same half, its first call answered...
    page.lose_next(1)                          # ... and lost: the page incident's create
    inc = open_incident(h, 9, core=True)
    h.command("set_status", inc, {"phase": "investigating", "message": "looking"})
    h.tick()
    h.run_for(10, tick_seconds=60)
    h.command("set_status", inc, {"phase": "identified", "message": "found it"})
    h.run_for(40, tick_seconds=120)                # past the promised update
    h.run_for(40, tick_seconds=600)                # and the ladder's last step
    assert store.scan(start="out|", end="out}").records == [] and store.scan(start="dead|", end="dead}").records == []
    assert jira.answers[0] == ("POST", "/rest/api/3/issue", 0)
    assert page.answers[0] == ("POST", f"/v1/pages/{PAGE_ID}/incidents", 0)
    count_faults(*fakes)

    assert jira.count(inc) == 1 and len(jira.issues) == 1
    [issue] = jira.issues
    comments = [json.dumps(c, sort_keys=True) for c in issue["comments"]]
    assert len(comments) == len(set(comments)) >= 2          # the customer drafts, the phase change
    [public] = page.of(inc)
    assert len(page.incidents) == 1
    assert [u["status"] for u in reversed(public["incident_updates"])] == ["investigating", "identified"]
    # each create was looked up after its lost answer, and found (one issue, one page incident above)
    assert ("GET", "/rest/api/3/search/jql", 200) in jira.answers
    assert ("GET", f"/v1/pages/{PAGE_ID}/incidents/unresolved", 200) in page.answers
    assert_delivered_once(h, inc, [m for m in queued.values() if m["channel"] in SENT])


@pytest.mark.parametrize("step", ["create", "transition"])
def test_a_two_request_step_completes_against_a_receiver_failing_every_other_call(memory_store, clock, fakes, step):
    """Strict alternation, as behind a round-robin balancer with one broken backend of two. A create refused with
    an answer is made again without a lookup, and a transition found once is posted again without listing the
    transitions: each retry is one request, so it completes (before, lookup-then-create and GET-then-POST got the
    same answer pattern on every retry, and the outbox retried forever)."""
    *_, jira, page = fakes
    h = harness(memory_store, clock, *fakes)
    for fake in (jira, page):
        fake.fault_pattern([500, None] if step == "create" else [])
    inc = open_incident(h, 7, severity="Sev3", impact="degraded", scope="some", tenants="contoso")
    h.command("set_status", inc, {"phase": "investigating", "message": "looking"})
    h.run_for(7, tick_seconds=30)                                   # past the noise-control pause
    if step == "transition":
        jira.fault_pattern([500, None])
    h.command("resolve", inc, {"message": "fixed"})
    h.run_for(60, tick_seconds=30)
    count_faults(*fakes)
    got = {"Jira issues": jira.count(inc), "Jira status": [i["status"] for i in jira.issues],
           "page incidents": [i["status"] for i in page.of(inc)],
           "outbox": len(memory_store.scan(start="out|", end="out}").records)}
    assert got == {"Jira issues": 1, "Jira status": ["Done"], "page incidents": ["resolved"], "outbox": 0}


def test_a_public_update_waiting_for_its_retry_is_not_overtaken_by_the_next(memory_store, clock, fakes):
    page = fakes[-1]
    page.fault_pattern([])
    h = harness(memory_store, clock, *fakes)
    inc = open_incident(h, 8, core=True)
    h.command("set_status", inc, {"phase": "investigating", "message": "looking"})
    h.run_for(7, tick_seconds=30)
    page.fail_next(1, status=500, retry_after=30)
    h.command("set_status", inc, {"phase": "identified", "message": "found it"})
    h.tick()                                                        # refused: tried again in 30 s
    clock.advance(seconds=5)
    h.command("resolve", inc, {"message": "fixed"})
    h.run_for(5, tick_seconds=10)
    count_faults(*fakes)
    [public] = page.of(inc)
    assert ([u["status"] for u in reversed(public["incident_updates"])], public["status"]) == \
        (["investigating", "identified", "resolved"], "resolved")
