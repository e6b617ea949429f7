"""Which credential talks to which ARM endpoint.

A loopback `http://` endpoint (the local fake of ARM) gets a fixed development token and plain http;
every other endpoint gets DefaultAzureCredential (managed identity in Azure) and https only.
"""
from __future__ import annotations

import ipaddress
import time
from typing import Any
from urllib.parse import urlsplit

DEV_TOKEN = "local-development-token"   # meaningful only to the loopback fake of ARM


def is_loopback_http(endpoint: str) -> bool:
    parts = urlsplit(endpoint)
    if parts.scheme.lower() != "http" or not parts.hostname:
        return False
    if parts.hostname.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


def check_endpoint(endpoint: str) -> tuple[str, bool]:
    """(endpoint without trailing slash, is a loopback http endpoint). ValueError when not allowed."""
    value = (endpoint or "").strip().rstrip("/")
    parts = urlsplit(value)
    if not parts.scheme or not parts.hostname:
        raise ValueError(f"ARM endpoint {endpoint!r} is not an absolute URL")
    if parts.path or parts.query or parts.fragment:
        raise ValueError(f"ARM endpoint {endpoint!r} must be a bare origin such as https://management.azure.com")
    if is_loopback_http(value):
        return value, True
    if parts.scheme.lower() != "https":
        raise ValueError(f"ARM endpoint {endpoint!r} must use https (plain http is allowed only on loopback)")
    return value, False


def credential_for(loopback: bool) -> Any:
    """The credential for an endpoint: StaticDevCredential for a loopback fake, else
    DefaultAzureCredential (managed identity in Azure), imported only then."""
    if loopback:
        return StaticDevCredential()
    from azure.identity import DefaultAzureCredential
    return DefaultAzureCredential()


def describe_error(resp: Any, limit: int = 300) -> str:
    """An ARM error answer in words for the timeline: "HTTP 409 Code message (x-ms-request-id ...)".
    `resp` is a requests.Response; the message is cut to `limit` characters; never a token."""
    try:
        err = resp.json().get("error") or {}
        code, message = err.get("code", ""), err.get("message", "")
    except (ValueError, AttributeError):
        code, message = "", ""
    request_id = resp.headers.get("x-ms-request-id", "")
    text = " ".join(p for p in (f"HTTP {resp.status_code}", str(code), str(message)[:limit]) if p)
    return text + (f" (x-ms-request-id {request_id})" if request_id else "")


class StaticDevCredential:
    """A TokenCredential that always answers the same token: for a loopback fake of ARM only."""

    def __init__(self, token: str = DEV_TOKEN, lifetime_s: int = 3600):
        self._token = token
        self._lifetime_s = lifetime_s

    def get_token(self, *scopes: str, **kwargs: Any):
        from azure.core.credentials import AccessToken
        return AccessToken(self._token, int(time.time()) + self._lifetime_s)

    def get_token_info(self, *scopes: str, options: Any = None):
        from azure.core.credentials import AccessTokenInfo
        return AccessTokenInfo(self._token, int(time.time()) + self._lifetime_s)

    def close(self) -> None:
        pass
