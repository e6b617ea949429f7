"""JiraTickets on an existing issue, against the loopback FakeJira with real requests: comments,
transitions, links and status reads (action items), and their failures, retryable and scrubbed.
Creating and finding a ticket: test_jira_adapter.py."""
from __future__ import annotations

import socket

import pytest
import requests

from shared.adapters.notify.jira import JiraTickets, adf
from tests.fakes.jira import NOT_FOUND, PROJECT, TOKEN, USER, FakeJira
from tests.integration.test_jira_adapter import BASIC, ticket, tickets_for


@pytest.fixture
def jira():
    with FakeJira() as fake:
        yield fake


@pytest.fixture
def tickets(jira):
    return tickets_for(jira)


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
