"""The operator routes through the registered functions on Azurite: declare, commands, on-call,
overrides, silences and remediation approval; every bad input is a 4xx naming the field."""
from __future__ import annotations

import subprocess
import sys

from tests.payloads import metric_alert


def test_declare_then_commands_with_actors_on_the_timeline(app):
    status, inc = app.call("declare_incident", body={"title": "Checkout failing", "impact": "core", "scope": "some",
                                                       "actor": "carol"})
    assert status == 201 and inc["severity"] == "SEV-2" and inc["source"] == "manual"
    route = {"id": inc["id"]}
    assert app.call("acknowledge_incident", body={"actor": "alice", "message": "mine"}, route=route)[0] == 200
    assert app.call("add_note", body={"actor": "alice", "text": "rolled back"}, route=route)[0] == 200
    assert app.call("set_status", body={"actor": "alice", "phase": "identified", "message": "bad deploy"},
                    route=route)[0] == 200
    status, out = app.call("set_severity", body={"actor": "dan", "severity": "sev1", "reason": "all tenants"},
                           route=route)
    assert status == 200 and out["severity"] == "SEV-1"
    assert app.call("resolve_incident", body={"actor": "alice"}, route=route)[0] == 200
    assert app.call("acknowledge_incident", body={"actor": "alice"}, route=route)[0] == 409
    timeline = app.call("get_incident", method="GET", route=route)[1]["timeline"]
    actors = {e["kind"]: e["actor"] for e in timeline}
    assert actors["created"] == "carol" and actors["acknowledged"] == "alice" and actors["note"] == "alice"
    assert actors["severity"] == "dan" and actors["resolved"] == "alice"


def test_bad_command_input_names_the_field(app):
    inc = app.call("post_alert", body=metric_alert("a1"))[1]["incident_id"]
    route = {"id": inc}
    assert app.call("set_severity", body={"severity": "SEV-9", "reason": "x"}, route=route)[1]["path"] == "$.severity"
    assert app.call("set_severity", body={"severity": "SEV-2"}, route=route)[1]["path"] == "$.reason"
    assert app.call("add_note", body={"text": ""}, route=route)[1]["path"] == "$.text"
    assert app.call("add_note", body={"text": "x", "actor": 7}, route=route)[1]["path"] == "$.actor"
    assert app.call("set_status", body={"phase": "panicking"}, route=route)[1]["path"] == "$.phase"
    assert app.call("declare_incident", body={"severity": "SEV-1"})[1]["path"] == "$.title"
    assert app.call("declare_incident", raw=b"[]")[0] == 400
    assert app.call("acknowledge_incident", body={}, route={"id": "INC-20261127-0999"})[0] == 404
    assert app.call("approve_remediation", body={}, route={"id": inc, "rid": "REM-nope"})[0] == 404


def test_oncall_overrides_and_silences(app):
    status, now = app.call("get_oncall", method="GET")
    assert status == 200 and {o["role"] for o in now["oncall"]} >= {"primary", "cto"}
    primary = next(o for o in now["oncall"] if o["role"] == "primary")
    assert primary["source"] == "rotation" and primary["until"]
    status, ovr = app.call("add_override", body={"role": "primary", "person": "zoe", "start": "2026-11-27T00:00:00Z",
                                                  "end": "2026-11-28T00:00:00Z", "actor": "alice"})
    assert status == 201
    primary = next(o for o in app.call("get_oncall", method="GET")[1]["oncall"] if o["role"] == "primary")
    assert (primary["person"], primary["source"]) == ("zoe", "override")
    assert app.call("remove_override", method="DELETE", route={"oid": ovr["id"]})[0] == 200
    assert app.call("remove_override", method="DELETE", route={"oid": ovr["id"]})[0] == 404
    assert app.call("add_override", body={"role": "chef", "person": "x", "start": "2026-11-27T00:00:00Z",
                                          "end": "2026-11-28T00:00:00Z"})[1]["path"] == "$.role"
    status, sil = app.call("create_silence", body={"match": {"alert_rule": "api-5xx"}, "end": "2026-11-27T04:00:00Z",
                                                   "reason": "deploy"})
    assert status == 201
    assert [s["id"] for s in app.call("list_silences", method="GET")[1]["silences"]] == [sil["id"]]
    inc = app.call("post_alert", body=metric_alert("a1", rule="api-5xx"))[1]["incident_id"]
    shown = app.call("get_incident", method="GET", route={"id": inc})[1]
    assert shown["silence"]["id"] == sil["id"]
    assert app.call("delete_silence", method="DELETE", route={"sid": sil["id"]})[0] == 200
    assert app.call("create_silence", body={"match": {}, "end": "x", "reason": "r"})[1]["path"] == "$.match"


def test_importing_the_app_loads_no_azure_mgmt_module():
    code = ("import sys, function_app; function_app.app.get_functions(); "
            "print(sorted(m for m in sys.modules if m.startswith('azure.mgmt')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_real_app_on_the_local_host_needs_the_key_except_for_health(app):
    import function_app
    import requests
    from devhost.server import serve
    host = serve(function_app.app, port=0, timers=False, key="k-123")
    try:
        url = f"{host.url}/api"
        assert requests.get(f"{url}/incidents", timeout=5).status_code == 401
        assert requests.get(f"{url}/incidents", headers={"x-functions-key": "wrong"}, timeout=5).status_code == 401
        assert requests.get(f"{url}/incidents", headers={"x-functions-key": "k-123"}, timeout=5).status_code == 200
        assert requests.get(f"{url}/incidents?code=k-123", timeout=5).status_code == 200
        r = requests.post(f"{url}/alerts?code=k-123", json=metric_alert("a1"), timeout=5)
        assert r.status_code == 202 and r.json()["outcome"] == "created"
        assert requests.post(f"{url}/alerts", json=metric_alert("a2"), timeout=5).status_code == 401
        assert requests.get(f"{url}/health", timeout=5).status_code in (200, 503)   # anonymous: never 401
    finally:
        host.stop()


def test_incidentctl_against_the_real_app_on_the_local_host(app):
    import io
    import json

    import function_app
    from devhost.server import serve
    from incidentctl.__main__ import main
    host = serve(function_app.app, port=0, timers=False, key="k-ctl")
    env = {"INCIDENT_API_URL": f"{host.url}/api", "FUNCTIONS_KEY": "k-ctl", "INCIDENT_ACTOR": "erin"}

    def ctl(*argv):
        out, err = io.StringIO(), io.StringIO()
        code = main(list(argv), env=env, stdout=out, stderr=err)
        return code, out.getvalue(), err.getvalue()
    try:
        # The host runs the app on its own (real) clock, so the id is taken from the answer, not spelled.
        status, posted = app.call("post_alert", body=metric_alert("a1", severity="Sev0"))
        assert status == 202 and posted["outcome"] == "created"
        inc = posted["incident_id"]
        code, out, _ = ctl("list")
        assert code == 0
        [row] = [line for line in out.splitlines() if line.startswith(f"{inc} ")]
        assert "SEV-1" in row and "triggered" in row
        assert ctl("ack", inc, "-m", "looking")[0] == 0
        assert ctl("note", inc, "rolled", "back")[0] == 0
        assert ctl("severity", inc, "SEV-2", "--reason", "one region")[0] == 0
        code, out, _ = ctl("show", inc, "--json")
        shown = json.loads(out)
        assert shown["id"] == inc and shown["state"] == "acknowledged" and shown["severity"] == "SEV-2"
        assert {e["actor"] for e in shown["timeline"] if e["kind"] in ("acknowledged", "note")} == {"erin"}
        assert ctl("resolve", inc)[0] == 0
        code, _, err = ctl("ack", inc)
        assert code == 1 and "409" in err
        code, out, _ = ctl("oncall")
        assert code == 0 and "primary" in out
    finally:
        host.stop()
