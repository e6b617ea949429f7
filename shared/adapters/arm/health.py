"""Resource Health of one resource: GET {resource}/providers/Microsoft.ResourceHealth/
availabilityStatuses/current (AvailabilityStatuses_GetByResource, api-version 2022-10-01 in
azure-rest-api-specs specification/resourcehealth). No SDK of its own: the request goes through an
existing management client's pipeline (its credential, retry policy, https rule), so nothing is
added to requirements.txt.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.adapters.arm.sdk import describe

API_VERSION = "2022-10-01"


def current(client: Any, resource_id: str, **opts: Any) -> dict[str, Any]:
    """{"state", "summary", "reported_at"} of the resource, or {"state": None, "error": ...} when
    Resource Health cannot be read. Never raises: a health read is evidence, not a gate."""
    from azure.core.exceptions import AzureError
    from azure.core.rest import HttpRequest
    request = HttpRequest("GET", f"{resource_id.rstrip('/')}/providers/Microsoft.ResourceHealth/"
                                 "availabilityStatuses/current", params={"api-version": API_VERSION})
    # the generated clients' "send a raw request through this client's policies" entry point
    send = getattr(client, "send_request", None) or client._send_request
    try:
        response = send(request, **opts)
        if response.status_code != 200:
            body = _json(response)
            code = (body.get("error") or {}).get("code", "") if isinstance(body, dict) else ""
            return {"state": None, "error": f"HTTP {response.status_code} {code}".strip()}
        props = (_json(response) or {}).get("properties") or {}
    except AzureError as e:
        return {"state": None, "error": describe(e)}
    return {"state": props.get("availabilityState"), "summary": props.get("summary"),
            "reported_at": _time(props.get("reportedTime"))}


def _json(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
