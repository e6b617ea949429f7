"""EntraTokenVerifier: the TokenVerifier port on Microsoft Entra ID access tokens (PyJWT).

What is checked, after Microsoft Learn, "Access tokens in the Microsoft identity platform"
(learn.microsoft.com/entra/identity-platform/access-tokens, "Validate tokens"), and the
"Access token claims reference":

- the signature, RS256 only, with the tenant's key named by the header's `kid`, from the `jwks_uri`
  of the tenant's OpenID configuration (default
  https://login.microsoftonline.com/{tenant}/v2.0/.well-known/openid-configuration). Any other
  `alg` (`none`, HS256 keyed with a public key, ...) is refused before a key is looked at;
- the issuer: this tenant's v1.0 form `https://sts.windows.net/{tid}/` or v2.0 form
  `https://login.microsoftonline.com/{tid}/v2.0` (which one depends on the registration's
  `accessTokenAcceptedVersion`, not on the client), or the configuration's own `issuer` for this
  tenant (sovereign clouds), and the `tid` claim is the tenant;
- the audience (`aud`: the app id URI in v1.0 tokens, the client id in v2.0 ones), `exp` and `nbf`
  with a small leeway for clock skew;
- that it is an access token: those name their client (`appid` in v1.0, `azp` in v2.0); ID tokens
  do not, and an ID token of the same registration would otherwise pass the audience check.

Keys: the JSON Web Key Set is cached (PyJWKClient, one hour; Learn suggests checking for new keys
about every 24 hours). A token whose `kid` is not in the cached set forces one refetch (Entra
rotates keys, and a newly published key must work at once), but at most one forced refetch per
`refresh_cooldown_s` for the whole process: a flood of tokens with made-up `kid`s costs the tenant's
endpoint one request a minute, not one per token. Token times are checked against the wall clock,
not the app's Clock port: Entra stamps real time, and the local host's --time-scale must not make
valid tokens look expired.
"""
from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import jwt
import requests

from shared.domain.errors import DependencyFailed, Unauthorized
from shared.ports import Principal

log = logging.getLogger(__name__)

DEFAULT_OPENID_CONFIG = "https://login.microsoftonline.com/{tenant}/v2.0/.well-known/openid-configuration"
ALGORITHM = "RS256"
LEEWAY_S = 60
KEYS_LIFESPAN_S = 3600
REFRESH_COOLDOWN_S = 60.0
_REQUIRED = ["exp", "nbf", "iss", "aud", "tid", "oid"]
_REFUSALS: tuple[tuple[type[Exception], str], ...] = (   # most specific first
    (jwt.ExpiredSignatureError, "the token has expired"),
    (jwt.ImmatureSignatureError, "the token is not valid yet (nbf is in the future)"),
    (jwt.InvalidAudienceError, "the token was issued for another audience"),
    (jwt.InvalidIssuerError, "the token was issued by another issuer (tenant)"),
    (jwt.InvalidSignatureError, "the token's signature does not verify"),
    (jwt.MissingRequiredClaimError, "the token lacks a required claim"),
    (jwt.DecodeError, "the bearer token is not a well-formed JWT"),
    (jwt.InvalidTokenError, "the token is not valid"),
)


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def allowed_url(url: str) -> bool:
    """https, or plain http to a loopback address (the tests' and a developer's fake tenant)."""
    scheme = urlsplit(url).scheme
    return scheme == "https" or (scheme == "http" and is_loopback(url))


class EntraTokenVerifier:
    def __init__(self, *, tenant_id: str, audiences: Sequence[str], openid_config_url: str = "",
                 leeway_s: float = LEEWAY_S, timeout_s: float = 5.0, keys_lifespan_s: float = KEYS_LIFESPAN_S,
                 refresh_cooldown_s: float = REFRESH_COOLDOWN_S, monotonic: Callable[[], float] = time.monotonic,
                 session: requests.Session | None = None):
        if not tenant_id or not audiences:
            raise ValueError("tenant_id and audiences are required")
        self.tenant_id = tenant_id.lower()
        self.audiences = list(audiences)
        self.config_url = (openid_config_url or DEFAULT_OPENID_CONFIG).replace("{tenant}", tenant_id)
        if not allowed_url(self.config_url):
            raise ValueError("the OpenID configuration URL must be https (or http on a loopback address)")
        self._issuers = {f"https://sts.windows.net/{self.tenant_id}/",
                         f"https://login.microsoftonline.com/{self.tenant_id}/v2.0"}
        self._leeway_s = leeway_s
        self._timeout_s = timeout_s
        self._keys_lifespan_s = keys_lifespan_s
        self._cooldown_s = refresh_cooldown_s
        self._monotonic = monotonic
        self._session = session
        self._lock = threading.Lock()
        self._jwks: jwt.PyJWKClient | None = None
        self._last_forced: float | None = None
        self.forced_refreshes = 0       # for health and tests: refetches an unknown kid caused

    def verify(self, *, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise Unauthorized("the bearer token is not a well-formed JWT") from None
        if header.get("alg") != ALGORITHM:
            raise Unauthorized(f"the token is signed with {str(header.get('alg'))[:20]!r}; only {ALGORITHM} is "
                               "accepted")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthorized("the token names no signing key (kid)")
        key = self._key(kid)
        try:
            claims = jwt.decode(token, key.key, algorithms=[ALGORITHM], audience=self.audiences,
                                issuer=sorted(self._issuers), leeway=self._leeway_s,
                                options={"require": _REQUIRED})
        except jwt.InvalidTokenError as e:
            raise Unauthorized(_why(e)) from None
        return self._principal(claims)

    def _principal(self, claims: dict[str, Any]) -> Principal:
        if str(claims["tid"]).lower() != self.tenant_id:
            raise Unauthorized("the token was issued for another tenant")
        client = claims.get("azp") or claims.get("appid")
        if not isinstance(client, str) or not client:
            raise Unauthorized("not an access token (it names no client: azp or appid)")
        roles = claims.get("roles") or []
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise Unauthorized("the token's roles claim is not a list of strings")
        name = claims.get("name") or claims.get("preferred_username") or claims.get("unique_name") or f"app {client}"
        return Principal(oid=str(claims["oid"]), name=str(name)[:120], roles=frozenset(roles), app_id=client)

    # ---- keys ------------------------------------------------------------------------------------

    def _key(self, kid: str) -> jwt.PyJWK:
        client = self._client()
        found = self._match(client.get_signing_keys, kid)
        if found is None and self._may_refresh():
            log.info("signing key %s is not in the cached key set: refetching it once", kid[:40])
            found = self._match(lambda: client.get_signing_keys(refresh=True), kid)
        if found is None:
            raise Unauthorized("the token's signing key is not one of the tenant's (unknown kid)")
        return found

    def _match(self, keys: Callable[[], list[jwt.PyJWK]], kid: str) -> jwt.PyJWK | None:
        try:
            return next((k for k in keys() if k.key_id == kid), None)
        except (jwt.PyJWKClientError, jwt.PyJWKSetError) as e:   # the endpoint's trouble, not the caller's
            raise DependencyFailed(f"the tenant's signing keys cannot be read ({type(e).__name__})") from None

    def _may_refresh(self) -> bool:
        with self._lock:
            now = self._monotonic()
            if self._last_forced is not None and now - self._last_forced < self._cooldown_s:
                return False
            self._last_forced = now
            self.forced_refreshes += 1
            return True

    def _client(self) -> jwt.PyJWKClient:
        with self._lock:
            if self._jwks is None:
                uri = self._jwks_uri()
                # cooldown 0: the forced refetch is rate-limited by _may_refresh (with an injectable clock)
                self._jwks = jwt.PyJWKClient(uri, cache_jwk_set=True, lifespan=self._keys_lifespan_s,
                                             timeout=self._timeout_s, cooldown_duration=0)
            return self._jwks

    def _jwks_uri(self) -> str:
        """The configuration's jwks_uri (read once; a failed read is retried on the next call)."""
        try:
            resp = (self._session or requests).get(self.config_url, timeout=self._timeout_s)
            resp.raise_for_status()
            config = resp.json()
        except (requests.RequestException, ValueError) as e:
            raise DependencyFailed(f"the tenant's OpenID configuration cannot be read ({type(e).__name__})") from None
        uri = config.get("jwks_uri") if isinstance(config, dict) else None
        if not isinstance(uri, str) or not allowed_url(uri):
            raise DependencyFailed("the tenant's OpenID configuration has no usable jwks_uri")
        issuer = config.get("issuer")
        if isinstance(issuer, str) and self.tenant_id in issuer.replace("{tenantid}", self.tenant_id).lower():
            self._issuers.add(issuer.replace("{tenantid}", self.tenant_id))   # e.g. a sovereign cloud's form
        return uri


def _why(e: jwt.InvalidTokenError) -> str:
    for kind, why in _REFUSALS:
        if isinstance(e, kind):
            if isinstance(e, jwt.MissingRequiredClaimError):
                return f"the token has no {e.claim} claim"
            return why
    return "the token is not valid"
