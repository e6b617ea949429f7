"""Issue 8.5: alerts and commands lost to the wrong status code, through the registered functions on
Azurite. Azure Monitor retries 408, 429, 503 and 504 only: a 500 loses the alert, and a 503 for a
request that can never succeed is retried for nothing.

- a broken setting (an unresolved Key Vault reference) or runbook is a 503 configuration_error
  naming the setting, never its value;
- what is the payload's fault is a 400 naming the JSON path, decided before anything is written;
- what can never be stored (a 70,000-character resource id, the 101st active silence) is a 4xx that
  says why, never a 503 from Table Storage.
"""
from __future__ import annotations

import json

import pytest

from shared import bootstrap
from tests.payloads import API_ID, CORE_SETTINGS, metric_alert

VAULT = "@Microsoft.KeyVault(SecretUri=https://kv-procgenie.vault.azure.net/secrets/pd-keys/)"


def rows(store) -> int:
    return len(store.scan(start="", end="~").records)


def raw_alert(**essentials) -> bytes:
    """A metric alert as ASCII JSON, so that a lone surrogate arrives as a valid `\\ud800` escape."""
    body = metric_alert("hostile")
    body["data"]["essentials"].update(essentials)
    return json.dumps(body).encode()


# ---- 1. broken configuration: 503 with Retry-After, the setting named, its value never shown ----------

@pytest.mark.parametrize("name,value", [("PAGERDUTY_ROUTING_KEYS", VAULT), ("REMEDIATION_MODE", VAULT),
                                        ("TABLES_CONNECTION_STRING", VAULT), ("SLACK_WEBHOOK_URL", VAULT),
                                        ("REMEDIATION_MODE", "yolo-secret-mode")])
def test_a_broken_setting_is_503_naming_it_never_its_value(table_store, clock, monkeypatch, name, value):
    from tests.functions.conftest import App
    for key, v in {**CORE_SETTINGS, name: value}.items():
        monkeypatch.setenv(key, v)
    bootstrap.override(store=table_store, clock=clock)  # settings come from the environment, as on Azure
    app = App()
    req_status, out = app.call("post_alert", body=metric_alert("a1"))
    assert req_status == 503 and out["error"] == "configuration_error"
    assert name in out["message"] and value not in out["message"] and "vault.azure.net" not in out["message"]
    assert rows(table_store) == 0
    resp = app.functions["post_alert"](_request(metric_alert("a2")))
    assert resp.headers.get("Retry-After")


def test_an_unreadable_runbook_is_503_configuration_error(app, table_store, settings):
    from dataclasses import replace
    bootstrap.override(settings=replace(settings, runbook_file="/nonexistent/runbook.toml"))
    status, out = app.call("post_alert", body=metric_alert("a1"))
    assert status == 503 and out["error"] == "configuration_error" and "runbook" in out["message"]
    assert rows(table_store) == 0


def _request(body):
    import azure.functions as func
    return func.HttpRequest(method="POST", url="http://localhost/api/alerts", body=json.dumps(body).encode(),
                            headers={"content-type": "application/json"})


# ---- 2. the payload's fault: 400 naming the path, nothing written ------------------------------------

DEEP = b'{"schemaId": "azureMonitorCommonAlertSchema", "data": ' + b"[" * 1000 + b"]" * 1000 + b"}"


@pytest.mark.parametrize("raw,path,words", [
    (DEEP, "$", "nested deeper than 64 levels"),
    (raw_alert(description=[[[[1]]]]).replace(b"[[[[1]]]]", b"[" * 100 + b"1" + b"]" * 100),
     "$.data.essentials.description" + "[0]" * 61, "nested deeper than 64 levels"),
    (raw_alert(severity="SEV").replace(b'"SEV"', b"9" * 4301), "$.data.essentials.severity", "4301 digits"),
    (raw_alert(alertId="acme\ud800"), "$.data.essentials.alertId", "lone surrogate"),
    (raw_alert(alertRule="\udfffapi"), "$.data.essentials.alertRule", "lone surrogate"),
    (raw_alert(description="x").replace(b'"x"', b"NaN"), "$.data.essentials.description", "NaN"),
    (raw_alert(description="x").replace(b'"x"', b"-Infinity"), "$.data.essentials.description", "Infinity"),
    (raw_alert(description="x").replace(b'"x"', b"1e999"), "$.data.essentials.description", "finite"),
    (json.dumps({"schemaId": "azureMonitorCommonAlertSchema", "data": {"k\ud800": 1}}).encode(),
     '$.data["k\\ud800"]', "lone surrogate"),
])
def test_a_hostile_alert_is_400_naming_the_path_and_writes_nothing(app, table_store, raw, path, words):
    status, out = app.call("post_alert", raw=raw)
    assert status == 400 and out["path"] == path and words in out["message"], out
    assert rows(table_store) == 0


def test_a_rejected_declare_or_silence_writes_nothing_so_a_retry_makes_no_duplicate(app, table_store):
    before = rows(table_store)
    for name, body in [("declare_incident", {"title": "Checkout \ud800 failing", "severity": "SEV-2"}),
                       ("create_silence", {"match": {"alert_rule": "api-5xx"}, "end": "2026-11-28T00:00:00Z",
                                           "reason": "deploy \udfff"}),
                       ("create_silence", {"match": {"alert_rule": "api-5xx"}, "end": "2026-11-28T00:00:00Z",
                                           "reason": "deploy", "actor": "ops\ud800"}),
                       ("add_override", {"role": "primary", "person": "zoe\ud800", "start": "2026-11-27T00:00:00Z",
                                         "end": "2026-11-28T00:00:00Z"})]:
        status, out = app.call(name, body=body)
        assert status == 400 and "lone surrogate" in out["message"], (name, out)
    assert rows(table_store) == before
    assert app.call("list_incidents", method="GET")[1]["incidents"] == []
    assert app.call("list_silences", method="GET")[1]["silences"] == []
    assert app.call("get_oncall", method="GET")[0] == 200


@pytest.mark.parametrize("name,base", [
    ("create_silence", {"match": {"alert_rule": "api-5xx"}, "start": "2026-11-27T03:00:00Z",
                        "end": "2026-11-28T00:00:00Z", "reason": "deploy"}),
    ("add_override", {"role": "primary", "person": "zoe", "start": "2026-11-27T00:00:00Z",
                      "end": "2026-11-28T00:00:00Z"}),
])
@pytest.mark.parametrize("field", ["start", "end"])
@pytest.mark.parametrize("blank", ["", "   "])
def test_a_blank_start_or_end_is_400_naming_it(app, table_store, name, base, field, blank):
    status, out = app.call(name, body={**base, field: blank})
    assert status == 400 and out["path"] == f"$.{field}", out
    assert rows(table_store) == 0


def test_odd_digits_and_tokens_in_query_parameters_are_400(app):
    inc = app.call("post_alert", body=metric_alert("a1"))[1]["incident_id"]
    status, out = app.call("get_incident", method="GET", route={"id": inc}, params={"timeline_continuation": "²"})
    assert status == 400 and out["path"] == "timeline_continuation"
    for token in ("inc|x" * 20_000, "inc|' or PartitionKey ne '", "inc|²"):
        status, out = app.call("list_incidents", method="GET", params={"continuation": token})
        assert status == 400 and out["path"] == "continuation"


# ---- 3. what can never be stored: a 4xx that says why, decided before the write -----------------------

def test_a_70000_character_target_id_is_400_before_the_write_not_503_forever(app, table_store):
    huge = API_ID + "/" + "x" * 70_000
    for _ in range(2):  # every redelivery gets the same answer, and nothing is written
        status, out = app.call("post_alert", body=metric_alert("a1", target=huge))
        assert status == 400 and out["path"] == "$.data.essentials.alertTargetIDs[0]"
        assert "4096 bytes" in out["message"]
    assert rows(table_store) == 0


def test_an_alert_id_or_rule_over_1024_characters_is_400(app, table_store):
    assert app.call("post_alert", raw=raw_alert(alertId="a" * 1025))[1]["path"] == "$.data.essentials.alertId"
    assert app.call("post_alert", raw=raw_alert(alertRule="r" * 1025))[1]["path"] == "$.data.essentials.alertRule"
    assert rows(table_store) == 0


def test_long_descriptive_text_is_cut_and_the_alert_is_accepted(app):
    body = metric_alert("a1", custom={"category": "é" * 20_000, "note": "\U0001F600" * 10_000})
    body["data"]["essentials"]["description"] = "d" * 200_000
    body["data"]["essentials"]["monitoringService"] = "S" * 50_000
    status, out = app.call("post_alert", body=body)
    assert status == 202 and out["outcome"] == "created"


@pytest.mark.parametrize("name,body", [
    ("create_silence", lambda i: {"match": {"alert_rule": f"rule-{i}"}, "end": "2099-01-01T00:00:00Z",
                                  "reason": "long maintenance " * 30}),
    ("add_override", lambda i: {"role": "primary", "person": f"person-{i}", "start": "2026-11-27T00:00:00Z",
                                "end": "2099-01-01T00:00:00Z", "reason": "cover " * 300}),
])
def test_far_off_silences_and_overrides_never_fill_the_index_row(app, name, body):
    """The old index row held about 68 silences or 57 overrides before Table Storage refused it (503 on
    every create after that). Now at most 100 are active, the next create is a 409 that says what to do,
    and everything created is listed."""
    answers = [app.call(name, body=body(i)) for i in range(110)]
    assert [s for s, _ in answers] == [201] * 100 + [409] * 10
    assert "at most 100" in answers[-1][1]["message"] and "end one first" in answers[-1][1]["message"]
    if name == "create_silence":
        listed = app.call("list_silences", method="GET")[1]["silences"]
        assert len(listed) == 100 and all(s["reason"].startswith("long maintenance") for s in listed)
        assert app.call("delete_silence", method="DELETE", route={"sid": listed[0]["id"]})[0] == 200
    else:
        oncall = app.call("get_oncall", method="GET")[1]["oncall"]
        assert next(o for o in oncall if o["role"] == "primary")["source"] == "override"
        assert app.call("remove_override", method="DELETE", route={"oid": answers[0][1]["id"]})[0] == 200
    assert app.call(name, body=body(999))[0] == 201  # one ended, one more fits
