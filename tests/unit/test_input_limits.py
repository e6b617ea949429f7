"""The limits that keep every request a 2xx, a 4xx that says why, or a 503 worth retrying (issue 8.5):
configuration_errors, the JSON body checks of functions/http.py, the alert parser's bounds, and the
list rows that can never outgrow a Table Storage entity."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import azure.functions as func
import pytest

from functions import http
from shared.adapters.clock import FixedClock
from shared.adapters.memory import InMemoryRecordStore
from shared.config import SETTINGS, Settings, configuration_errors
from shared.domain.alert_values import MAX_ARM_ID
from shared.domain.alerts import parse_alert
from shared.domain.errors import Conflict, InvalidInput, PolicyError
from shared.services import oncall, silences
from shared.storage import listrow
from tests.payloads import metric_alert

VAULT = "@Microsoft.KeyVault(SecretUri=https://kv-x.vault.azure.net/secrets/s3cr3t/)"


# ---- configuration_errors ---------------------------------------------------------------------------

def test_defaults_have_no_configuration_errors():
    assert configuration_errors({}) == []
    Settings.from_env({})


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_an_unresolved_key_vault_reference_is_named_in_any_setting(name):
    errors = configuration_errors({name: VAULT})
    assert len(errors) == 1 and errors[0].startswith(f"{name}: unresolved Key Vault reference")
    assert "s3cr3t" not in errors[0] and "vault.azure.net" not in errors[0]
    with pytest.raises(PolicyError, match=name):
        Settings.from_env({name: VAULT})


def test_every_broken_setting_is_listed_by_name_and_never_by_value():
    env = {"PAGERDUTY_ROUTING_KEYS": '{"primary": 42, "secret-key-123": "x"}', "REMEDIATION_MODE": "yolo-123",
           "TABLE_NAME": "no-dashes", "STATUSPAGE_API_KEY": " @microsoft.keyvault(VaultName=v;SecretName=k) ",
           "JIRA_API_TOKEN": "@Microsoft.AppConfiguration(Endpoint=https://c.azconfig.io; Key=k)"}
    errors = configuration_errors(env)
    assert [e.split(":")[0] for e in errors] == ["JIRA_API_TOKEN", "STATUSPAGE_API_KEY", "TABLE_NAME",
                                                 "PAGERDUTY_ROUTING_KEYS", "REMEDIATION_MODE"]
    assert "App Configuration" in errors[0]
    for value in ("42", "secret-key-123", "yolo-123", "no-dashes", "VaultName", "azconfig"):
        assert not any(value in e for e in errors), value


# ---- the JSON body, checked once in functions/http.py ------------------------------------------------

def _decode(raw: bytes):
    req = func.HttpRequest(method="POST", url="http://localhost/api/x", body=raw, headers={})
    return http.body_json(req)


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize("raw,path,words", [
    (_nested(65), "$" + "[0]" * 64, "nested deeper than 64 levels"),
    (_nested(100_000), "$", "nested deeper than 64 levels"),
    (b'{"a": ' + b"9" * 4301 + b"}", "$.a", "4301 digits"),
    (b'[1, -' + b"9" * 5000 + b"]", "$[1]", "5000 digits"),
    (b'{"a": [NaN]}', "$.a[0]", "NaN"),
    (b'{"a": {"b": Infinity}}', "$.a.b", "Infinity"),
    (b'{"a": 1e400}', "$.a", "finite"),
    (b'{"a": ["ok", "x\\ud800"]}', "$.a[1]", "lone surrogate"),
    (b'{"a": {"\\udfff": 1}}', '$.a["\\udfff"]', "lone surrogate"),
    (b'{"a b": {"c": "\\ud800"}}', '$["a b"].c', "lone surrogate"),
    (b'"\\ud800"', "$", "lone surrogate"),
    (b'{"a": "\xed\xa0\x80"}', "$.a", "lone surrogate"),  # json.loads decodes bytes with surrogatepass
    (b'{"a": "\xff"}', "$", "not UTF-8"),
])
def test_hostile_json_is_invalid_input_naming_the_path(raw, path, words):
    with pytest.raises(InvalidInput) as e:
        _decode(raw)
    assert e.value.path == path and words in e.value.message


def test_the_limits_themselves_are_accepted():
    assert _decode(_nested(64))
    assert _decode(b"[" + b"9" * 4300 + b"]")[0] > 0
    assert _decode('{"a": "\U0001F600 \\ud83d\\ude00 é"}'.encode()) == {"a": "\U0001F600 \U0001F600 é"}


def test_a_stored_lone_surrogate_never_breaks_a_read():
    resp = http.json_response({"title": "acme\ud800"})
    assert resp.status_code == 200 and json.loads(resp.get_body()) == {"title": "acme\ud800"}


def test_respond_maps_configuration_and_unexpected_errors_to_503_with_retry_after():
    def broken():
        raise PolicyError("REMEDIATION_MODE: must be one of off, dry-run, approval, auto")

    def bug():
        raise KeyError("x")
    for call, code in ((broken, "configuration_error"), (bug, "internal_error")):
        resp = http.respond(call)
        assert resp.status_code == 503 and resp.headers["Retry-After"]
        assert json.loads(resp.get_body())["error"] == code


# ---- the alert parser's bounds ----------------------------------------------------------------------

@pytest.mark.parametrize("field,value,path", [
    ("alertId", "a" * 1025, "$.data.essentials.alertId"),
    ("alertRule", "r" * 1025, "$.data.essentials.alertRule"),
    ("alertTargetIDs", ["/subscriptions/s/x", "/subscriptions/s/" + "é" * 2100], "$.data.essentials.alertTargetIDs[1]"),
    ("alertTargetIDs", "/subscriptions/s/x\x00", "$.data.essentials.alertTargetIDs"),
    ("alertRuleId", "/subscriptions/s/providers/microsoft.insights/metricalerts/" + "r" * MAX_ARM_ID,
     "$.data.essentials.alertRuleId"),
])
def test_identities_too_long_to_store_are_refused(field, value, path):
    body = metric_alert("a1")
    body["data"]["essentials"][field] = value
    with pytest.raises(InvalidInput) as e:
        parse_alert(body)
    assert e.value.path == path


def test_descriptive_text_is_cut_to_size():
    body = metric_alert("a1", custom={"category": "c" * 5000, "k" * 5000: "v"})
    ess = body["data"]["essentials"]
    ess.update(description="d" * 10_000, monitoringService="m" * 10_000, configurationItems=["i" * 5000] * 3 +
               [f"item{n}" for n in range(500)])
    alert = parse_alert(body)
    assert len(alert.description) == 4096 and len(alert.monitoring_service) == 256
    assert len(alert.custom_properties["category"]) == 1024 and max(map(len, alert.custom_properties)) == 256
    assert len(alert.configuration_items) == 100 and len(alert.configuration_items[0]) == 1024


# ---- list rows can never outgrow a Table entity -------------------------------------------------------

def _table_sizes(data: dict) -> tuple[int, int]:
    """(largest string property in bytes as Table Storage counts them, UTF-16; the entity's estimated
    size by the documented formula)."""
    sizes = {k: len(v.encode("utf-16-le")) for k, v in data.items()}
    entity = 4 + 2 * (2 + len("sil|index")) + sum(8 + 2 * len(k) + 4 + s for k, s in sizes.items())
    return max(sizes.values()), entity


def test_the_index_rows_of_the_most_and_largest_items_fit_a_table_entity():
    clock = FixedClock(datetime(2026, 11, 27, 3, 0, tzinfo=timezone.utc))
    store = InMemoryRecordStore()
    worst = "\U0001F600\"\\\x01"  # astral (2 UTF-16 units), and characters JSON escapes
    for i in range(listrow.MAX_ACTIVE):
        silences.create_silence({"match": {"alert_rule": f"{i}" + worst * 250, "tenant": worst * 50,
                                           "target_resource_id": "/subscriptions/" + "\U0001F600" * 1019},
                                 "end": "2099-01-01T00:00:00Z", "reason": worst * 125}, "o" * 200,
                                store=store, clock=clock)
        oncall.add_override({"role": "primary", "person": f"{i}" + "\U0001F600\"\\" * 66,
                             "start": "2026-11-27T00:00:00Z", "end": "2099-01-01T00:00:00Z",
                             "reason": worst * 500}, "o" * 200, store=store, clock=clock)
    for key in (silences.INDEX, oncall.INDEX):
        data = store.get(keys=[key])[key].data
        largest, entity = _table_sizes(data)
        assert largest <= 64 * 1024 and entity <= 1024 * 1024 and len(data) <= 252, (key, largest, entity)
        assert len(listrow.entries(store.get(keys=[key])[key])) == listrow.MAX_ACTIVE
    with pytest.raises(Conflict, match="at most 100 silences"):
        silences.create_silence({"match": {"tenant": "x"}, "end": "2099-01-01T00:00:00Z", "reason": "r"}, "o",
                                store=store, clock=clock)
    assert len(silences.list_silences(store=store, clock=clock)) == listrow.MAX_ACTIVE


def test_a_person_with_control_characters_is_refused():
    clock = FixedClock(datetime(2026, 11, 27, 3, 0, tzinfo=timezone.utc))
    with pytest.raises(InvalidInput) as e:
        oncall.add_override({"role": "primary", "person": "zoe\x00", "start": "2026-11-27T00:00:00Z",
                             "end": "2026-11-28T00:00:00Z"}, "o", store=InMemoryRecordStore(), clock=clock)
    assert e.value.path == "$.person"
