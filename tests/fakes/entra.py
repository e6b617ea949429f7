"""FakeEntra: a loopback stand-in for one Microsoft Entra ID tenant's token-validation endpoints,
and a mint of real RS256 access tokens signed by keys generated here with `cryptography`.

It serves what a resource server reads, in the real shapes:
`GET /{tenant}/v2.0/.well-known/openid-configuration` (issuer, jwks_uri, ...) and
`GET /{tenant}/discovery/v2.0/keys` (a JWK Set of the published keys: kty, use, kid, n, e). Keys
are generated with `add_key`, and only those passed to `publish` appear in the key set, so a key
rotation is `add_key("k2"); publish("k1", "k2")`. Every request is counted per path.

    with FakeEntra() as entra:
        verifier = EntraTokenVerifier(tenant_id=entra.tenant_id, audiences=[AUDIENCE],
                                      openid_config_url=entra.config_url)
        verifier.verify(token=entra.token(roles=["Incident.Read"]))

`token()` builds the claims of a v1.0 or v2.0 access token (iss, tid, aud, oid, appid/azp, roles,
iat, nbf, exp, name/preferred_username) with every claim overridable and any removable (None).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

TENANT = "72f988bf-0000-4000-8000-00000000c0de"
OTHER_TENANT = "0ddba11d-0000-4000-8000-0000000000ff"
AUDIENCE = "api://7d0c0ffe-0000-4000-8000-000000000a99"
CLIENT_ID = "7d0c0ffe-0000-4000-8000-000000000a99"
AZURE_CLI = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"          # the Azure CLI's public client id
AZNS_WEBHOOK = "461e8683-5575-4561-ac7f-899cc907d62a"       # "AzNS AAD Webhook" (Learn, Action groups)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64_int(n: int) -> str:
    return _b64(n.to_bytes((n.bit_length() + 7) // 8, "big"))


class FakeEntra:
    def __init__(self, tenant_id: str = TENANT):
        self.tenant_id = tenant_id
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.published: list[str] = []
        self.requests: Counter[str] = Counter()
        self.fail = False                           # answer 503 to everything (the endpoint is down)
        self.add_key("k1")
        self.publish("k1")
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake.requests[self.path] += 1
                body = fake._answer(self.path)
                status = 503 if fake.fail else (200 if body is not None else 404)
                data = json.dumps(body if status == 200 else {"error": "unavailable" if fake.fail else
                                                                "not_found"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.config_url = f"{self.base}/{tenant_id}/v2.0/.well-known/openid-configuration"
        self.jwks_path = f"/{tenant_id}/discovery/v2.0/keys"
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    def __enter__(self) -> "FakeEntra":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ---- the tenant's endpoints -------------------------------------------------------------------

    def _answer(self, path: str) -> dict[str, Any] | None:
        if path == f"/{self.tenant_id}/v2.0/.well-known/openid-configuration":
            login = f"https://login.microsoftonline.com/{self.tenant_id}"
            return {"issuer": f"{login}/v2.0", "jwks_uri": self.base + self.jwks_path,
                    "token_endpoint": f"{login}/oauth2/v2.0/token",
                    "authorization_endpoint": f"{login}/oauth2/v2.0/authorize",
                    "id_token_signing_alg_values_supported": ["RS256"], "response_types_supported": ["code"],
                    "subject_types_supported": ["pairwise"], "tenant_region_scope": "EU"}
        if path == self.jwks_path:
            return {"keys": [self.jwk(kid) for kid in self.published]}
        return None

    @property
    def jwks_fetches(self) -> int:
        return self.requests[self.jwks_path]

    def add_key(self, kid: str) -> None:
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def publish(self, *kids: str) -> None:
        self.published = list(kids)

    def jwk(self, kid: str) -> dict[str, Any]:
        numbers = self.keys[kid].public_key().public_numbers()
        return {"kty": "RSA", "use": "sig", "kid": kid, "x5t": kid, "n": _b64_int(numbers.n),
                "e": _b64_int(numbers.e), "issuer": f"https://login.microsoftonline.com/{self.tenant_id}/v2.0"}

    def public_pem(self, kid: str = "k1") -> bytes:
        return self.keys[kid].public_key().public_bytes(serialization.Encoding.PEM,
                                                        serialization.PublicFormat.SubjectPublicKeyInfo)

    # ---- tokens -----------------------------------------------------------------------------------

    def claims(self, *, roles: list[str] | tuple[str, ...] = (), version: str = "1.0", tenant: str | None = None,
               oid: str | None = None, name: str = "Alice Smith", client: str = AZURE_CLI,
               lifetime_s: int = 3600, not_before_s: int = 0, **overrides: Any) -> dict[str, Any]:
        """The claims of an access token for AUDIENCE; `overrides` replace claims, None removes one."""
        tid = tenant or self.tenant_id
        now = int(time.time())
        claims: dict[str, Any] = {
            "aud": AUDIENCE if version == "1.0" else CLIENT_ID,
            "iss": f"https://sts.windows.net/{tid}/" if version == "1.0" else
                   f"https://login.microsoftonline.com/{tid}/v2.0",
            "iat": now, "nbf": now + not_before_s, "exp": now + lifetime_s,
            "tid": tid, "oid": oid or str(uuid.uuid4()), "sub": uuid.uuid4().hex, "ver": version,
            ("appid" if version == "1.0" else "azp"): client,
            ("unique_name" if version == "1.0" else "preferred_username"): "alice@contoso.example",
            "name": name, "roles": list(roles), "uti": uuid.uuid4().hex,
        }
        if version == "1.0":
            claims["scp"] = "user_impersonation"
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def sign(self, claims: dict[str, Any], *, kid: str = "k1", alg: str = "RS256") -> str:
        """A JWT of `claims`; alg "none" is unsigned and "HS256" is keyed with the public key (the
        algorithm-confusion attack: PyJWT refuses to build that one, so it is built by hand)."""
        header = {"typ": "JWT", "alg": alg, "kid": kid}
        if alg == "RS256":
            return jwt.encode(claims, self.keys[kid], algorithm="RS256", headers={"kid": kid})
        signing_input = (_b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())).encode()
        if alg == "none":
            return signing_input.decode() + "."
        if alg == "HS256":
            mac = hmac.new(self.public_pem(kid), signing_input, hashlib.sha256).digest()
            return signing_input.decode() + "." + _b64(mac)
        raise ValueError(alg)

    def token(self, *, kid: str = "k1", alg: str = "RS256", **claims: Any) -> str:
        return self.sign(self.claims(**claims), kid=kid, alg=alg)

    def webhook_token(self, *, roles: tuple[str, ...] = ("ActionGroupsSecureWebhook",), **claims: Any) -> str:
        """What Azure Monitor's "AzNS AAD Webhook" service principal sends: an app-only token, no name."""
        base = self.claims(roles=roles, client=AZNS_WEBHOOK, name=None, unique_name=None, scp=None,
                           oid=claims.pop("oid", "5f1ab0e4-0000-4000-8000-00000000a2a5"), **claims)
        base["idtyp"] = "app"
        return self.sign(base)
