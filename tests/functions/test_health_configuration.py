"""GET health names a broken setting (never its value) and answers 503, as every other route does."""
from __future__ import annotations

from shared import bootstrap
from tests.functions.conftest import App
from tests.payloads import CORE_SETTINGS, metric_alert

SECRET_URI = "https://kv-prod.vault.azure.net/secrets/pd-keys/0123456789abcdef"


def test_an_unresolved_key_vault_reference_is_named_by_health_and_alerts_are_retried(monkeypatch, table_store,
                                                                                     clock):
    for k, v in CORE_SETTINGS.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("PAGERDUTY_ROUTING_KEYS", f"@Microsoft.KeyVault(SecretUri={SECRET_URI})")
    bootstrap.override(store=table_store, clock=clock)
    app = App()
    status, body = app.call("get_health", method="GET")
    assert status == 503 and body["status"] == "misconfigured"
    assert any(e.startswith("PAGERDUTY_ROUTING_KEYS") for e in body["configuration_errors"])
    assert "kv-prod" not in str(body) and SECRET_URI not in str(body)
    status, body = app.call("post_alert", body=metric_alert("a1"))
    assert status == 503 and body["error"] == "configuration_error" and "kv-prod" not in str(body)
    assert table_store.scan(start="", end="~").records == []       # nothing written: Azure Monitor retries


def test_a_healthy_configuration_has_no_errors(monkeypatch, table_store, clock):
    for k, v in CORE_SETTINGS.items():
        monkeypatch.setenv(k, v)
    bootstrap.override(store=table_store, clock=clock)
    status, body = App().call("get_health", method="GET")
    assert body.get("configuration_errors", []) == [] and body["status"] != "misconfigured"
