"""Action items as Jira issues (issue "Post-incident review", point 3), end to end on an injected clock: POST pir
queues one issue per new item, the outbox creates it once and links it to the incident's ticket through the
loopback FakeJira (also when Jira fails every other call and loses a create's answer), and the review timer's
next tick records an item done in Jira as done on the incident, so it leaves the digest."""
from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest

from shared.adapters.clock import FixedClock
from shared.adapters.notify.jira import JiraTickets
from shared.services import action_items, aftercare, reminders
from shared.storage import metrics_store
from shared.services.comms_delivery import Receivers
from shared.storage.repository import review_key
from tests.fakes.jira import TOKEN, USER, FakeJira
from tests.harness import RUNBOOK, Harness
from tests.payloads import CORE, metric_alert

BOOK = dataclasses.replace(RUNBOOK, core_ids=CORE)
ITEMS = [{"text": "Canary deployments", "owner": "bob", "due": "2026-12-01"},
         {"text": "Alert on disk usage", "owner": "carol", "due": "2026-12-01"}]


@pytest.fixture(params=["memory", "azurite"])
def store(request, memory_store):
    return memory_store if request.param == "memory" else request.getfixturevalue("table_store")


@pytest.fixture
def jira():
    with FakeJira() as fake:
        yield fake


def tickets_for(jira: FakeJira) -> JiraTickets:
    return JiraTickets(base_url=jira.url, user=USER, api_token=TOKEN, project_key="PROJ", timeout_s=2)


def resolved_sev1(h: Harness) -> str:
    inc = h.alert(metric_alert("ai1", severity="Sev0", custom={"impact": "core", "scope": "all"}))["incident_id"]
    h.tick()
    h.command("resolve", inc, {"message": "rolled back"}, actor="alice")
    return inc


def review(h: Harness, inc: str, items: list[dict] = ITEMS) -> dict:
    return aftercare.record_review(inc, {"action_items": items}, "alice", store=h.store, clock=h.clock, runbook=BOOK)


def deliveries(h: Harness, inc: str, prefix: str = "Jira action item") -> list[str]:
    return [e["text"] for e in h.show(inc)["timeline"] if e["kind"] == "delivery" and e["text"].startswith(prefix)]


def item_issue(jira: FakeJira, inc: str, item: str) -> dict:
    [issue] = [i for i in jira.issues if f"{inc}-{item}" in i["labels"]]
    return issue


def test_each_action_item_becomes_one_issue_linked_to_the_incident_ticket_despite_faults(store, clock, jira):
    h = Harness(store, clock, runbook=BOOK, receivers=Receivers(tickets=tickets_for(jira)))
    jira.fault_pattern([None, 500])                       # every other call to Jira fails, from the start
    inc = resolved_sev1(h)
    h.run_for(5)
    [ticket] = jira.issues                                # the incident's own ticket, commented and resolved
    jira.lose_next(1)                                     # the next request: the create of A1's issue
    review(h, inc)
    h.run_for(10)
    assert ("POST", "/rest/api/3/issue", 0) in jira.answers and 500 in jira.statuses("POST", "/rest/api/3/issue")
    assert jira.count(inc) == 3 and [i["key"] for i in jira.issues][0] == ticket["key"]
    for item, text in (("A1", "Canary deployments"), ("A2", "Alert on disk usage")):
        issue = item_issue(jira, inc, item)               # exactly one each
        assert issue["summary"] == f"[action item] {inc} {item}: {text}"
        assert set(issue["labels"]) == {"action-item", inc, f"{inc}-{item}"} and issue["priority"] is None
        assert jira.links(issue["key"]) == [("Relates", ticket["key"], issue["key"])]
    assert len(jira.links()) == 2
    texts = deliveries(h, inc)
    assert any(t.startswith("Jira action item A1: delivered") and "found" in t for t in texts), texts   # looked up
    assert any(t.startswith("Jira action item A2: delivered") and "created" in t for t in texts), texts
    assert store.scan(start="out|ticket|", end="out|ticket}").records == []
    assert store.scan(start="dead|", end="dead}").records == []
    a1 = item_issue(jira, inc, "A1")["key"]
    assert store.get(keys=[f"ref|{review_key(inc)[4:]}|jira-A1"])[f"ref|{review_key(inc)[4:]}|jira-A1"].data["ref"] == a1


def test_an_issue_done_in_jira_is_done_on_the_incident_after_the_next_tick(store, jira):
    clock = FixedClock(datetime(2026, 11, 30, 7, 0, tzinfo=timezone.utc))       # a Monday, before the digest
    tickets = tickets_for(jira)
    h = Harness(store, clock, runbook=BOOK, receivers=Receivers(tickets=tickets))
    inc = resolved_sev1(h)
    review(h, inc)
    h.run_for(2)
    a1, a2 = item_issue(jira, inc, "A1")["key"], item_issue(jira, inc, "A2")["key"]
    open_before = metrics_store.summary(store, clock.now() - timedelta(days=1), clock.now())["SEV-1"]
    assert open_before["open_action_items"] == 2
    assert reminders.daily(store=store, clock=clock, runbook=BOOK, tickets=tickets) is None   # 08:00 Berlin: no digest
    assert [i["status"] for i in h.show(inc)["pir"]["action_items"]] == ["open", "open"]     # Jira says To Do
    jira.set_status(a1, "Done")
    jira.set_status(a2, "In Progress")
    clock.advance(hours=2)
    digest = reminders.daily(store=store, clock=clock, runbook=BOOK, tickets=tickets)
    items = {i["id"]: i for i in h.show(inc)["pir"]["action_items"]}
    assert (items["A1"]["status"], items["A1"]["ticket"]) == ("done", a1)
    assert (items["A2"]["status"], items["A2"]["ticket"]) == ("open", None)
    assert digest and "Alert on disk usage" in digest and "Canary deployments" not in digest
    [event] = [e for e in h.show(inc)["timeline"] if e["actor"] == "jira"]
    assert event["text"].startswith("Action item A1 updated: status open → done")
    assert "Canary" not in store.get(keys=[review_key(inc)])[review_key(inc)].data["items"]   # the review index
    assert metrics_store.summary(store, clock.now() - timedelta(days=1), clock.now())["SEV-1"]["open_action_items"] == 1
    reads = len(jira.statuses("GET", f"/rest/api/3/issue/{a2}"))
    reminders.daily(store=store, clock=clock, runbook=BOOK, tickets=tickets)                 # the next tick
    assert len(jira.statuses("GET", f"/rest/api/3/issue/{a1}")) == 2                        # A1 is read no more
    assert len(jira.statuses("GET", f"/rest/api/3/issue/{a2}")) == reads + 1


def test_without_jira_the_item_messages_are_not_sent(memory_store, clock):
    h = Harness(memory_store, clock, runbook=BOOK)
    inc = resolved_sev1(h)
    review(h, inc)
    h.run_for(1)
    texts = deliveries(h, inc)
    assert len(texts) == 2 and all("not sent (Jira is not configured" in t for t in texts), texts
    assert {t.split(":")[0] for t in texts} == {"Jira action item A1", "Jira action item A2"}
    assert memory_store.scan(start="out|ticket|", end="out|ticket}").records == []


def test_only_added_open_items_are_queued_once(memory_store, clock):
    h = Harness(memory_store, clock, runbook=BOOK)
    inc = resolved_sev1(h)
    review(h, inc)
    review(h, inc)                                                              # the same body again: nothing new
    review(h, inc, [{"id": "A1", "status": "done"}, {"text": "Done already", "owner": "dan", "status": "done"}])
    queued = [r.data for r in memory_store.scan(start="out|ticket|", end="out|ticket}").records
              if r.data.get("action") == "item"]
    assert sorted((d["item_id"], d["text"], d["owner"], d["due"]) for d in queued) == [
        ("A1", "Canary deployments", "bob", "2026-12-01"), ("A2", "Alert on disk usage", "carol", "2026-12-01")]
    assert {d["kind"] for d in queued} == {"action item"} and not any(d["opener"] for d in queued)


def test_jira_failing_never_stops_the_digest_and_reads_stop_for_the_tick(memory_store, jira):
    clock = FixedClock(datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc))
    tickets = tickets_for(jira)
    h = Harness(memory_store, clock, runbook=BOOK, receivers=Receivers(tickets=tickets))
    inc = resolved_sev1(h)
    review(h, inc)
    h.run_for(2)
    jira.fail_next(10, status=503, retry_after=30)
    report = action_items.follow(store=memory_store, clock=clock, runbook=BOOK, tickets=tickets)
    assert (report.read, report.done, len(report.failed)) == (1, [], 1)        # Jira is down: the rest wait
    digest = reminders.daily(store=memory_store, clock=clock, runbook=BOOK, tickets=tickets)
    assert digest and "Canary deployments" in digest and "Alert on disk usage" in digest


def test_status_reads_are_bounded_per_tick_and_each_item_gets_its_turn(memory_store, clock, jira, monkeypatch):
    monkeypatch.setattr(action_items, "MAX_READS", 2)
    tickets = tickets_for(jira)
    h = Harness(memory_store, clock, runbook=BOOK, receivers=Receivers(tickets=tickets))
    inc = resolved_sev1(h)
    review(h, inc, ITEMS + [{"text": "Runbook for disk", "owner": "dan"}])
    h.run_for(3)
    keys = [item_issue(jira, inc, item)["key"] for item in ("A1", "A2", "A3")]
    for key in keys:
        jira.set_status(key, "Done")
    first = action_items.follow(store=memory_store, clock=clock, runbook=BOOK, tickets=tickets)
    second = action_items.follow(store=memory_store, clock=clock, runbook=BOOK, tickets=tickets)
    assert (first.read, second.read) == (2, 1)
    assert first.done == [f"{inc} A1", f"{inc} A2"] and second.done == [f"{inc} A3"]
    assert [i["status"] for i in h.show(inc)["pir"]["action_items"]] == ["done"] * 3
