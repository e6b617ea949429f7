"""Communications end to end: a SEV-1 on an injected clock, every receiver a loopback fake speaking its real
API (Slack Web API, Teams Workflows, Jira Cloud, Statuspage), the outbox delivering on the sweep's ticks."""
from __future__ import annotations

import dataclasses

import pytest

from shared.adapters.notify.jira import JiraTickets
from shared.adapters.notify.slack import SlackWebApiChat, SlackWebhookChat
from shared.adapters.notify.statuspage import StatuspageStatusPage
from shared.adapters.notify.teams import TeamsWorkflowChat
from shared.services.comms_delivery import Receivers
from tests.fakes.jira import TOKEN as JIRA_TOKEN, USER as JIRA_USER, FakeJira
from tests.fakes.slack import TOKEN as SLACK_TOKEN, FakeSlack
from tests.fakes.statuspage import API_KEY, PAGE_ID, FakeStatuspage
from tests.fakes.teams import FakeTeamsWorkflow
from tests.harness import RUNBOOK, Harness
from tests.payloads import CORE, metric_alert

BOOK = dataclasses.replace(RUNBOOK, core_ids=CORE)


@pytest.fixture
def fakes():
    with FakeSlack() as slack, FakeTeamsWorkflow() as teams, FakeJira() as jira, \
            FakeStatuspage(components={"cmp0api00001": "API"}) as page:
        yield slack, teams, jira, page


def receivers(slack, teams, jira, page, *, webhook: bool = False) -> Receivers:
    chat = SlackWebhookChat(webhook_url=slack.webhook_url) if webhook else \
        SlackWebApiChat(token=SLACK_TOKEN, channel="C0INCIDENTS", api_url=slack.api_url)
    return Receivers(chats=(chat, TeamsWorkflowChat(webhook_url=teams.webhook_url)),
                     tickets=JiraTickets(base_url=jira.url, user=JIRA_USER, api_token=JIRA_TOKEN, project_key="PROJ"),
                     status_page=StatuspageStatusPage(api_url=page.api_url, page_id=PAGE_ID, api_key=API_KEY),
                     components={"api": "cmp0api00001"}, base_url="https://ir.example.com")


def sev1(h: Harness, tenants: str = "contoso,fabrikam") -> str:
    return h.alert(metric_alert("c1", severity="Sev0", custom={"impact": "core", "scope": "all",
                                                                "tenants": tenants}))["incident_id"]


@pytest.fixture(params=["memory", "azurite"])
def store(request, memory_store):
    return memory_store if request.param == "memory" else request.getfixturevalue("table_store")


def test_a_sev1_tells_chat_jira_and_the_status_page_once_each(store, clock, fakes):
    slack, teams, jira, page = fakes
    h = Harness(store, clock, runbook=BOOK, receivers=receivers(*fakes))
    inc = sev1(h)
    h.tick()
    [root] = slack.in_channel("C0INCIDENTS")                        # the initial assessment starts the thread
    assert root.text.count("SEVERITY: SEV-1") == 1 and "STATUS: Investigating" in root.text
    assert len([c for c in teams.cards if "INCIDENT:" in str(c)]) == 1 and jira.count(inc) == 1
    [ticket] = jira.issues
    assert ticket["summary"].startswith(f"[SEV-1] {inc} ") and ticket["priority"] == "Highest"
    assert set(ticket["labels"]) == {"incident", "SEV-1", inc}
    h.command("acknowledge", inc, {"message": "on it"}, actor="alice")
    h.run_for(1)
    [reply] = [m for m in slack.replies("C0INCIDENTS", root.ts) if "acknowledged" in m.text]   # in the thread
    assert "alice" in reply.text
    assert any("STATUS:" in u.text and "LEAD: alice" in u.text for u in slack.updates)   # the root kept current
    assert len(jira.issue(ticket["key"])["comments"]) == 1          # a comment per major change
    h.run_for(31)                                                   # the 30-minute step: customer drafts
    drafts = [m for m in slack.replies("C0INCIDENTS", root.ts) if "Draft customer email" in m.text]
    assert len(drafts) == 2 and {"contoso", "fabrikam"} <= {w for m in drafts for w in m.text.split()} | {
        n for m in drafts for n in ("contoso", "fabrikam") if n in m.text}
    assert page.incidents == {}                                     # nothing public before the 60-minute step
    h.run_for(30)
    [public] = page.incidents.values()                              # "Investigating" by 60 minutes
    assert public["status"] == "investigating" and public["components"][0]["status"] == "major_outage" \
        if isinstance(public.get("components"), list) else public["status"] == "investigating"
    h.command("set_status", inc, {"phase": "identified", "message": "a bad deployment"}, actor="alice")
    h.command("resolve", inc, {"message": "rolled back"}, actor="alice")
    h.run_for(2)
    assert [u["status"] for u in reversed(public["incident_updates"])] == \
        ["investigating", "identified", "resolved"]
    assert jira.issue(ticket["key"])["status"] == "Done"
    assert len(page.incidents) == 1 and jira.count(inc) == 1 and len(slack.in_channel("C0INCIDENTS")) == 1
    delivered = [e["text"] for e in h.show(inc)["timeline"] if e["kind"] == "delivery"]
    assert not [t for t in delivered if "failed" in t], delivered


def test_a_chat_receiver_refusing_its_first_five_calls_gets_everything_once(memory_store, clock, fakes):
    slack, teams, jira, page = fakes
    h = Harness(memory_store, clock, runbook=BOOK, receivers=receivers(*fakes, webhook=True))
    slack.fail_next(5, status=503)
    inc = sev1(h, tenants="contoso")
    h.tick()
    assert slack.messages == []
    h.command("acknowledge", inc, {}, actor="bob")
    h.run_for(15)
    texts = [m.text for m in slack.messages]
    assert len([t for t in texts if "SEVERITY: SEV-1" in t and "INCIDENT:" in t]) == 1
    assert len([t for t in texts if "acknowledged by bob" in t]) == 1
    assert texts.index(next(t for t in texts if "INCIDENT:" in t)) == 0     # the initial assessment first
    failed = [e["text"] for e in h.show(inc)["timeline"] if e["kind"] == "delivery" and "failed" in e["text"]]
    assert failed and all("will retry" in t for t in failed)
    assert len(teams.cards) == len(slack.messages)                   # Teams got each once, never again


@pytest.mark.parametrize("receiver", ["jira", "statuspage"])
def test_a_create_whose_answer_was_lost_makes_one_record(memory_store, clock, fakes, receiver):
    slack, teams, jira, page = fakes
    h = Harness(memory_store, clock, runbook=BOOK, receivers=receivers(*fakes))
    inc = sev1(h)
    (jira if receiver == "jira" else page).lose_next(1)
    if receiver == "statuspage":
        h.command("set_status", inc, {"phase": "investigating", "message": "looking"}, actor="alice")
    h.tick()
    h.run_for(3)
    h.command("set_status", inc, {"phase": "identified", "message": "found it"}, actor="alice")
    h.run_for(3)
    if receiver == "jira":
        assert jira.count(inc) == 1
        [issue] = jira.issues
        assert len(issue["comments"]) == 1                            # the phase change, after the lookup
    else:
        [public] = page.incidents.values()
        assert {u["status"] for u in public["incident_updates"]} == {"investigating", "identified"}
    texts = [e["text"] for e in h.show(inc)["timeline"] if e["kind"] == "delivery"]
    assert any("earlier create" in t or "found" in t for t in texts), texts


def test_a_permanent_refusal_is_dead_lettered_and_counted(memory_store, clock, fakes):
    from shared.services.health import health
    slack, teams, jira, page = fakes
    jira.fail_next(1, status=400)
    h = Harness(memory_store, clock, runbook=BOOK, receivers=receivers(*fakes))
    inc = sev1(h)
    h.tick()
    dead = memory_store.scan(start="dead|", end="dead}").records
    assert [r.data["channel"] for r in dead] == ["ticket"]
    assert health(store=memory_store, clock=clock, schedule="*/10 * * * * *")["dead_letters"] == 1
    assert any("dead-lettered" in e["text"] for e in h.show(inc)["timeline"])


def test_without_receivers_nothing_is_called_sent(memory_store, clock):
    h = Harness(memory_store, clock, runbook=BOOK)
    inc = sev1(h)
    h.run_for(61)
    texts = [e["text"] for e in h.show(inc)["timeline"] if e["kind"] == "delivery" and "PagerDuty" not in e["text"]]
    assert texts and all("not sent" in t for t in texts), texts


def test_a_sev2_with_external_impact_drafts_the_customer_email_at_once(memory_store, clock):
    from shared.services import commands
    h = Harness(memory_store, clock, runbook=BOOK)
    made = commands.declare({"title": "Approvals slow", "severity": "SEV-2", "tenants": ["contoso"], "external": True},
                            "alice", store=memory_store, clock=clock, runbook=BOOK, paging=h.paging())
    quiet = commands.declare({"title": "Reports slow", "severity": "SEV-2"}, "alice", store=memory_store,
                             clock=clock, runbook=BOOK, paging=h.paging())
    drafts = [r.data["incident_id"] for r in memory_store.scan(start="out|", end="out}").records
              if r.data.get("kind") == "customer email draft"]
    assert drafts == [made["id"]] and made["communications"]["external"] and not quiet["communications"]["external"]


def test_the_promised_update_is_reminded_before_it_is_due_and_marked_overdue(memory_store, clock, fakes):
    slack, teams, jira, page = fakes
    h = Harness(memory_store, clock, runbook=BOOK, receivers=receivers(*fakes))
    inc = sev1(h)
    h.tick()
    h.command("acknowledge", inc, {}, actor="alice")
    shown = h.command("set_status", inc, {"phase": "investigating", "message": "looking"}, actor="alice")
    due = shown["communications"]["public"]["next_update_due"]
    h.run_for(1)
    [public] = page.incidents.values()
    assert "update within 30 minutes" in public["incident_updates"][0]["body"]   # the runbook's cadence, SEV-1
    h.run_for(23)
    assert not [m for m in slack.messages if "update" in m.text.lower() and "due" in m.text.lower()]
    h.run_for(2)                                             # 5 minutes before the promised update
    [reminder] = [m for m in slack.messages if due[:16] in m.text and "alice" in m.text]
    assert "cto" in reminder.text.lower() or "(cto)" in reminder.text       # the CTO step's people too (SEV-1)
    h.run_for(5)
    events = [e["text"] for e in h.show(inc)["timeline"] if e["kind"] == "public-status"]
    assert any(t.startswith("Public update overdue") for t in events)
    h.command("set_status", inc, {"phase": "identified", "message": "found it"}, actor="alice")
    h.run_for(20)                                            # a new promise: no overdue for it yet
    assert sum(t.startswith("Public update overdue") for t in
               (e["text"] for e in h.show(inc)["timeline"] if e["kind"] == "public-status")) == 1


def test_a_receiver_down_for_an_hour_loses_nothing_and_gets_nothing_twice(memory_store, clock, fakes):
    slack, teams, jira, page = fakes
    h = Harness(memory_store, clock, runbook=BOOK, receivers=receivers(*fakes, webhook=True))
    slack.fail_next(10_000, status=503)
    inc = sev1(h)
    h.tick()
    h.command("acknowledge", inc, {}, actor="alice")
    h.command("set_status", inc, {"phase": "identified", "message": "found it"}, actor="alice")
    h.run_for(60)
    assert slack.messages == []
    with slack.lock:
        slack._faults.clear()                                                      # Slack is back
    h.run_for(15)
    texts = [m.text for m in slack.messages]
    assert texts and len(texts) == len(set(texts))                                # nothing twice
    queued = len([e for e in h.show(inc)["timeline"] if e["kind"] == "delivery" and e["text"].startswith("Chat")
                  and "delivered" in e["text"] and "not sent" not in e["text"]])
    assert queued == len(texts) and memory_store.scan(start="out|chat|", end="out|chat}").records == []
    assert "INCIDENT:" in texts[0]                                                 # still in the order written
