"""GET incidents/{id}/communications/{template} through the registered function on Azurite: the runbook's
texts for a stored incident, 404 naming the known templates, 404 for an unknown incident."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from shared.domain.classification import Classification
from shared.domain.incident import Incident
from shared.storage.repository import IncidentRepository
from tests.payloads import CORE

T0 = datetime(2026, 11, 27, 2, 40, tzinfo=timezone.utc)  # 20 minutes before the app fixture's clock


def stored_incident(store) -> str:
    inc = Incident(id="INC-20261127-0001", title="api-5xx", severity="SEV-1", created_at=T0,
                   classification=Classification("SEV-1", "core", "some", "r"),
                   tenants=["contoso", "fabrikam"], core_targets=[CORE["api"]])
    inc.acknowledge("alice", T0 + timedelta(minutes=3))
    store.commit(ops=IncidentRepository(store).save_ops(inc, None))
    return inc.id


def get(app, incident_id: str, template: str, **params):
    return app.call("get_communication", method="GET", route={"id": incident_id, "template": template},
                    params=params)


def test_the_runbook_texts_for_an_incident(app, table_store):
    iid = stored_incident(table_store)
    status, body = get(app, iid, "status-investigating")
    assert status == 200 and set(body) == {"template", "subject", "text"}
    assert body["template"] == "status-investigating"
    assert body["subject"] == "Investigating platform performance issues"
    assert body["text"].startswith("Status: Investigating\nTime: 2026-11-27T03:00:00Z\n")  # the clock's now
    assert "affecting Purchase requests and API." in body["text"]  # runbook.toml [communications.services]
    assert "We will provide an update within 30 minutes." in body["text"]
    status, body = get(app, iid, "slack-initial")
    assert status == 200 and "LEAD: alice" in body["text"] and "Some users (2 tenants)" in body["text"]
    status, body = get(app, iid, "customer-email")
    assert status == 200 and body["subject"] == "ProcGenie Service Incident - 2026-11-27"
    assert body["text"].startswith("Dear contoso,")  # the first tenant; no [customers] entry: its own name
    status, body = get(app, iid, "status-identified", message="A bad deployment", estimate="30 minutes")
    assert status == 200 and "related to a bad deployment." in body["text"] and "within 30 minutes" in body["text"]


def test_unknown_template_is_404_naming_the_known_ones(app, table_store):
    iid = stored_incident(table_store)
    for name in ("status-panicking", "update-due", "../customer-email"):  # chat updates are not drafts to read
        status, body = get(app, iid, name)
        assert status == 404 and body["error"] == "not_found"
        assert "status-investigating" in body["message"] and "customer-email" in body["message"]


def test_unknown_incident_is_404(app):
    status, body = get(app, "INC-20261127-0999", "status-investigating")
    assert status == 404 and "INC-20261127-0999" in body["message"]


def test_overlong_words_are_refused(app, table_store):
    iid = stored_incident(table_store)
    status, body = get(app, iid, "status-identified", message="x" * 2001)
    assert status == 400 and body["path"] == "message"
