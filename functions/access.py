"""Who may call which route: the route -> app role table, and the check every HTTP trigger makes.

The function keys stay the outer gate (the Functions host checks them before any code runs). When
Entra ID is configured (AUTH_TENANT_ID and AUTH_AUDIENCE), every operator route also needs a bearer
token of the tenant carrying one of this app registration's app roles (Microsoft Learn, "Add app
roles to your application and receive them in the token": Entra emits a `roles` claim with each
role the user, group or service principal was assigned). The roles nest: a commander can respond,
a responder can read. POST alerts takes Azure Monitor's secure-webhook token instead, when
ALERT_WEBHOOK_AUTH=entra: the "AzNS AAD Webhook" service principal holds the app role
ActionGroupsSecureWebhook (Learn, "Action groups", Secure webhook). That role opens nothing else,
and no operator role opens POST alerts.
"""
from __future__ import annotations

import logging
import re

import azure.functions as func

from shared import bootstrap as b
from shared.domain.errors import Forbidden, PolicyError, Unauthorized
from shared.domain.incident import AUTOMATION
from shared.domain.roster import ROLES as ONCALL_ROLES
from shared.ports import Principal

log = logging.getLogger(__name__)

READ, RESPOND, COMMAND = "Incident.Read", "Incident.Respond", "Incident.Command"
WEBHOOK = "ActionGroupsSecureWebhook"
PUBLIC = "anonymous"
GRANTS = {READ: {READ}, RESPOND: {READ, RESPOND}, COMMAND: {READ, RESPOND, COMMAND}, WEBHOOK: {WEBHOOK}}

# Function name (function_app.app's registry) -> what its caller needs. A route missing here needs
# Incident.Command; tests/integration/test_entra_auth.py fails for every registered route not listed.
ROUTES: dict[str, str] = {
    "post_alert": WEBHOOK,               # POST alerts (checked only when ALERT_WEBHOOK_AUTH=entra)
    "get_health": PUBLIC,                # GET health
    "get_status": PUBLIC,                # GET status (the public status page: published text only)
    "get_status_html": PUBLIC,           # GET status.html
    "get_status_atom": PUBLIC,           # GET status.atom
    "list_incidents": READ,              # GET incidents
    "get_incident": READ,                # GET incidents/{id}
    "get_communication": READ,           # GET incidents/{id}/communications/{template}
    "get_postmortem": READ,              # GET incidents/{id}/postmortem
    "get_oncall": READ,                  # GET oncall
    "list_silences": READ,               # GET silences
    "get_metrics": READ,                 # GET metrics
    "declare_incident": RESPOND,         # POST incidents
    "acknowledge_incident": RESPOND,     # POST incidents/{id}/acknowledge
    "add_note": RESPOND,                 # POST incidents/{id}/notes
    "set_status": RESPOND,               # POST incidents/{id}/status
    "resolve_incident": COMMAND,         # POST incidents/{id}/resolve
    "set_severity": COMMAND,             # POST incidents/{id}/severity
    "approve_remediation": COMMAND,      # POST incidents/{id}/remediations/{rid}/approve (approve or reject)
    "add_override": COMMAND,             # POST oncall/overrides
    "remove_override": COMMAND,          # DELETE oncall/overrides/{oid}
    "create_silence": COMMAND,           # POST silences
    "delete_silence": COMMAND,           # DELETE silences/{sid}
    "record_review": COMMAND,            # POST incidents/{id}/pir (the review's record)
    "record_breach": COMMAND,            # POST incidents/{id}/breach (GDPR Article 33)
}

# Names the app itself writes on the timeline, the on-call roles and the app roles: a body may never
# claim them (compared without case, spaces or punctuation: "Azure Monitor" is "azure-monitor").
RESERVED_ACTORS = frozenset({AUTOMATION, "system", "azure-monitor", *ONCALL_ROLES, READ, RESPOND, COMMAND, WEBHOOK})
_FOLD = re.compile(r"[^0-9a-z]+")


def folded(name: str) -> str:
    return _FOLD.sub("", name.casefold())


_RESERVED = frozenset(folded(n) for n in RESERVED_ACTORS)


def is_reserved(name: str) -> bool:
    """A reserved name, or one shaped like a verified principal's ("Name (oid ...)")."""
    return folded(name) in _RESERVED or "(oid " in name.casefold()


def check(req: func.HttpRequest, op: str | None) -> Principal | None:
    """The verified caller of route `op`, or None when no token is needed (a public route, Entra ID
    not configured, or POST alerts without ALERT_WEBHOOK_AUTH=entra). Raises Unauthorized (no or bad
    token), Forbidden (valid token without the role), PolicyError (a broken setting)."""
    need = ROUTES.get(op or "", COMMAND)
    if need == PUBLIC or (need == WEBHOOK and b.settings().alert_webhook_auth != "entra"):
        return None
    verifier = b.authorizer()
    if verifier is None:
        if need == WEBHOOK:   # Settings refuse this combination; fail closed all the same
            raise PolicyError("ALERT_WEBHOOK_AUTH: entra needs AUTH_TENANT_ID and AUTH_AUDIENCE")
        return None
    try:
        principal = verifier.verify(token=bearer(req))
    except Unauthorized as e:
        log.warning("refused %s: 401 %s", op, e)
        raise
    if not any(need in GRANTS.get(role, ()) for role in principal.roles):
        log.warning("refused %s: 403 %s (oid %s) lacks the app role %s", op, principal.name, principal.oid, need)
        held = ", ".join(sorted(r for r in principal.roles if r in GRANTS)) or "none of this app's roles"
        raise Forbidden(f"this route needs the app role {need} (or one that includes it); the caller has {held}")
    log.info("%s by %s (oid %s)", op, principal.name, principal.oid)
    return principal


def bearer(req: func.HttpRequest) -> str:
    scheme, _, token = (req.headers.get("authorization") or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("no bearer token: this API needs an Entra ID access token (Authorization: Bearer ...)",
                           invalid_token=False)
    return token.strip()
