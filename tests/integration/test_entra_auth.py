"""Entra ID authorization end to end: real RS256 tokens, minted by tests/fakes/entra.py and checked
against its loopback OpenID configuration and key set, sent to the registered functions with real
func.HttpRequest objects on Azurite.

Every refused token answers 401 (with `WWW-Authenticate: Bearer`) or 403 and writes nothing (the
table's rows are counted before and after). The route x role table runs every HTTP route that
function_app.app registers with every role: a new route missing from functions/access.ROUTES, or
one that skips the check, fails it.
"""
from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import azure.functions as func
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from functions import access
from shared import bootstrap
from shared.adapters.auth.entra import EntraTokenVerifier
from shared.config import Settings
from shared.domain.classification import Classification
from shared.domain.errors import DependencyFailed, Forbidden, Unauthorized
from shared.domain.incident import Incident
from shared.domain.remediation_entry import Remediation
from shared.domain.timeutil import iso
from shared.services import commands, oncall, remediation, silences
from shared.storage.repository import IncidentRepository
from shared.services.schedule import schedule_for
from tests.fakes.entra import AUDIENCE, CLIENT_ID, OTHER_TENANT, FakeEntra
from tests.harness import RUNBOOK
from tests.payloads import CORE_SETTINGS, metric_alert

ROOT = Path(__file__).resolve().parents[2]
READ, RESPOND, COMMAND, WEBHOOK = access.READ, access.RESPOND, access.COMMAND, access.WEBHOOK
ALICE = "0a11ce00-0000-4000-8000-0000000000a1"
BOB = "0b0b0000-0000-4000-8000-0000000000b2"
_T0 = datetime(2026, 11, 27, 3, tzinfo=timezone.utc)


def _functions() -> dict[str, Any]:
    import function_app
    # get_functions() rejects the names it saw on an earlier call: forget them before and after
    function_app.app.functions_bindings = None
    found = {f.get_function_name(): f for f in function_app.app.get_functions()}
    function_app.app.functions_bindings = None
    return found


FUNCTIONS = _functions()
HTTP_ROUTES = {name: next(b for b in f.get_bindings() if b.type == "httpTrigger")
               for name, f in FUNCTIONS.items() if any(b.type == "httpTrigger" for b in f.get_bindings())}


@pytest.fixture
def entra():
    with FakeEntra() as fake:
        yield fake


def auth_env(entra: FakeEntra, **extra: str) -> dict[str, str]:
    return {**CORE_SETTINGS, "PAGERDUTY_ROUTING_KEYS": "{}", "AUTH_TENANT_ID": entra.tenant_id,
            "AUTH_AUDIENCE": f"{AUDIENCE}, {CLIENT_ID}", "AUTH_OPENID_CONFIG_URL": entra.config_url,
            "ALERT_WEBHOOK_AUTH": "entra", **extra}


class Api:
    """The registered functions, called with a bearer token; the store's rows counted around calls."""

    def __init__(self, store):
        self.store = store

    def call(self, name: str, *, token: str | None = None, body: Any = None, route: dict | None = None,
             headers: dict | None = None) -> tuple[int, Any, func.HttpResponse]:
        binding = HTTP_ROUTES[name]
        method = str(binding.methods[0].value if hasattr(binding.methods[0], "value") else binding.methods[0])
        hdrs = {"content-type": "application/json", **(headers or {})}
        if token is not None:
            hdrs["authorization"] = f"Bearer {token}"
        req = func.HttpRequest(method=method, url=f"http://localhost/api/{binding.route}", headers=hdrs,
                               body=b"" if body is None else json.dumps(body).encode(), route_params=route or {})
        resp = FUNCTIONS[name].get_user_function()(req)
        text = resp.get_body().decode()
        is_json = (resp.mimetype or "").endswith("json") or text[:1] in ("{", "[")
        return resp.status_code, (json.loads(text) if text and is_json else text or None), resp

    def rows(self) -> int:
        return len(self.store.scan(start="", end="~~").records)

    def refused(self, name: str, status: int, **kw: Any) -> dict[str, Any]:
        """Call, and assert the answer is `status` with a JSON error and that nothing was written."""
        before = self.rows()
        got, body, resp = self.call(name, **kw)
        assert got == status, (name, got, body)
        assert set(body) >= {"error", "message"}
        if status == 401:
            assert resp.headers.get("WWW-Authenticate", "").startswith("Bearer")
        assert self.rows() == before, f"{name} wrote rows although it answered {status}"
        return body


@pytest.fixture
def api(table_store, clock, entra):
    bootstrap.override(store=table_store, clock=clock, settings=Settings.from_env(auth_env(entra)))
    return Api(table_store)


def declare(store, clock, title: str = "Checkout failing") -> str:
    inc = commands.declare({"title": title, "severity": "SEV-3"}, "setup", store=store, clock=clock,
                           runbook=RUNBOOK, paging=bootstrap.paging())
    return inc["id"]


# ---- bad tokens: each 401 or 403, nothing written -------------------------------------------------

def rogue_signed(entra: FakeEntra) -> str:
    """Claims signed by a key the tenant never published, under the kid of one it did."""
    rogue = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(entra.claims(roles=[COMMAND]), rogue, algorithm="RS256", headers={"kid": "k1"})


BAD_TOKENS = {
    "expired": (401, lambda e: e.token(roles=[COMMAND], lifetime_s=-300)),
    "not yet valid": (401, lambda e: e.token(roles=[COMMAND], not_before_s=600)),
    "wrong audience": (401, lambda e: e.token(roles=[COMMAND], aud="api://another-api")),
    "wrong issuer": (401, lambda e: e.token(roles=[COMMAND], iss="https://sts.example.com/evil/")),
    "issuer of another tenant, tid of ours": (401, lambda e: e.token(
        roles=[COMMAND], iss=f"https://sts.windows.net/{OTHER_TENANT}/")),
    "bad signature": (401, rogue_signed),
    "unknown kid": (401, lambda e: (e.add_key("k9"), e.token(roles=[COMMAND], kid="k9"))[1]),
    "alg none": (401, lambda e: e.token(roles=[COMMAND], alg="none")),
    "HS256 keyed with the public key": (401, lambda e: e.token(roles=[COMMAND], alg="HS256")),
    "token of another tenant": (401, lambda e: e.token(roles=[COMMAND], tenant=OTHER_TENANT)),
    "tid of another tenant": (401, lambda e: e.token(roles=[COMMAND], tid=OTHER_TENANT)),
    "an ID token (no azp or appid)": (401, lambda e: e.token(roles=[COMMAND], appid=None)),
    "no oid": (401, lambda e: e.sign({k: v for k, v in e.claims(roles=[COMMAND]).items() if k != "oid"})),
    "not a JWT": (401, lambda e: "not-a-token"),
    "missing role": (403, lambda e: e.token(roles=[])),
    "wrong role (Read on a Respond route)": (403, lambda e: e.token(roles=[READ])),
    "unknown role": (403, lambda e: e.token(roles=["Incident.Admin", "Owner"])),
    "the webhook's role": (403, lambda e: e.webhook_token()),
}


@pytest.mark.parametrize("case", BAD_TOKENS)
def test_a_bad_token_is_refused_and_writes_nothing(api, entra, table_store, clock, case):
    status, make = BAD_TOKENS[case]
    inc = declare(table_store, clock)
    token = make(entra)
    body = api.refused("acknowledge_incident", status, token=token, body={"message": "mine"}, route={"id": inc})
    api.refused("declare_incident", status, token=token, body={"title": "x", "severity": "SEV-1"})
    assert token not in body["message"]
    if status == 403:
        assert RESPOND in body["message"]


def test_no_token_is_401_with_a_bearer_challenge_and_a_json_body(api):
    body = api.refused("list_incidents", 401)
    assert body["error"] == "unauthorized" and "Authorization: Bearer" in body["message"]
    _, _, resp = api.call("list_incidents")
    assert resp.headers["WWW-Authenticate"] == "Bearer"        # RFC 6750 §3.1: no error code without a token
    _, _, resp = api.call("list_incidents", token="a.b.c")
    assert resp.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    api.refused("list_incidents", 401, headers={"authorization": "Basic YWxpY2U6cHc="})


def test_v1_and_v2_tokens_of_the_tenant_are_accepted(api, entra):
    assert api.call("list_incidents", token=entra.token(roles=[READ], version="1.0"))[0] == 200
    assert api.call("list_incidents", token=entra.token(roles=[READ], version="2.0"))[0] == 200


def test_the_openid_endpoint_down_is_503_so_callers_retry(api, entra):
    entra.fail = True
    status, body, resp = api.call("post_alert", token=entra.webhook_token(), body=metric_alert("down"))
    assert status == 503 and resp.headers["Retry-After"] and body["error"] == "unavailable"
    assert api.rows() == 0
    entra.fail = False
    assert api.call("post_alert", token=entra.webhook_token(), body=metric_alert("down"))[0] == 202


# ---- signing keys: rotation, at most one refetch, no hammering ------------------------------------

def verifier_for(entra: FakeEntra, now: list[float]) -> EntraTokenVerifier:
    return EntraTokenVerifier(tenant_id=entra.tenant_id, audiences=[AUDIENCE], openid_config_url=entra.config_url,
                              monotonic=lambda: now[0])


def test_a_rotated_key_costs_one_refetch_and_is_accepted(entra):
    now = [1000.0]
    verifier = verifier_for(entra, now)
    verifier.verify(token=entra.token(roles=[READ]))
    verifier.verify(token=entra.token(roles=[READ]))
    assert entra.jwks_fetches == 1                      # cached
    entra.add_key("k2")
    entra.publish("k1", "k2")                           # Entra publishes the new key, then signs with it
    principal = verifier.verify(token=entra.token(roles=[READ], kid="k2", oid=ALICE))
    assert principal.oid == ALICE and entra.jwks_fetches == 2
    verifier.verify(token=entra.token(roles=[READ], kid="k2"))
    assert entra.jwks_fetches == 2


def test_a_flood_of_unknown_kids_refetches_at_most_once_per_cooldown(entra):
    now = [1000.0]
    verifier = verifier_for(entra, now)
    verifier.verify(token=entra.token(roles=[READ]))
    for i in range(50):
        with pytest.raises(Unauthorized, match="unknown kid"):
            verifier.verify(token=_forged_kid(entra, f"made-up-{i}"))
    assert entra.jwks_fetches == 2                      # the first fetch, and one refetch for 50 unknown kids
    now[0] += 61                                        # after the cooldown, one more
    with pytest.raises(Unauthorized):
        verifier.verify(token=_forged_kid(entra, "made-up-again"))
    assert entra.jwks_fetches == 3


def _forged_kid(entra: FakeEntra, kid: str) -> str:
    return jwt.encode(entra.claims(roles=[COMMAND]), entra.keys["k1"], algorithm="RS256", headers={"kid": kid})


def test_the_configuration_must_be_https_or_loopback():
    with pytest.raises(ValueError):
        EntraTokenVerifier(tenant_id=str(uuid.uuid4()), audiences=["a"], openid_config_url="http://login.example/x")


def test_keys_that_cannot_be_read_are_a_dependency_failure_not_a_401(entra):
    entra.fail = True
    with pytest.raises(DependencyFailed):
        verifier_for(entra, [0.0]).verify(token=entra.token(roles=[READ]))


# ---- every route x every role ---------------------------------------------------------------------

ROLE_CASES = {"Incident.Read": [READ], "Incident.Respond": [RESPOND], "Incident.Command": [COMMAND],
              "ActionGroupsSecureWebhook": [WEBHOOK], "no role": []}
SUCCESS = {"declare_incident": 201, "add_override": 201, "create_silence": 201, "post_alert": 202,
           "approve_remediation": 404}          # no remediation waits: 404 comes after the check passed


def request_for(name: str, store, clock) -> dict[str, Any]:
    """A request that succeeds on route `name` once its caller is allowed (fresh objects each time)."""
    if name in ("get_incident", "acknowledge_incident", "add_note", "set_status", "resolve_incident",
                "set_severity", "approve_remediation"):
        route = {"id": declare(store, clock), "rid": "REM-none00"}
        body = {"add_note": {"text": "checked the dashboards"}, "set_status": {"phase": "identified"},
                "set_severity": {"severity": "SEV-2", "reason": "more tenants"}}.get(name, {})
        return {"route": route, "body": body}
    if name in ("get_postmortem", "record_breach"):
        return {"route": {"id": declare(store, clock)},
                "body": {"personal_data": True} if name == "record_breach" else None}
    if name == "record_review":
        incident_id = declare(store, clock)
        commands.resolve(incident_id, {}, "setup", store=store, clock=clock, runbook=RUNBOOK,
                         paging=bootstrap.paging())
        return {"route": {"id": incident_id}, "body": {"root_cause": "a full disk"}}
    if name == "get_communication":
        return {"route": {"id": declare(store, clock), "template": "slack-initial"}}
    if name == "declare_incident":
        return {"body": {"title": "Declared by hand", "severity": "SEV-3"}}
    if name == "post_alert":
        return {"body": metric_alert(f"rt-{uuid.uuid4().hex[:8]}")}
    if name == "add_override":
        return {"body": {"role": "primary", "person": "zoe", "start": "2026-11-27T00:00:00Z",
                         "end": "2026-11-28T00:00:00Z"}}
    if name == "remove_override":
        made = oncall.add_override({"role": "primary", "person": "zoe", "start": "2026-11-27T00:00:00Z",
                                    "end": "2026-11-28T00:00:00Z"}, "setup", store=store, clock=clock)
        return {"route": {"oid": made["id"]}}
    if name == "create_silence":
        return {"body": {"match": {"alert_rule": "api-5xx"}, "end": "2026-11-27T04:00:00Z", "reason": "deploy"}}
    if name == "delete_silence":
        made = silences.create_silence({"match": {"alert_rule": "x"}, "end": "2026-11-27T04:00:00Z",
                                        "reason": "r"}, "setup", store=store, clock=clock)
        return {"route": {"sid": made["id"]}, "body": {}}
    return {}


def test_every_registered_route_is_in_the_role_table():
    missing = sorted(set(HTTP_ROUTES) - set(access.ROUTES))
    assert not missing, f"routes without a role in functions/access.ROUTES: {missing}"
    assert not sorted(set(access.ROUTES) - set(HTTP_ROUTES)), "roles for routes that no longer exist"
    for name, binding in HTTP_ROUTES.items():     # anonymous for the host exactly when public here
        assert (str(binding.auth_level).lower().endswith("anonymous")) == (access.ROUTES[name] == access.PUBLIC)


@pytest.mark.parametrize("name", sorted(HTTP_ROUTES))
def test_each_role_passes_exactly_on_its_routes(api, entra, table_store, clock, name):
    need = access.ROUTES[name]
    if need == access.PUBLIC:
        assert api.call(name)[0] in (200, 503)
        return
    api.refused(name, 401, **request_for(name, table_store, clock))
    for label, roles in ROLE_CASES.items():
        token = entra.webhook_token(roles=tuple(roles)) if roles == [WEBHOOK] else entra.token(roles=roles)
        kw = request_for(name, table_store, clock)
        allowed = any(need in access.GRANTS[r] for r in roles)
        if allowed:
            status, body, _ = api.call(name, token=token, **kw)
            assert status == SUCCESS.get(name, 200), (name, label, status, body)
        else:
            body = api.refused(name, 403, token=token, **kw)
            assert need in body["message"], (name, label, body)


def test_the_role_table_is_the_documented_hierarchy():
    assert {n for n, r in access.ROUTES.items() if r == READ} == {
        "list_incidents", "get_incident", "get_oncall", "list_silences", "get_communication", "get_postmortem",
        "get_metrics"}
    assert {n for n, r in access.ROUTES.items() if r == RESPOND} == {
        "declare_incident", "acknowledge_incident", "add_note", "set_status"}
    assert {n for n, r in access.ROUTES.items() if r == COMMAND} == {
        "resolve_incident", "set_severity", "approve_remediation", "add_override", "remove_override",
        "create_silence", "delete_silence", "record_review", "record_breach"}
    assert access.GRANTS[COMMAND] >= access.GRANTS[RESPOND] >= access.GRANTS[READ]
    assert access.GRANTS[WEBHOOK] == {WEBHOOK} and all(WEBHOOK not in access.GRANTS[r] for r in (READ, RESPOND,
                                                                                                 COMMAND))


# ---- the actor is the verified principal ----------------------------------------------------------

def test_the_timeline_names_the_verified_principal_and_ignores_a_body_actor(api, entra, table_store, clock):
    inc = declare(table_store, clock)
    token = entra.token(roles=[RESPOND], oid=ALICE, name="Alice Smith")
    status, _, _ = api.call("acknowledge_incident", token=token, body={"actor": "cto", "message": "mine"},
                            route={"id": inc})
    assert status == 200
    token = entra.token(roles=[RESPOND], version="2.0", name=None, preferred_username="bob@contoso.example", oid=BOB)
    assert api.call("add_note", token=token, body={"text": "rolled back"}, route={"id": inc})[0] == 200
    timeline = api.call("get_incident", token=entra.token(roles=[READ]), route={"id": inc})[1]["timeline"]
    actors = {e["kind"]: e["actor"] for e in timeline}
    assert actors["acknowledged"] == f"Alice Smith (oid {ALICE})"
    assert actors["note"] == f"bob@contoso.example (oid {BOB})"


@pytest.mark.parametrize("claimed", ["automation", "system", "azure-monitor", "Azure Monitor", "primary",
                                     "Engineering Lead", "Incident.Command", "incident command",
                                     "ActionGroupsSecureWebhook", f"Alice Smith (oid {ALICE})"])
def test_without_entra_a_body_may_not_claim_a_reserved_actor(table_store, clock, claimed):
    bootstrap.override(store=table_store, clock=clock,
                       settings=Settings.from_env({**CORE_SETTINGS, "PAGERDUTY_ROUTING_KEYS": "{}"}))
    api = Api(table_store)
    inc = declare(table_store, clock)
    body = api.refused("add_note", 400, body={"text": "x", "actor": claimed}, route={"id": inc})
    assert body["path"] == "$.actor"
    assert api.call("add_note", body={"text": "x", "actor": "carol"}, route={"id": inc})[0] == 200


# ---- four eyes on remediations --------------------------------------------------------------------

def waiting_remediation(store, clock, requested_by_oid: str | None = None) -> tuple[str, str]:
    inc_id = declare(store, clock)
    repo = IncidentRepository(store)
    inc, etag = repo.load(inc_id)
    rid = "REM-4e4e4e"
    inc.remediations.append(Remediation.from_doc({
        "id": rid, "playbook": "redis-reboot", "resource_id": "/x", "mode": "approval",
        "status": "awaiting-approval", "reason": "test", "created_at": iso(clock.now()),
        "approval": {"expires_at": iso(clock.now() + timedelta(minutes=30))},
        "plan": None, "execution": None, "verification": None,
        **({"requested_by_oid": requested_by_oid} if requested_by_oid else {})}))
    store.commit(ops=repo.save_ops(inc, etag, schedule_for(inc, RUNBOOK)))
    return inc_id, rid


def test_an_approval_records_the_approvers_oid(api, entra, table_store, clock):
    inc, rid = waiting_remediation(table_store, clock)
    token = entra.token(roles=[COMMAND], oid=ALICE)
    status, out, _ = api.call("approve_remediation", token=token, body={"reason": "cache wedged", "actor": "bob"},
                              route={"id": inc, "rid": rid})
    assert status == 200
    rem = next(r for r in out["remediations"] if r["id"] == rid)
    assert rem["status"] == "approved"
    assert rem["approval"]["by"] == f"Alice Smith (oid {ALICE})" and rem["approval"]["by_oid"] == ALICE
    audit = [r.data for r in table_store.scan(start="aud|", end="aud}").records]
    assert json.loads(audit[-1]["detail"])["approver_oid"] == ALICE


def test_a_principal_may_not_approve_its_own_request(api, entra, table_store, clock):
    inc, rid = waiting_remediation(table_store, clock, requested_by_oid=ALICE)
    body = api.refused("approve_remediation", 403, token=entra.token(roles=[COMMAND], oid=ALICE), body={},
                       route={"id": inc, "rid": rid})
    assert "someone else" in body["message"]
    assert api.call("approve_remediation", token=entra.token(roles=[COMMAND], oid=BOB), body={},
                    route={"id": inc, "rid": rid})[0] == 200


def test_the_four_eyes_rule_in_the_use_case():
    inc = Incident(id="INC-1", title="t", severity="SEV-2", created_at=_T0,
                   classification=Classification("SEV-2", None, None, ""))
    inc.remediations.append(Remediation.from_doc({"id": "REM-1", "playbook": "redis-reboot",
                                                  "status": "awaiting-approval", "requested_by_oid": ALICE,
                                                  "approval": {"expires_at": "2999-01-01T00:00:00Z"}}))
    with pytest.raises(Forbidden):
        remediation.decide(inc, "REM-1", {}, f"Alice (oid {ALICE})", _T0)
    remediation.decide(inc, "REM-1", {"decision": "reject"}, f"Alice (oid {ALICE})", _T0)   # she may reject it
    assert inc.remediations[0].approval.by_oid == ALICE


# ---- the secure webhook -----------------------------------------------------------------------------

def test_the_secure_webhook_needs_azure_monitors_token(api, entra):
    alert = metric_alert("sw-1")
    api.refused("post_alert", 401, body=alert)
    api.refused("post_alert", 401, body=alert, token=entra.webhook_token(aud="api://someone-else"))
    api.refused("post_alert", 401, body=alert, token=entra.webhook_token(tenant=OTHER_TENANT))
    api.refused("post_alert", 403, body=alert, token=entra.webhook_token(roles=()))
    api.refused("post_alert", 403, body=alert, token=entra.token(roles=[COMMAND]))
    status, out, _ = api.call("post_alert", body=alert, token=entra.webhook_token())
    assert status == 202 and out["outcome"] == "created"


def test_without_alert_webhook_auth_the_function_key_alone_posts_alerts(table_store, clock, entra):
    bootstrap.override(store=table_store, clock=clock, settings=Settings.from_env(auth_env(entra,
                                                                                          ALERT_WEBHOOK_AUTH="")))
    assert Api(table_store).call("post_alert", body=metric_alert("plain"))[0] == 202


def test_half_configured_auth_is_a_configuration_error_not_open(table_store, clock, entra):
    from shared.config import configuration_errors
    assert any(e.startswith("AUTH_AUDIENCE:") for e in configuration_errors({"AUTH_TENANT_ID": entra.tenant_id}))
    assert any(e.startswith("ALERT_WEBHOOK_AUTH:") for e in configuration_errors({"ALERT_WEBHOOK_AUTH": "entra"}))
    assert any(e.startswith("AUTH_TENANT_ID:") for e in configuration_errors(
        {"AUTH_TENANT_ID": "contoso.onmicrosoft.com", "AUTH_AUDIENCE": AUDIENCE}))


# ---- keys that do one job ---------------------------------------------------------------------------

def test_the_action_group_posts_with_post_alerts_own_function_key():
    bicep = (ROOT / "infra/bicep/modules/actiongroup.bicep").read_text(encoding="utf-8")
    url = next(line for line in bicep.splitlines() if line.startswith("var alertsUrl"))
    assert "/api/alerts?code=" in url
    function = re.search(r"listKeys\('\$\{site\.id\}/functions/(\w+)'", url)
    assert function, "the webhook URL must carry a function-level key (sites/functions/listkeys)"
    assert "host/default" not in url and "functionKeys" not in url     # a host key opens every route
    assert HTTP_ROUTES[function.group(1)].route == "alerts"

