"""The incident's classification is a typed value with one stored shape; documents stored before it was
typed (impact and scope in words, no severity, no tenants) still read; what the app shows is unchanged."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from shared.domain.classification import Classification, declared, from_request
from shared.domain.errors import InvalidInput
from shared.domain.incident import Incident
from shared.services import outbox
from shared.services.queries import incident_view

T0 = datetime(2026, 11, 30, 3, 0, tzinfo=timezone.utc)


def incident(c: Classification, **kw) -> Incident:
    inc = Incident.declare("INC-20261130-0001", title="checkout down", c=c, actor="alice", now=T0)
    for k, v in kw.items():
        setattr(inc, k, v)
    return inc


def test_the_stored_shape_keeps_the_keys_the_severity_and_the_tenants_and_reads_back_equal():
    c = Classification("SEV-2", "core", "some", "why", False, "checkout", ("contoso", "fabrikam"))
    doc = incident(c).to_doc()
    assert doc["classification"] == {"severity": "SEV-2", "impact": "core", "scope": "some", "reason": "why",
                                      "security": False, "category": "checkout", "tenants": ["contoso", "fabrikam"]}
    back = Incident.from_doc(json.loads(json.dumps(doc)))
    assert back.classification == c


def test_a_document_stored_in_the_old_shape_reads_as_the_same_classification():
    doc = incident(declared(actor="bob", severity=None, impact="core", scope="all")).to_doc()
    doc["classification"] = {"impact": "core feature broken", "scope": "all users", "reason": "old",
                             "security": True, "category": "security"}
    doc["severity"], doc["tenants"] = "SEV-1", ["contoso"]
    c = Incident.from_doc(doc).classification
    assert c == Classification("SEV-1", "core", "all", "old", True, "security", ("contoso",))


@pytest.mark.parametrize("stored", [{}, None, {"impact": None, "scope": None, "reason": "Set to SEV-2 by bob: x"}])
def test_an_old_document_without_impact_reads_as_not_assessed(stored):
    doc = incident(declared(actor="bob", severity="SEV-2", impact=None, scope=None)).to_doc()
    doc["classification"] = stored
    c = Incident.from_doc(doc).classification
    assert (c.severity, c.impact, c.scope, c.security, c.tenants) == ("SEV-2", None, None, False, ())


def test_what_the_api_and_the_outbox_show_is_the_classification_in_words():
    inc = incident(declared(actor="bob", severity=None, impact="degraded", scope="some", tenants=("contoso",)))
    shown = incident_view(inc)
    assert shown["classification"] == {"impact": "feature degraded", "scope": "some users",
                                       "reason": "Declared by bob: feature degraded × some users → SEV-3"}
    assert shown["security"] is False
    msg = outbox.message(T0, inc, channel="pagerduty", action="trigger", role="primary", person="bob")
    data = msg.fields if hasattr(msg, "fields") else msg.data   # an outbox event, or (before events) its Op
    details = json.loads(data["details"])
    assert list(details["classification"]) == ["impact", "scope", "reason", "category", "security"]
    assert details["classification"]["impact"] == "feature degraded" and details["classification"]["security"] is False


def test_a_severity_change_keeps_impact_and_scope_and_says_who_set_it():
    inc = incident(declared(actor="bob", severity=None, impact="core", scope="some"))
    assert inc.set_severity("SEV-1", "spreading", "carol", T0)
    c = inc.classification
    assert (c.severity, c.impact, c.scope, c.reason) == ("SEV-1", "core", "some", "Set to SEV-1 by carol: spreading")


@pytest.mark.parametrize("body, path, message", [
    ({"severity": "SEV-9"}, "$.severity", "must be one of SEV-1, SEV-2, SEV-3, SEV-4"),
    ({"impact": "huge"}, "$.impact", "must be one of core, degraded, minor"),
    ({"impact": "core", "scope": "galaxy"}, "$.scope", "must be one of all, some, one"),
    ({"severity": "SEV-2", "tenants": "contoso"}, "$.tenants", "must be a list of tenant names"),
    ({"severity": "SEV-2", "security": "yes"}, "$.security", "must be true or false"),
    ({"impact": "core"}, "$.severity", "give severity, or impact and scope"),
    ({}, "$.severity", "give severity, or impact and scope"),
])
def test_a_declared_body_is_refused_naming_the_field(body, path, message):
    with pytest.raises(InvalidInput) as e:
        from_request(body, actor="bob")
    assert (e.value.path, e.value.message) == (path, message)


def test_a_declared_body_reads_the_matrix_and_sorts_the_tenants():
    c = from_request({"impact": "core feature broken", "scope": "all", "tenants": ["b", "a"]}, actor="bob")
    assert (c.severity, c.impact, c.scope, c.tenants) == ("SEV-1", "core", "all", ("a", "b"))
    assert from_request({"security": True}, actor="bob").security is True
