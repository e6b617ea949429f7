"""Identity-based Table Storage (TABLES_ENDPOINT + a token credential, as with a managed identity in
Azure): Azurite over https with OAuth checks that every request carries a bearer token for the
storage audience, and the app's store works through it."""
from __future__ import annotations

import base64
import json
import time
from datetime import datetime, timezone

import pytest
from azure.core.credentials import AccessToken
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from devhost.azurite import Azurite
from shared.adapters.tables.store import TableRecordStore
from shared.ports import Op

TENANT = "ab1f708d-50f6-404c-a006-d71b2ac7a606"
_SINCE, _UNTIL = 946684800, 4102444800  # 2000-01-01 .. 2100-01-01 UTC


class TestCredential:
    """Stands in for DefaultAzureCredential: a token for the scope asked, recorded."""
    __test__ = False

    def __init__(self):
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes, **kwargs) -> AccessToken:
        self.scopes.append(scopes)

        def part(d):
            return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()
        # Azurite checks the claims on its own clock, which need not be ours (--shift-clock does not
        # move it): a window that holds on any clock. expires_on is the client's, as azure-identity's is.
        claims = {"aud": "https://storage.azure.com", "iss": f"https://sts.windows.net/{TENANT}/", "iat": _SINCE,
                  "nbf": _SINCE, "exp": _UNTIL, "oid": "app-identity", "tid": TENANT}
        return AccessToken(part({"alg": "none", "typ": "JWT"}) + "." + part(claims) + ".x", int(time.time()) + 3600)


def self_signed(tmp_path) -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    import ipaddress
    # OpenSSL checks the validity on the real clock, which need not be the tests' (--shift-clock).
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(datetime.fromtimestamp(_SINCE, timezone.utc))
            .not_valid_after(datetime.fromtimestamp(_UNTIL, timezone.utc))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


@pytest.fixture
def https_azurite(tmp_path):
    cert, key = self_signed(tmp_path)
    server = Azurite(tls=(cert, key)).start()
    yield server, cert
    server.close()


def test_endpoint_and_token_credential_work_like_a_managed_identity(https_azurite):
    server, cert = https_azurite
    cred = TestCredential()
    store = TableRecordStore.from_settings(connection_string="", endpoint=f"https://127.0.0.1:{server.port}/devstoreaccount1",
                                           table_name="identity", credential=cred, connection_verify=cert)
    store.commit(ops=[Op("insert", "k1", {"v": "1"}), Op("insert", "k2", {"v": "2"})])
    assert set(store.get(keys=["k1", "k2"])) == {"k1", "k2"}
    assert cred.scopes and all(s == ("https://storage.azure.com/.default",) for s in cred.scopes)


def test_without_a_token_the_endpoint_refuses(https_azurite):
    server, cert = https_azurite
    import requests
    r = requests.get(f"https://127.0.0.1:{server.port}/devstoreaccount1/Tables", verify=cert, timeout=5)
    assert r.status_code in (401, 403)
