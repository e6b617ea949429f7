"""The runbook's communication templates: golden texts for a rich incident, the checks at load (a broken
template names its file and line), the sandbox, durations, and public texts that leak nothing internal.

Golden files: tests/golden/comms/<name>.txt. After changing a template on purpose, rewrite them with
UPDATE_GOLDEN=1 and read the diff against RUNBOOK.md section 5 before committing.
"""
from __future__ import annotations

import os
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import jinja2
import pytest

from shared import bootstrap
from shared.domain import communication as comm
from shared.domain.classification import Classification
from shared.domain.comms_policy import CommsPolicy
from shared.domain.errors import NotFound, PolicyError
from shared.domain.escalation_state import EscalationState, Paged
from shared.domain.incident import Incident
from shared.domain.policy import Runbook
from shared.domain.remediation_entry import Remediation
from shared.services.rendering import render
from shared.templates import FILTERS, REQUIRED, SHIPPED, Templates, shipped
from tests.payloads import API_ID, CORE

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "comms"
T0 = datetime(2026, 11, 30, 3, 12, tzinfo=timezone.utc)
OPEN_NOW, RESOLVED_NOW = T0 + timedelta(minutes=28), T0 + timedelta(minutes=70)
REASON = f"Rule 'API unresponsive' matched alert api-5xx on {API_ID}"
COMMS = CommsPolicy.from_dict({
    "communications": {"services": {"api": "Purchase requests and API", "postgres": "Data storage"}},
    "customers": {"contoso": {"name": "Contoso Ltd", "contact": "it-ops@contoso.example"}}})
ROLLBACK = {"id": "REM-1a2b3c", "playbook": "rollback", "resource_id": CORE["api"], "status": "succeeded",
            "reason": f"revision ca-procgenie-api--v7 of {API_ID} created 20 minutes before the alert"}


def incident(*, resolved: bool) -> Incident:
    """SEV-1 on the API and the database for three tenants: paged bob, acknowledged by alice after 4
    minutes, identified; resolved 1 hour 5 minutes after it opened."""
    inc = Incident(id="INC-20261130-0007", title="api-5xx: API returning 5xx errors", severity="SEV-1", created_at=T0,
                   classification=Classification("SEV-1", "core", "some", REASON),
                   tenants=["contoso", "fabrikam", "northwind"], core_targets=[CORE["api"], CORE["postgres"]],
                   escalation=EscalationState(paged={"primary": Paged("bob", datetime(2026, 11, 30, 3, 12, tzinfo=timezone.utc))}),
                   remediations=[Remediation.from_doc(ROLLBACK)])
    inc.acknowledge("alice", T0 + timedelta(minutes=4))
    inc.phase = "identified"
    if resolved:
        inc.state, inc.phase, inc.resolved_at = "resolved", "resolved", T0 + timedelta(minutes=65)
    return inc


FIX = "A faulty deployment of the purchase request service"
CASES = {  # template -> (resolved?, extras)
    "slack-initial": (False, {"diagnostics": ["API container app: Running", "PostgreSQL: Ready",
                                              "Redis: Succeeded"], "ticket": "OPS-123"}),
    "status-investigating": (False, {}),
    "status-identified": (False, {"message": FIX + ".", "estimate": "30 minutes",
                                  "workaround": "Send urgent purchase requests to procurement by email."}),
    "status-monitoring": (False, {"message": "Error rates are back to normal."}),
    "status-resolved": (True, {"message": FIX + ", rolled back to the previous version."}),
    "customer-email": (True, {"message": FIX + ", rolled back to the previous version."}),
    "customer-draft": (True, {"message": FIX + ", rolled back to the previous version."}),
    "update-acknowledged": (False, {"message": "Acknowledged by alice", "actor": "alice"}),
    "update-severity": (False, {"old_severity": "SEV-2", "new_severity": "SEV-1", "reason": "every tenant affected",
                                "actor": "alice"}),
    "update-phase": (False, {"message": "Status identified: bad deployment", "actor": "alice"}),
    "update-remediation": (False, {"remediation": comm.remediation_view(Remediation.from_doc(ROLLBACK), COMMS, CORE)}),
    "update-resolved": (True, {"message": "Resolved by alice: rolled back to v6", "actor": "alice"}),
    "update-due": (False, {"due_at": "2026-11-30T03:45:00.000000Z", "recipients": ["alice", "peggy (cto)"]}),
    "update-overdue": (False, {"due_at": "2026-11-30T03:45:00.000000Z", "recipients": ["alice", "peggy (cto)"]}),
}


def rendered(name: str) -> comm.Rendered:
    resolved, extra = CASES[name]
    inc = incident(resolved=resolved)
    return shipped().render(name, comm.context(inc, COMMS, RESOLVED_NOW if resolved else OPEN_NOW, core=CORE,
                                               **extra))


def test_every_required_template_is_shipped_and_has_a_golden_case():
    assert set(shipped().names) == set(REQUIRED) == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name):
    r = rendered(name)
    text = f"subject: {r.subject}\n----\n{r.text}\n"
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


def test_the_runbook_words_are_there():
    assert rendered("status-investigating").text.splitlines()[:2] == ["Status: Investigating",
                                                                      "Time: 2026-11-30T03:40:00Z"]
    assert "We will provide an update within 30 minutes." in rendered("status-investigating").text
    assert "Duration: 2026-11-30T03:12:00Z to 2026-11-30T04:17:00Z (1 hour 5 minutes)" in rendered(
        "status-resolved").text
    assert rendered("customer-email").subject == "ProcGenie Service Incident - 2026-11-30"
    assert rendered("customer-email").text.startswith("Dear Contoso Ltd,")
    assert rendered("customer-draft").text.startswith("Draft customer email for Contoso Ltd (it-ops@contoso.example)"
                                                      " — review and send it yourself; the app never sends it")
    first = rendered("slack-initial").text.splitlines()
    assert first[:5] == ["INCIDENT: api-5xx: API returning 5xx errors", "SEVERITY: SEV-1",
                         "IMPACT: Some users (3 tenants) — core feature broken", "STATUS: Identified", "LEAD: alice"]
    assert "The issue is related to a faulty deployment of the purchase request service." in rendered(
        "status-identified").text


def test_no_cadence_no_promise():
    inc = incident(resolved=False)
    inc.severity = "SEV-3"
    r = shipped().render("status-investigating", comm.context(inc, COMMS, OPEN_NOW))
    assert "update within" not in r.text


# ---- the checks at load --------------------------------------------------------------------------

@pytest.fixture
def edited(tmp_path):
    """A copy of the shipped templates in <tmp>/templates; edit(name, text) rewrites one file."""
    root = tmp_path / "templates"
    shutil.copytree(SHIPPED, root)

    def edit(name: str, text: str) -> str:
        (root / f"{name}.txt").write_text(text, encoding="utf-8")
        return str(root)
    return edit


def test_the_copy_loads(edited):
    assert Templates.from_directory(edited("update-phase", (SHIPPED / "update-phase.txt").read_text())).names


@pytest.mark.parametrize("text, message", [
    ("{% block subject %}x{% endblock %}\n{% block text %}\n\n{% if incident.id %}\nx\n{% endblock %}",
     "templates/update-phase.txt line 6: Encountered unknown tag 'endblock'"),
    ("{% block subject %}x{% endblock %}\n{% block text %}\n\n{{ incdent.id }}\n{% endblock %}",
     "templates/update-phase.txt line 4: unknown name 'incdent' (did you mean 'incident'?)"),
    ("{% block subject %}x{% endblock %}\n{% block text %}\n{{ incident.titel }}\n{% endblock %}",
     "templates/update-phase.txt line 3: unknown key 'titel' of 'incident' (did you mean 'title'?)"),
    ("{% block subject %}x{% endblock %}\n{% block text %}{{ incident.id | nope }}{% endblock %}",
     "templates/update-phase.txt line 2: No filter named 'nope'"),
    ("{% block subject %}x{% endblock %}\n\n", "templates/update-phase.txt line 3: no {% block text %}"),
    ("{% block subject %}x{% endblock %}\n{% block text %}\n{{ incident.created_at | duration }}\n{% endblock %}",
     "templates/update-phase.txt line 3: could not convert string to float"),  # seen by the trial render
    ("{% extends 'nothing.txt' %}", "templates/update-phase.txt line 1: extends 'nothing.txt'"),
])
def test_a_broken_template_names_file_and_line(edited, text, message):
    with pytest.raises(PolicyError) as e:
        Templates.from_directory(edited("update-phase", text))
    assert str(e.value).startswith(message), str(e.value)


def test_a_missing_template_is_named(edited):
    root = edited("update-phase", (SHIPPED / "update-phase.txt").read_text())
    os.remove(os.path.join(root, "update-due.txt"))
    with pytest.raises(PolicyError, match=r"templates/: missing template\(s\) update-due.txt"):
        Templates.from_directory(root)


@pytest.mark.parametrize("line, why", [
    ("{{ incident.tenants }}", "incident.tenants is internal"),
    ("{{ incident.reason }}", "incident.reason is internal"),
    ("{{ incident.title }}", "incident.title is internal"),
    ("{{ incident }}", "the whole incident is internal"),
    ("{% set i = incident %}{{ i.reason }}", "the whole incident is internal"),
    ("{{ lead }}", "'lead' is internal"),
    ("{{ who_is_affected }}", "'who_is_affected' is internal"),
    ("{% for r in remediations %}{{ r.target }}{% endfor %}", "'remediations' is internal"),
    ("{% include 'slack-initial.txt' %}", "a public template may not extend, include or import"),
])
def test_a_public_template_may_not_use_internal_fields(edited, line, why):
    text = "{% block subject %}x{% endblock %}\n{% block text %}\n" + line + "\n{% endblock %}"
    with pytest.raises(PolicyError) as e:
        Templates.from_directory(edited("status-resolved", text))
    assert str(e.value).startswith(f"templates/status-resolved.txt line 3: {why}"), str(e.value)


def test_a_bad_template_fails_start_up_like_a_bad_runbook_key(edited, tmp_path):
    root = edited("status-investigating", "{% block subject %}x{% endblock %}\n{% block text %}\n\n"
                                          "{{ incdent.title }}\n{% endblock %}")
    book = tmp_path / "runbook.toml"
    text = Path(bootstrap.settings().runbook_file).read_text()
    assert '# templates_dir = "comms"' in text
    book.write_text(text.replace('# templates_dir = "comms"', f'templates_dir = "{os.path.basename(root)}"'))
    with pytest.raises(PolicyError, match=r"^templates/status-investigating.txt line 4: unknown name 'incdent'"):
        bootstrap.load_runbook(str(book))


def test_the_runbook_carries_its_templates_and_comms():
    book = bootstrap.load_runbook(bootstrap.settings().runbook_file)
    assert book.templates is shipped() and book.comms.services["api"] == "Purchase requests and API"
    assert book.comms.update_every("SEV-1") == timedelta(minutes=30) and book.comms.update_every("SEV-3") is None
    r = render(incident(resolved=False), "status-identified", book, OPEN_NOW, core=CORE)
    assert "Affected services: Purchase requests and API, Data storage (requests, approvals, reports)" in r.text
    assert render(incident(resolved=False), "status-identified", Runbook(), OPEN_NOW).text  # no templates: shipped
    with pytest.raises(NotFound, match="no template 'status-panicking'; known: customer-draft"):
        render(incident(resolved=False), "status-panicking", book, OPEN_NOW)


# ---- the sandbox ---------------------------------------------------------------------------------

@pytest.mark.parametrize("expr", ["''.__class__.__mro__", "''['__class__']", "(''|attr('__class__'))"])
def test_the_sandbox_refuses_private_attributes(edited, expr):
    text = "{% block subject %}x{% endblock %}\n{% block text %}\n{{ " + expr + " }}\n{% endblock %}"
    with pytest.raises(PolicyError, match=r"templates/update-phase.txt line 3: .*'__"):
        Templates.from_directory(edited("update-phase", text))


def test_the_environment_itself_is_a_sandbox():
    env = shipped()._env  # past the load checks: the sandbox still refuses
    with pytest.raises(jinja2.exceptions.SecurityError):
        env.from_string("{{ ''.__class__.__mro__ }}").render()
    with pytest.raises(jinja2.exceptions.UndefinedError):
        env.from_string("{{ nothing }}").render()


# ---- durations and times -------------------------------------------------------------------------

@pytest.mark.parametrize("span, text", [
    (timedelta(hours=1, minutes=5), "1 hour 5 minutes"), (timedelta(minutes=45), "45 minutes"),
    (timedelta(days=2, hours=3, minutes=20), "2 days 3 hours"), (timedelta(days=1, minutes=7), "1 day"),
    (timedelta(hours=2), "2 hours"), (timedelta(minutes=1, seconds=59), "1 minute"),
    (timedelta(seconds=20), "less than a minute"), (timedelta(seconds=-5), "less than a minute"),
    (3900, "1 hour 5 minutes"), (60.0, "1 minute"),
])
def test_durations(span, text):
    assert comm.human_duration(span) == text
    assert FILTERS["duration"](span) == text


def test_time_filters_and_open_durations():
    assert FILTERS["iso"]("2026-11-30T03:45:00.000000Z") == "2026-11-30T03:45:00Z"
    assert (FILTERS["date"](T0), FILTERS["time"](T0), FILTERS["iso"]("")) == ("2026-11-30", "03:12", "")
    open_ctx = comm.context(incident(resolved=False), COMMS, T0 + timedelta(days=2, hours=3))
    assert open_ctx["incident"]["duration"] == "2 days 3 hours" and open_ctx["incident"]["resolved_at"] == ""
    assert comm.context(incident(resolved=True), COMMS, RESOLVED_NOW)["incident"]["duration"] == "1 hour 5 minutes"


# ---- the context ---------------------------------------------------------------------------------

def test_the_context_is_the_documented_list():
    ctx = comm.context(incident(resolved=True), COMMS, RESOLVED_NOW, core=CORE)
    assert set(ctx) == comm.ALL_NAMES and set(ctx["incident"]) == comm.INCIDENT_KEYS
    i = ctx["incident"]
    assert (i["severity_name"], i["status"], i["impact"], i["scope"], i["tenant_count"]) == (
        "Critical", "Resolved", "core", "some", 3)
    assert (i["created_at"], i["acknowledged_at"], i["resolved_at"]) == (
        "2026-11-30T03:12:00Z", "2026-11-30T03:16:00Z", "2026-11-30T04:17:00Z")
    assert ctx["affected_services"] == ["Purchase requests and API", "Data storage"]
    assert (ctx["problem"], ctx["lead"], ctx["update_within"], ctx["now"]) == (
        "unavailability and errors", "alice", "30 minutes", "2026-11-30T04:22:00Z")
    assert ctx["remediations"] == [{"id": "REM-1a2b3c", "playbook": "rollback", "status": "succeeded",
                                    "target": "Purchase requests and API", "reason": ROLLBACK["reason"]}]
    assert ctx["customer"] == {"name": "Contoso Ltd", "contact": "it-ops@contoso.example"}
    assert comm.context(incident(resolved=True), COMMS, RESOLVED_NOW, ticket="OPS-9", extra=1)["ticket"] == "OPS-9"


def test_who_is_affected_lead_and_services_fall_back():
    assert comm.who_is_affected("all", ["a", "b"]) == "All users"
    assert comm.who_is_affected("some", ["a", "b", "c"]) == "Some users (3 tenants)"
    assert comm.who_is_affected("some", ["a"] * 200, truncated=True) == "Some users (200+ tenants)"
    assert comm.who_is_affected("one", ["contoso"]) == "One tenant: contoso"
    assert comm.who_is_affected("one", []) == "One user"
    bare = Incident(id="INC-20261130-0001", title="t", severity="SEV-2", created_at=T0,
                    classification=Classification("SEV-2", None, None, ""))
    ctx = comm.context(bare, CommsPolicy(), T0 + timedelta(minutes=45))
    assert (ctx["lead"], ctx["affected_services"], ctx["update_within"], ctx["problem"]) == (
        "unassigned", ["ProcGenie"], "1 hour", "degraded performance")
    assert ctx["customer"] == {"name": "Customer", "contact": ""} and ctx["who_is_affected"] == "All users"
    bare.escalation = EscalationState(paged={"primary": Paged("bob")})
    bare.core_targets = ["/subscriptions/x/other"]  # not a core resource: no public name, the product instead
    ctx = comm.context(bare, CommsPolicy(services={"api": "API"}), T0, core=CORE)
    assert (ctx["lead"], ctx["affected_services"]) == ("bob", ["ProcGenie"])


# ---- [communications] and [customers] ------------------------------------------------------------

def test_comms_policy_defaults_and_customers():
    c = CommsPolicy.from_dict({})
    assert (c.product, c.support_email, c.remind_before, c.templates_dir) == (
        "ProcGenie", "support@procgenie.io", timedelta(minutes=5), None)
    assert c.update_minutes == {"SEV-1": timedelta(minutes=30), "SEV-2": timedelta(hours=1)}
    assert c.customer("acme") == {"name": "acme", "contact": ""}
    assert COMMS.customer("contoso") == {"name": "Contoso Ltd", "contact": "it-ops@contoso.example"}


@pytest.mark.parametrize("sections, key", [
    ({"communications": {"produkt": "x"}}, "communications.produkt"),
    ({"communications": {"product": ""}}, "communications.product"),
    ({"communications": {"update_minutes": {"SEV-9": 5}}}, "communications.update_minutes.SEV-9"),
    ({"communications": {"update_minutes": {"SEV-1": 0}}}, "communications.update_minutes.SEV-1"),
    ({"communications": {"remind_before_minutes": -1}}, "communications.remind_before_minutes"),
    ({"communications": {"services": {"web": "Web"}}}, "communications.services.web"),
    ({"communications": {"services": {"api": 3}}}, "communications.services.api"),
    ({"communications": {"templates_dir": 3}}, "communications.templates_dir"),
    ({"customers": {"contoso": {"name": "C", "phone": "1"}}}, "customers.contoso.phone"),
    ({"customers": {"contoso": "Contoso"}}, "customers.contoso"),
    ({"communications": []}, "communications"),
])
def test_comms_policy_errors_name_the_key(sections, key):
    with pytest.raises(PolicyError, match=f"^{key} "):
        CommsPolicy.from_dict(sections)


# ---- public texts leak nothing internal ----------------------------------------------------------

def test_public_templates_leak_nothing_internal():
    inc = incident(resolved=True)
    inc.title = f"Alert 'db-conn' on {CORE['postgres']}: FATAL password authentication failed for user app"
    secrets = [*inc.tenants, "alice", "bob", API_ID, CORE["api"], CORE["postgres"], "/subscriptions/",
               "rg-procgenie-prod", "ca-procgenie-api", inc.id, "REM-1a2b3c", "FATAL", "API unresponsive",
               "it-ops@contoso.example"]
    for name in comm.PUBLIC_TEMPLATES:
        for now in (OPEN_NOW, RESOLVED_NOW):
            r = shipped().render(name, comm.context(inc, COMMS, now, core=CORE))
            for s in secrets:
                assert s not in r.subject + r.text, (name, s)  # "Contoso Ltd" is the addressee's own name
