"""ArmAlerts: the AzureAlerts port on the Alerts Management REST API (Microsoft.AlertsManagement/alerts).

Spec: Azure/azure-rest-api-specs, specification/alertsmanagement/resource-manager/Microsoft.AlertsManagement/
AlertsManagement/stable/2019-03-01/AlertsManagement.json (api-version 2019-03-01, the stable version its
readme.md points every alerts operation to), with its examples Alerts_List.json, Alerts_GetById.json,
Operations_List.json, and preview/2019-05-05-preview/examples/Alerts_ChangeState.json for changestate:

    GET  /{scope}/providers/Microsoft.AlertsManagement/alerts?monitorCondition=&alertState=&customTimeRange=...
         scope "subscriptions/{id}"; answers {"value": [Alert], "nextLink"} (x-ms-pageable, nextLink)
    GET  /{scope}/providers/Microsoft.AlertsManagement/alerts/{alertId}
    POST /{scope}/providers/Microsoft.AlertsManagement/alerts/{alertId}/changestate?newState=New|Acknowledged|Closed
         answers the Alert with its new essentials.alertState

Plain `requests` with a bearer token, one attempt per call: the reconciliation timer runs again in two
minutes and the outbox reschedules a failed state change, so nothing here sleeps. Credentials as in
credentials.py: a loopback http endpoint gets the static development token, anything else
DefaultAzureCredential over https only; the token never leaves the endpoint's origin (nextLink included).
"""
from __future__ import annotations

import logging
import re
import threading
from datetime import datetime, timezone
from typing import Any, Iterator, Mapping
from urllib.parse import urlsplit

import requests

from shared.adapters.arm.credentials import check_endpoint, credential_for, describe_error
from shared.domain.errors import DependencyFailed
from shared.ports import AlertState, Delivery

log = logging.getLogger(__name__)

API_VERSION = "2019-03-01"
COMMON_SCHEMA_ID = "azureMonitorCommonAlertSchema"
MAX_PAGES = 50                      # a runaway nextLink chain ends here (pageCount 100: 5,000 alerts)
PAGE_SIZE = 100                     # pageCount: 1..250 (spec), 25 by default
_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
# The list answers ids at the subscription (2019-05-05-preview example) or under the target resource
# (2019-03-01 examples: /subscriptions/{s}/resourcegroups/.../providers/Microsoft.AlertsManagement/alerts/{g});
# the webhook's essentials.alertId is /subscriptions/{s}/providers/Microsoft.AlertsManagement/alerts/{g}.
_ANY_ALERT_ID = re.compile(rf"^/subscriptions/({_GUID})(?:/.+)?/providers/Microsoft\.AlertsManagement/alerts/({_GUID})$",
                           re.IGNORECASE)
_RETRY_AFTER_CAP_S = 3600.0
_DETAIL_MAX = 300


def canonical_alert_id(value: Any) -> str | None:
    """The webhook's form of an alert id (/subscriptions/{s}/providers/Microsoft.AlertsManagement/alerts/{guid}),
    from either form the Alerts Management API answers; None for anything else."""
    m = _ANY_ALERT_ID.match(value.strip()) if isinstance(value, str) else None
    return f"/subscriptions/{m[1]}/providers/Microsoft.AlertsManagement/alerts/{m[2]}" if m else None


def common_alert_payload(alert: Mapping[str, Any]) -> dict[str, Any]:
    """One Alerts Management `Alert` resource as the Common Alert Schema payload the webhook posts.

    The two shapes name the same facts differently (spec `Essentials` -> common schema `essentials`):
    monitorService -> monitoringService, targetResource -> alertTargetIDs[0], targetResourceName ->
    configurationItems[0], startDateTime -> firedDateTime, monitorConditionResolvedDateTime ->
    resolvedDateTime (only when Resolved: the spec's examples carry it on Fired alerts too),
    sourceCreatedId -> originAlertId, and the resource id -> alertId (webhook form). The rule: the spec's
    `alertRule` is "ARM id or name of the rule"; the webhook sends the rule's name, so an ARM id gives
    its last segment, else the resource's `name` (the rule's name in the spec's examples), so that an
    alert keeps one fingerprint whichever way it arrived. alertContext is empty (the list is read
    without includeContext); customProperties are passed on when present. Never raises: what is
    missing stays missing and parse_alert names it.
    """
    found = alert.get("properties")
    props: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    found = props.get("essentials")
    ess: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    resource_id = alert.get("id")
    rule = ess.get("alertRule")
    if isinstance(rule, str) and rule.lower().startswith("/subscriptions/"):
        rule = rule.rstrip("/").rsplit("/", 1)[-1]
    elif isinstance(alert.get("name"), str) and alert["name"].strip():
        rule = alert["name"]
    condition = ess.get("monitorCondition")
    essentials = {
        "alertId": canonical_alert_id(resource_id) or resource_id,
        "alertRule": rule,
        "severity": ess.get("severity"),
        "signalType": ess.get("signalType"),
        "monitorCondition": condition,
        "monitoringService": ess.get("monitorService"),
        "alertTargetIDs": [ess["targetResource"]] if ess.get("targetResource") else [],
        "configurationItems": [ess["targetResourceName"]] if ess.get("targetResourceName") else [],
        "originAlertId": ess.get("sourceCreatedId"),
        "firedDateTime": ess.get("startDateTime"),
        "resolvedDateTime": ess.get("monitorConditionResolvedDateTime")
        if isinstance(condition, str) and condition.lower() == "resolved" else None,
        "description": ess.get("description"),
        "essentialsVersion": "1.0",
        "alertContextVersion": "1.0",
    }
    data: dict[str, Any] = {"essentials": {k: v for k, v in essentials.items() if v is not None}, "alertContext": {}}
    if isinstance(props.get("customProperties"), Mapping):
        data["customProperties"] = dict(props["customProperties"])
    return {"schemaId": COMMON_SCHEMA_ID, "data": data}


class NoToken(Exception):
    """No ARM token (managed identity unavailable, sign-in refused): the call was not made."""


def _iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or {"https": 443, "http": 80}.get(scheme)


class ArmAlerts:
    """AzureAlerts on Azure Resource Manager (or a loopback fake of it).

    endpoint: ARM origin (AZURE_ARM_ENDPOINT). timeout_s: per request. page_size: pageCount.
    Raises ValueError for a non-https, non-loopback endpoint.
    """

    def __init__(self, *, endpoint: str, credential: Any = None, session: requests.Session | None = None,
                 timeout_s: float = 10.0, page_size: int = PAGE_SIZE):
        self._endpoint, self._loopback = check_endpoint(endpoint)
        self._credential = credential
        self._session = session
        self._timeout_s = timeout_s
        self._page_size = max(1, min(int(page_size), 250))
        self._lock = threading.Lock()

    # ---- plumbing ----------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        with self._lock:
            self._credential = self._credential or credential_for(self._loopback)
            self._session = self._session or requests.Session()
        from azure.core.exceptions import AzureError   # azure-identity's errors (CredentialUnavailableError, ...)
        try:
            token = self._credential.get_token(self._endpoint + "/.default").token
        except AzureError as e:
            raise NoToken(f"no ARM token: {type(e).__name__}") from e
        return {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    def _call(self, method: str, url: str, params: Mapping[str, str] | None = None) -> requests.Response:
        if _origin(url) != _origin(self._endpoint):   # the bearer token goes to ARM and nowhere else
            raise ValueError(f"refusing to send the ARM token to {_origin(url)[1]} (not {self._endpoint})")
        headers = self._headers()
        assert self._session is not None  # _headers() made it
        return self._session.request(method, url, params=params, headers=headers, timeout=self._timeout_s)

    @staticmethod
    def _retry_after(resp: requests.Response) -> float | None:
        try:
            return min(float(resp.headers["Retry-After"]), _RETRY_AFTER_CAP_S)
        except (KeyError, ValueError):
            return None

    # ---- reads -------------------------------------------------------------------------------

    def fired(self, *, subscription_id: str, since: datetime, until: datetime) -> Iterator[dict[str, Any]]:
        """Fired, New alerts started in [since, until], newest first; every page (nextLink) followed
        lazily. customTimeRange "<start>/<end>" (ISO-8601, within 30 days; not together with timeRange)."""
        if not re.fullmatch(_GUID, subscription_id or ""):
            raise ValueError(f"not a subscription id: {subscription_id!r}")
        url: str | None = f"{self._endpoint}/subscriptions/{subscription_id}/providers/Microsoft.AlertsManagement/alerts"
        params: dict[str, str] | None = {
            "api-version": API_VERSION, "monitorCondition": "Fired", "alertState": "New",
            "customTimeRange": f"{_iso(since)}/{_iso(until)}", "sortBy": "startDateTime", "sortOrder": "desc",
            "pageCount": str(self._page_size)}
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            if url is None:
                return
            try:
                resp = self._call("GET", url, params)
            except (requests.RequestException, ValueError, NoToken) as e:
                raise DependencyFailed(f"Alerts Management list of subscription {subscription_id}: "
                                       f"{type(e).__name__}: {str(e)[:_DETAIL_MAX]}") from e
            if resp.status_code != 200:
                raise DependencyFailed(f"Alerts Management list of subscription {subscription_id}: "
                                       f"{describe_error(resp, _DETAIL_MAX)}")
            try:
                body = resp.json()
            except ValueError as e:
                raise DependencyFailed(f"Alerts Management list of subscription {subscription_id}: "
                                       "the answer is not JSON") from e
            body = body if isinstance(body, dict) else {}
            found = body.get("value")
            items: list[Any] = found if isinstance(found, list) else []
            for item in items:
                if isinstance(item, Mapping):
                    yield common_alert_payload(item)
            # nextLink is followed as given: ARM writes the api-version and the filters into it
            nxt = body.get("nextLink")
            url, params = (nxt, None) if isinstance(nxt, str) and nxt and nxt not in seen else (None, None)
            seen.add(nxt or "")
        log.warning("Alerts Management list of subscription %s: stopped after %d pages", subscription_id, MAX_PAGES)

    # ---- writes ------------------------------------------------------------------------------

    def change_state(self, *, alert_id: str, new_state: AlertState) -> Delivery:
        """POST .../changestate?newState=. "Acknowledged" reads the alert first and leaves an alert that
        is already Acknowledged or Closed as it is: an acknowledgment delivered late (after retries)
        never reopens an alert that the resolve already closed."""
        canonical = canonical_alert_id(alert_id)
        if canonical is None or new_state not in ("New", "Acknowledged", "Closed"):
            return Delivery(ok=False, attempts=0, status=400, detail="not an Azure Monitor alert id or state")
        history: list[str] = []
        try:
            if new_state == "Acknowledged":
                resp = self._call("GET", self._endpoint + canonical, {"api-version": API_VERSION})
                history.append(str(resp.status_code))
                if resp.status_code != 200:
                    return self._failed(resp, history)
                state = self._state(resp)
                if state in ("Acknowledged", "Closed"):
                    return Delivery(ok=True, attempts=len(history), status=200, detail=f"already {state}",
                                    history=tuple(history))
            resp = self._call("POST", f"{self._endpoint}{canonical}/changestate",
                              {"api-version": API_VERSION, "newState": new_state})
            history.append(str(resp.status_code))
        except (requests.RequestException, ValueError, NoToken) as e:   # no answer: worth another try
            history.append(type(e).__name__)
            return Delivery(ok=False, attempts=len(history), status=None, history=tuple(history),
                            detail=f"{type(e).__name__}: {str(e)[:_DETAIL_MAX]}")
        if resp.status_code != 200:
            return self._failed(resp, history)
        return Delivery(ok=True, attempts=len(history), status=200, detail=f"now {self._state(resp) or new_state}",
                        history=tuple(history))

    def _failed(self, resp: requests.Response, history: list[str]) -> Delivery:
        return Delivery(ok=False, attempts=len(history), status=resp.status_code,
                        detail=describe_error(resp, _DETAIL_MAX), history=tuple(history),
                        retry_after=self._retry_after(resp))

    @staticmethod
    def _state(resp: requests.Response) -> str | None:
        try:
            state = resp.json()["properties"]["essentials"]["alertState"]
        except (ValueError, KeyError, TypeError):
            return None
        return state if isinstance(state, str) else None
