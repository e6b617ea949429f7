"""JiraTickets against the loopback FakeJira with real requests: the fields and ADF it sends, finding a
ticket whose create answer was lost, the priority fallback, failures the outbox retries (with
Retry-After), and no secret in any detail or log line. Comments, transitions, links and status reads
on an existing issue: test_jira_adapter_updates.py."""
from __future__ import annotations

import base64
import logging
import socket
from typing import Any

import pytest
import requests

from shared.adapters.notify.jira import JiraTickets, adf, find_jql
from shared.ports import Ticket
from tests.fakes.jira import PROJECT, TOKEN, USER, FakeJira, parse_jql

INC = "INC-20261127-0001"
BASIC = base64.b64encode(f"{USER}:{TOKEN}".encode()).decode()


@pytest.fixture
def jira():
    with FakeJira() as fake:
        yield fake


def tickets_for(fake: FakeJira, token: str = TOKEN) -> JiraTickets:
    return JiraTickets(base_url=fake.url, user=USER, api_token=token, project_key=PROJECT, timeout_s=2)


@pytest.fixture
def tickets(jira):
    return tickets_for(jira)


def ticket(incident_id: str = INC, severity: str = "SEV-1", **kw: Any) -> Ticket:
    fields: dict[str, Any] = dict(incident_id=incident_id, summary=f"[{severity}] {incident_id} API 5xx rate 12%",
                  description="Impact: checkout fails\nScope: eu-west\n\nLead: dana", severity=severity,
                  labels=("incident", "sev 1"))
    fields.update(kw)
    return Ticket(**fields)


# ---- create ---------------------------------------------------------------------------------------

def test_create_sends_the_fields_adf_priority_and_labels(jira, tickets):
    sent = tickets.create(ticket=ticket())

    assert (sent.delivery.ok, sent.delivery.attempts, sent.delivery.status, sent.ref) == (True, 1, 201, "PROJ-1")
    issue = jira.issue("PROJ-1")
    assert issue["summary"] == f"[SEV-1] {INC} API 5xx rate 12%"
    assert (issue["issuetype"], issue["priority"], issue["status"]) == ("Task", "Highest", "To Do")
    assert issue["labels"] == [INC, "incident", "sev_1"]       # the incident id first; no spaces
    assert issue["description"] == {"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": "Impact: checkout fails"}, {"type": "hardBreak"},
                                          {"type": "text", "text": "Scope: eu-west"}]},
        {"type": "paragraph", "content": [{"type": "text", "text": "Lead: dana"}]}]}


@pytest.mark.parametrize("severity, priority", [("SEV-1", "Highest"), ("SEV-2", "High"), ("SEV-3", "Medium"),
                                                ("SEV-4", "Low")])
def test_priority_follows_severity(jira, tickets, severity, priority):
    assert tickets.create(ticket=ticket(severity=severity)).delivery.ok
    assert jira.issues[0]["priority"] == priority


def test_a_long_multiline_summary_and_odd_text_are_made_acceptable(jira, tickets):
    sent = tickets.create(ticket=ticket(summary="line one\nline two " + "x" * 400,
                                        description="\n\nfirst\n\n\n \nsecond\n\nthird\n\n"))
    assert sent.delivery.ok, sent.delivery.detail
    issue = jira.issues[0]
    assert len(issue["summary"]) == 255 and "\n" not in issue["summary"]
    assert [p["content"][0]["text"] for p in issue["description"]["content"]] == ["first", "second", "third"]
    assert adf("") == {"type": "doc", "version": 1, "content": []}


# ---- find -----------------------------------------------------------------------------------------

def test_find_after_a_lost_create_answer_returns_the_created_key(jira, tickets):
    jira.lose_next(1)
    lost = tickets.create(ticket=ticket())
    assert (lost.delivery.ok, lost.delivery.status, lost.ref) == (False, None, "")
    assert lost.delivery.detail.startswith("network error")
    assert jira.count(INC) == 1                                   # Jira created it all the same

    found = tickets.find(incident_id=INC)

    assert (found.delivery.ok, found.delivery.status, found.ref) == (True, 200, "PROJ-1")
    assert jira.queries == [f'project = "{PROJECT}" AND labels = "{INC}" ORDER BY created ASC']


def test_find_returns_the_oldest_ticket_or_nothing(jira, tickets):
    assert tickets.find(incident_id=INC).ref == ""
    assert tickets.find(incident_id=INC).delivery.ok
    for _ in range(2):
        tickets.create(ticket=ticket())
    tickets.create(ticket=ticket("INC-20261127-0002"))
    assert tickets.find(incident_id=INC).ref == "PROJ-1"
    assert tickets.find(incident_id="INC-20261127-0002").ref == "PROJ-3"


def test_a_label_cannot_widen_the_query(jira, tickets):
    tickets.create(ticket=ticket("other"))
    hostile = 'x" OR labels = "other" OR project != "\\'
    found = tickets.find(incident_id=hostile)
    assert (found.delivery.ok, found.ref) == (True, "")
    clauses, order = parse_jql(jira.queries[-1])
    assert clauses == [("project", PROJECT), ("labels", 'x"_OR_labels_=_"other"_OR_project_!=_"\\')]
    assert order == ("created", "ASC")
    assert parse_jql(find_jql(PROJECT, "a\nb\t\"c\""))[0][1] == ("labels", "a\nb\t\"c\"")


def test_search_is_eventually_consistent_so_find_can_miss_a_fresh_issue():
    with FakeJira(search_lag=1) as jira:
        tickets = tickets_for(jira)
        jira.lose_next(1)
        tickets.create(ticket=ticket())
        found = tickets.find(incident_id=INC)
        assert (found.delivery.ok, found.ref) == (True, "")       # the caller must give a lost create time
        jira.search_lag = 0
        assert tickets.find(incident_id=INC).ref == "PROJ-1"


# ---- refusals and failures ----------------------------------------------------------------------------

def test_a_refused_priority_is_dropped_once_in_the_same_call():
    with FakeJira(priority_on_screen=False) as jira:
        sent = tickets_for(jira).create(ticket=ticket())
        d = sent.delivery
        assert (d.ok, d.status, d.attempts, d.history, sent.ref) == (True, 201, 2, ("400", "201"), "PROJ-1")
        assert d.detail.startswith("priority Highest refused (Field 'priority' cannot be set.")
        assert d.detail.endswith("sent without it; PROJ-1")
        assert jira.issues[0]["priority"] is None and jira.count() == 1


def test_other_400s_are_not_sent_again(jira, tickets):
    sent = tickets.create(ticket=ticket(summary="   ", incident_id=""))
    d = sent.delivery
    assert (d.ok, d.status, d.attempts, sent.ref) == (False, 400, 1, "")
    assert d.detail == "400 Bad Request: summary: You must specify a summary of the issue."
    assert JiraTickets(base_url=jira.url, user=USER, api_token=TOKEN, project_key="NOPE").find(
        incident_id=INC).delivery.detail == "400 Bad Request: The value 'NOPE' does not exist for the field 'project'."


def test_a_wrong_token_is_a_401_and_the_detail_holds_no_token(jira, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "ATATT3xWrongToken9999"
    sent = tickets_for(jira, token=wrong).create(ticket=ticket())
    assert (sent.delivery.ok, sent.delivery.status, sent.ref) == (False, 401, "")
    assert sent.delivery.retry_after is None and jira.count() == 0
    basic = base64.b64encode(f"{USER}:{wrong}".encode()).decode()
    for text in (sent.delivery.detail, repr(sent), caplog.text):
        assert wrong not in text and basic not in text


def test_credentials_outside_latin_1_are_sent_as_utf_8_not_raised():
    with FakeJira(token="tok€n-ünïcode") as jira:
        assert tickets_for(jira, token="tok€n-ünïcode").create(ticket=ticket()).ref == "PROJ-1"
        assert tickets_for(jira, token="other-€").find(incident_id=INC).delivery.status == 401


@pytest.mark.parametrize("status, retry_after", [(500, None), (503, 3.0), (429, 7.0)])
def test_5xx_and_429_come_back_retryable_with_retry_after(jira, tickets, status, retry_after):
    jira.fail_next(1, status=status, retry_after=retry_after)
    sent = tickets.create(ticket=ticket())
    assert (sent.delivery.ok, sent.delivery.status, sent.delivery.attempts) == (False, status, 1)
    assert sent.delivery.retry_after == retry_after and jira.count() == 0
    assert tickets.create(ticket=ticket()).ref == "PROJ-1"       # the next call (the outbox's retry) goes through


def test_every_operation_reports_a_failure_instead_of_raising(jira, tickets):
    key = tickets.create(ticket=ticket()).ref                     # request 1
    jira.fault_pattern([None, 502], retry_after=1)                # requests 2, 4, 6, 8 fail
    results = [tickets.find(incident_id=INC).delivery, tickets.find(incident_id=INC).delivery,
               tickets.comment(key=key, text="x"), tickets.comment(key=key, text="x"),
               tickets.transition(key=key, name="Done"), tickets.transition(key=key, name="Done")]
    assert [(r.ok, r.status) for r in results] == [(False, 502), (True, 200), (False, 502), (True, 201),
                                                   (False, 502), (False, 502)]
    assert [(r.attempts, r.history) for r in results[4:]] == [(0, ("502",)), (1, ("200", "502"))]
    assert jira.issue(key)["status"] == "To Do"
    assert {r.retry_after for r in results if not r.ok} == {1.0}


def test_network_errors_and_lost_answers_have_no_status():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]      # closed again before the adapter dials it
    down = JiraTickets(base_url=f"http://127.0.0.1:{port}", user=USER, api_token=TOKEN, project_key=PROJECT,
                       timeout_s=1)
    for delivery in (down.create(ticket=ticket()).delivery, down.find(incident_id=INC).delivery,
                     down.comment(key="PROJ-1", text="x"), down.transition(key="PROJ-1", name="Done")):
        assert (delivery.ok, delivery.status, delivery.detail) == (False, None, "network error: ConnectionError")
    with FakeJira() as jira:
        tickets = tickets_for(jira)
        key = tickets.create(ticket=ticket()).ref
        jira.lose_next(1)
        assert tickets.comment(key=key, text="lost").status is None
        assert len(jira.issue(key)["comments"]) == 1               # posted; only the answer was lost


def test_no_secret_in_any_detail_or_log(jira, tickets, caplog):
    caplog.set_level(logging.DEBUG)
    echo = {"errorMessages": [f"token {TOKEN} rejected", f"header Basic {BASIC}"], "errors": {"auth": TOKEN}}
    jira.fail_next(1, status=400, body=echo)
    jira.fail_next(1, status=429, retry_after=0, body=echo)
    deliveries = [tickets.create(ticket=ticket()).delivery, tickets.find(incident_id=INC).delivery]
    key = tickets.create(ticket=ticket()).ref
    deliveries += [tickets.comment(key=key, text="x"), tickets.transition(key=key, name="Done"),
                   tickets.transition(key=key, name="Done")]
    assert "[secret] rejected" in deliveries[0].detail and "header [secret]" in deliveries[0].detail
    assert caplog.records, "the adapter logs what it did"
    for text in [repr(d) for d in deliveries] + [caplog.text, repr(tickets)]:
        assert TOKEN not in text and BASIC not in text


# ---- the fake refuses what Jira refuses -----------------------------------------------------------------

def test_the_fake_answers_bad_requests_as_jira_does(jira):
    http = requests.Session()
    http.auth = (USER, TOKEN)
    good = {"project": {"key": PROJECT}, "summary": "s", "issuetype": {"name": "Task"}}

    def create(**fields):
        resp = http.post(f"{jira.url}/rest/api/3/issue", json={"fields": {**good, **fields}}, timeout=2)
        return resp.status_code, resp.json()

    assert create(summary="") == (400, {"errorMessages": [], "errors": {
        "summary": "You must specify a summary of the issue."}})
    assert create(labels=["has space"])[1]["errors"] == {"labels": "The label 'has space' contains spaces which is invalid."}
    assert "description" in create(description="plain text")[1]["errors"]
    assert "description" in create(description={"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": ""}]}]})[1]["errors"]
    assert set(create(project={"key": "NOPE"}, issuetype={"name": "Epic"})[1]["errors"]) == {"project", "issuetype"}
    assert create()[0] == 201
    for jql in ("", "ORDER BY created", 'project = "PROJ" OR labels = "x"', 'labels ~ "x"'):
        assert http.get(f"{jira.url}/rest/api/3/search/jql", params={"jql": jql}, timeout=2).status_code == 400
    assert http.get(f"{jira.url}/rest/api/3/search", params={"jql": "project = PROJ"}, timeout=2).status_code == 410
    bad = http.post(f"{jira.url}/rest/api/3/issue/PROJ-1/transitions", json={"transition": {"id": "41"}}, timeout=2)
    assert bad.json()["errorMessages"] == ["Transition id '41' is not valid for this issue."]
    anonymous = requests.post(f"{jira.url}/rest/api/3/issue", json={"fields": good}, timeout=2)
    assert anonymous.status_code == 401 and jira.count() == 1
