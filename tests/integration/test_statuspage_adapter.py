"""StatuspageStatusPage through real `requests` against FakeStatuspage on 127.0.0.1."""
from __future__ import annotations

import json
import logging
import socket

import pytest
import requests

from shared.adapters.notify.statuspage import StatuspageStatusPage
from shared.ports import PublicUpdate
from tests.fakes.statuspage import API_KEY, PAGE_ID, FakeStatuspage

API, WEB = "cmp0api00001", "cmp0web00002"


@pytest.fixture
def fake():
    with FakeStatuspage() as f:
        yield f


def page_for(fake: FakeStatuspage, **kw) -> StatuspageStatusPage:
    kw.setdefault("api_key", API_KEY)
    kw.setdefault("page_id", PAGE_ID)
    return StatuspageStatusPage(api_url=fake.api_url, **kw)


def public(status="investigating", incident_id="INC-20261127-001", **kw) -> PublicUpdate:
    kw.setdefault("name", "Elevated error rates on the API")
    kw.setdefault("body", "We are investigating elevated error rates.")
    return PublicUpdate(incident_id=incident_id, status=status, **kw)


def forms(secret: str) -> set[str]:
    return {secret, secret[:16], json.dumps(secret)[1:-1]}


# ---- create, update, find ----------------------------------------------------------------------

def test_create_opens_the_incident_with_components_impact_and_metadata(fake):
    sent = page_for(fake).create(update=public(impact="major", components={API: "partial_outage"}))
    d = sent.delivery
    assert (d.ok, d.status, d.attempts, d.history, d.retry_after) == (True, 201, 1, ("201",), None)
    incident = fake.incidents[sent.ref]
    assert (incident["name"], incident["status"], incident["impact_override"], incident["impact"]) == (
        "Elevated error rates on the API", "investigating", "major", "major")
    assert incident["metadata"] == {"incident_response": {"incident_id": "INC-20261127-001"}}
    assert [c["id"] for c in incident["components"]] == [API]
    assert fake.components[API]["status"] == "partial_outage" and fake.components[WEB]["status"] == "operational"
    (first,) = incident["incident_updates"]
    assert (first["status"], first["body"], first["deliver_notifications"]) == (
        "investigating", "We are investigating elevated error rates.", True)
    assert first["affected_components"] == [
        {"code": API, "name": "API", "old_status": "operational", "new_status": "partial_outage"}]
    assert fake.count("POST", f"/pages/{PAGE_ID}/incidents") == 1


def test_update_to_identified_then_resolved_adds_updates_newest_first(fake):
    page = page_for(fake)
    ref = page.create(update=public(components={API: "major_outage"})).ref
    d1 = page.update(ref=ref, update=public("identified", body="A bad deploy; rolling back.",
                                            components={API: "partial_outage"}))
    d2 = page.update(ref=ref, update=public("resolved", body="Error rates are back to normal.",
                                            components={API: "operational"}))
    assert (d1.ok, d1.status, d1.detail) == (True, 200, f"{ref} now identified")
    assert (d2.ok, d2.status, d2.detail) == (True, 200, f"{ref} now resolved")
    incident = fake.incidents[ref]
    assert [u["status"] for u in incident["incident_updates"]] == ["resolved", "identified", "investigating"]
    assert incident["incident_updates"][0]["body"] == "Error rates are back to normal."
    assert incident["resolved_at"] and fake.components[API]["status"] == "operational"
    assert fake.unresolved() == []
    gone = page.find(incident_id="INC-20261127-001")
    assert (gone.delivery.ok, gone.ref) == (True, "")


def test_update_without_components_leaves_them_and_unknown_ref_is_404(fake):
    page = page_for(fake)
    ref = page.create(update=public(components={API: "degraded_performance"})).ref
    assert page.update(ref=ref, update=public("monitoring", body="A fix is out.")).ok
    assert fake.components[API]["status"] == "degraded_performance"
    assert fake.incidents[ref]["monitoring_at"]
    missing = page.update(ref="nosuchincid0", update=public("identified"))
    assert (missing.ok, missing.status, missing.retry_after) == (False, 404, None)
    assert "could not be found" in missing.detail


def test_find_after_a_lost_create_answer_returns_the_created_incident(fake):
    page = page_for(fake)
    fake.lose_next(1)
    lost = page.create(update=public(incident_id="INC-7"))
    assert (lost.delivery.ok, lost.delivery.status, lost.ref) == (False, None, "")
    assert lost.delivery.detail == "network error: ConnectionError"
    (created,) = fake.of("INC-7")          # the incident exists although nobody heard about it
    page.create(update=public(incident_id="INC-8"))
    found = page.find(incident_id="INC-7")
    assert (found.delivery.ok, found.delivery.status, found.ref) == (True, 200, created["id"])
    other = page.find(incident_id="INC-9")
    assert (other.delivery.ok, other.ref, other.delivery.detail) == (True, "", "no unresolved incident for it")


def test_find_after_a_repeated_create_returns_the_oldest(fake):
    page = page_for(fake)
    fake.lose_next(1)
    page.create(update=public(incident_id="INC-7"))
    page.create(update=public(incident_id="INC-7"))      # a caller that did not look first
    first, second = fake.of("INC-7")
    found = page.find(incident_id="INC-7")
    assert (found.ref, found.delivery.detail) == (first["id"], f"found {first['id']} (oldest of 2)")


def test_find_reads_every_page_of_unresolved_incidents(fake):
    page = page_for(fake)
    ours = page.create(update=public(incident_id="INC-OLD")).ref
    for n in range(100):                   # newest first: ours is on page 2
        fake.handle("POST", f"/v1/pages/{PAGE_ID}/incidents", {}, {"incident": {"name": f"other {n}"}})
    found = page.find(incident_id="INC-OLD")
    assert (found.ref, found.delivery.history) == (ours, ("200", "200"))
    assert fake.count("GET", "/incidents/unresolved") == 2


# ---- refusals and failures ---------------------------------------------------------------------

def test_wrong_key_is_401_and_no_detail_holds_a_key(fake):
    wrong = "wrong-key-0000-1111-2222-3333"
    d = page_for(fake, api_key=wrong).create(update=public()).delivery
    assert (d.ok, d.status, d.retry_after) == (False, 401, None)
    assert d.detail == "401 Unauthorized: Could not authenticate"
    fake.fail_next(status=401, body={"error": f"key {API_KEY} was revoked"})   # a server that echoes it
    echoed = page_for(fake).find(incident_id="INC-1").delivery
    assert echoed.status == 401 and "[api key]" in echoed.detail
    assert not any(f in x for f in forms(API_KEY) | forms(wrong) for x in (d.detail, echoed.detail))
    assert fake.incidents == {}


@pytest.mark.parametrize("status,retry_after", [(500, None), (503, 7.0), (429, 60.0), (420, 60.0)])
def test_server_errors_and_rate_limits_are_retryable_with_retry_after(fake, status, retry_after):
    fake.fail_next(status=status, retry_after=retry_after)
    sent = page_for(fake).create(update=public())
    d = sent.delivery
    assert (d.ok, d.status, d.attempts, d.history, d.retry_after, sent.ref) == (
        False, status, 1, (str(status),), retry_after, "")
    assert fake.incidents == {}            # refused before it was processed
    assert page_for(fake).create(update=public()).delivery.ok   # one attempt per call: the next one goes


def test_network_error_has_no_status(fake):
    with socket.socket() as s:             # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    page = StatuspageStatusPage(api_url=f"http://127.0.0.1:{port}/v1", page_id=PAGE_ID, api_key=API_KEY)
    for d in (page.create(update=public()).delivery, page.update(ref="abc", update=public()),
              page.find(incident_id="INC-1").delivery):
        assert (d.ok, d.status, d.attempts, d.detail) == (False, None, 1, "network error: ConnectionError")


def test_fault_pattern_fails_every_other_call(fake):
    fake.fault_pattern([500, None])
    page = page_for(fake)
    assert [page.create(update=public(incident_id=f"INC-{n}")).delivery.status for n in range(4)] == [500, 201] * 2
    assert len(fake.incidents) == 2


def test_invalid_incident_is_422_with_the_api_words_and_other_page_is_404(fake):
    d = page_for(fake).create(update=public(name="   ")).delivery
    assert (d.ok, d.status) == (False, 422) and "Name can't be blank" in d.detail
    unknown = page_for(fake).create(update=public(components={"nosuchcomp00": "major_outage"})).delivery
    assert unknown.status == 422
    other = page_for(fake, page_id="otherpage000").find(incident_id="INC-1").delivery
    assert (other.ok, other.status) == (False, 404)
    fake.fail_next(status=422, body={"message": "spec-shaped error"})
    assert page_for(fake).create(update=public()).delivery.detail == "422 Unprocessable Entity: spec-shaped error"


def test_fake_takes_oauth_with_its_exact_case_only(fake):
    url = f"{fake.api_url}/pages/{PAGE_ID}/incidents/unresolved"
    assert requests.get(url, headers={"Authorization": f"Oauth {API_KEY}"}, timeout=5).status_code == 401
    assert requests.get(url, headers={"Authorization": f"OAuth {API_KEY}"}, timeout=5).json() == []


def test_no_secret_in_any_log_record(fake, caplog):
    caplog.set_level(logging.DEBUG)        # the root logger: this module, requests and urllib3
    page = page_for(fake)
    ref = page.create(update=public()).ref
    page.update(ref=ref, update=public("identified"))
    fake.fail_next(status=429, retry_after=1, body={"error": f"slow down, {API_KEY}"})
    page.find(incident_id="INC-20261127-001")
    fake.lose_next(1)
    page.find(incident_id="INC-20261127-001")
    page_for(fake, api_key="another-secret-key-42").create(update=public())
    texts = [r.getMessage() + repr(r.__dict__) for r in caplog.records]
    assert any("statuspage" in t for t in texts) and len(texts) >= 5
    assert not any(f in t for f in forms(API_KEY) | forms("another-secret-key-42") for t in texts)
