"""JiraTickets against the loopback FakeJira with real requests: the fields and ADF it sends, finding a
ticket whose create answer was lost, comments, transitions, the priority fallback, failures the outbox
retries (with Retry-After), and no secret in any detail or log line."""
from __future__ import annotations

import base64
import logging
import socket
from typing import Any

import pytest
import requests

from shared.adapters.notify.jira import JiraTickets, adf, find_jql
from shared.ports import Ticket
from tests.fakes.jira import NOT_FOUND, PROJECT, TOKEN, USER, FakeJira, parse_jql

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


# ---- comment and transition -------------------------------------------------------------------------

def test_comment_is_posted_as_adf(jira, tickets):
    key = tickets.create(ticket=ticket()).ref
    delivery = tickets.comment(key=key, text="Mitigated: rolled back v42\nwatching error rate")
    assert (delivery.ok, delivery.status) == (True, 201)
    assert jira.issue(key)["comments"] == [adf("Mitigated: rolled back v42\nwatching error rate")]

    missing = tickets.comment(key="PROJ-99", text="hello")
    assert (missing.ok, missing.status, missing.detail) == (False, 404, f"404 Not Found: {NOT_FOUND}")
    empty = tickets.comment(key=key, text="  \n")
    assert (empty.ok, empty.attempts, empty.status) == (False, 0, None)


def test_transition_done_then_a_missing_transition_is_a_404_naming_the_offered_ones(jira, tickets):
    key = tickets.create(ticket=ticket()).ref
    done = tickets.transition(key=key, name="done")
    assert (done.ok, done.status, done.attempts, done.history) == (True, 204, 1, ("200", "204"))
    assert jira.issue(key)["status"] == "Done"

    again = tickets.transition(key=key, name="Done")
    assert (again.ok, again.status, again.attempts) == (False, 404, 0)
    assert again.detail == f"{key} has no transition 'Done' now; it offers: Reopen"
    assert jira.statuses("POST", f"/rest/api/3/issue/{key}/transitions") == [204]

    assert tickets.transition(key=key, name="REOPEN").ok and jira.issue(key)["status"] == "To Do"
    nowhere = tickets.transition(key="PROJ-99", name="Done")
    assert (nowhere.ok, nowhere.status, nowhere.attempts) == (False, 404, 0) and NOT_FOUND in nowhere.detail


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



# ---- links and status (action items) -------------------------------------------------------------------

def test_link_relates_two_issues_once_however_often_it_is_sent(jira, tickets):
    incident, item = tickets.create(ticket=ticket()).ref, tickets.create(ticket=ticket(labels=("action-item",))).ref
    first = tickets.link(inward=incident, outward=item)
    assert (first.ok, first.status, first.attempts, first.detail) == (True, 201, 1, f"{incident} relates {item}")
    jira.lose_next(1)
    assert tickets.link(inward=incident, outward=item).status is None        # processed, its answer lost
    assert tickets.link(inward=incident, outward=item).ok                    # Jira: a duplicate "was created"
    assert jira.links() == [("Relates", incident, item)] and jira.links(item) == jira.links(incident)
    assert tickets.link(inward=incident, outward="PROJ-99").detail == f"404 Not Found: {NOT_FOUND}"
    assert "'Causes'" in tickets.link(inward=incident, outward=item, kind="Causes").detail   # 404: no such type
    half = requests.post(f"{jira.url}/rest/api/3/issueLink", auth=(USER, TOKEN), timeout=2,
                         json={"type": {"name": "Relates"}, "inwardIssue": {"key": incident}})
    assert half.status_code == 400 and len(jira.links()) == 1


def test_status_reads_the_category_key_and_the_status_name(jira, tickets):
    key = tickets.create(ticket=ticket()).ref
    new = tickets.status(key=key)
    assert (new.delivery.ok, new.delivery.status, new.ref, new.delivery.detail) == (True, 200, "new", "To Do")
    jira.set_status(key, "In Progress")
    assert tickets.status(key=key).ref == "indeterminate" and tickets.transition(key=key, name="Done").ok
    assert (tickets.status(key=key).ref, tickets.status(key=key).delivery.detail) == ("done", "Done")
    gone = tickets.status(key="PROJ-99").delivery
    assert (gone.ok, gone.status, gone.detail) == (False, 404, f"404 Not Found: {NOT_FOUND}")
    jira.fail_next(1, status=200, body={"key": key, "fields": {"status": {"name": "Closed"}}})   # no category
    assert tickets.status(key=key).ref == "Closed"
    answer = requests.get(f"{jira.url}/rest/api/3/issue/{key}", params={"fields": "status"}, auth=(USER, TOKEN),
                          timeout=2).json()
    assert answer["fields"] == {"status": {"name": "Done", "statusCategory": {   # only the field asked for
        "id": 3, "key": "done", "colorName": "green", "name": "Done"}}}


@pytest.mark.parametrize("status, retry_after", [(503, 3.0), (429, 7.0), (None, None)])
def test_link_and_status_failures_come_back_retryable_and_scrubbed(jira, tickets, status, retry_after):
    a, b = tickets.create(ticket=ticket()).ref, tickets.create(ticket=ticket()).ref
    if status is None:                                                    # Jira gone: no answer at all
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            tickets = JiraTickets(base_url=f"http://127.0.0.1:{s.getsockname()[1]}", user=USER, api_token=TOKEN,
                                  project_key=PROJECT, timeout_s=1)
    jira.fail_next(2, status=status or 500, retry_after=retry_after, body={"errorMessages": [f"token {TOKEN}"]})
    link, read = tickets.link(inward=a, outward=b), tickets.status(key=a)
    for d in (link, read.delivery):
        assert (d.ok, d.status, d.attempts, d.retry_after) == (False, status, 1, retry_after)
        assert TOKEN not in d.detail and BASIC not in d.detail
    assert read.ref == "" and jira.links() == []
