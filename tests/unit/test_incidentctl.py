"""incidentctl against a loopback stub of the HTTP API that serves canned answers and records requests."""
from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from incidentctl.__main__ import main
from incidentctl.args import instant, parser

KEY = "local-test-key-0123456789"
ROOT = Path(__file__).resolve().parents[2]

INCIDENT = {
    "id": "INC-20261127-0001", "title": "API 5xx rate above 10% for all tenants in westeurope " * 2,
    "severity": "SEV-1", "state": "triggered", "phase": "investigating",
    "created_at": "2026-11-27T03:00:00.000000Z", "acknowledged_at": None, "resolved_at": None,
    "classification": {"impact": "outage", "scope": "all-tenants", "reason": "impact outage x scope all-tenants"},
    "alert_ids": ["/subscriptions/s/alerts/a1"], "tenants": ["contoso"],
    "escalation": {"done": [{"step": "primary", "at": "2026-11-27T03:00:00Z"}],
                   "next": {"step": "secondary", "roles": ["secondary"], "due_at": "2026-11-27T03:05:00Z"},
                   "paged": {"primary": {"person": "ana", "at": "2026-11-27T03:00:00Z"}}},
    "silence": None,
    "sla": {"response_due": "2026-11-27T03:15:00Z", "resolution_due": "2026-11-27T07:00:00Z",
            "response_breached": True, "resolution_breached": False},
    "timeline": [
        {"at": "2026-11-27T03:00:00.000000Z", "kind": "created", "actor": "azure-monitor", "text": "alert a1"},
        {"at": "2026-11-27T03:00:01.500000+00:00", "kind": "paged", "actor": "system", "text": "primary paged"},
    ],
    "remediations": [], "pir": {"due": "2026-12-02T03:00:00Z", "status": "pending"},
}
SECOND = dict(INCIDENT, id="INC-20261127-0002", title="Redis latency", severity="SEV-3", state="acknowledged",
              created_at="2026-11-27T04:30:00Z")
ID, ID2 = INCIDENT["id"], SECOND["id"]   # the stub API's ids: tests take them from here
ACKED = dict(INCIDENT, state="acknowledged", acknowledged_at="2026-11-27T03:02:00Z")
ONCALL = {"oncall": [{"role": "primary", "person": "ana", "source": "rotation"},
                     {"role": "secondary", "person": "cy", "source": "rotation", "until": "2026-11-30T09:00:00Z"},
                     {"role": "incident-commander", "person": "bo", "source": "override",
                      "until": "2026-11-28T09:00:00Z"}],
          "at": "2026-11-27T03:00:00Z"}

SILENCE = {"id": "SIL-0a1b2c3d", "match": {"alert_rule": "api-5xx",
                                          "target_resource_id": "/subscriptions/s/resourcegroups/rg/providers/x/app-1"},
           "start": "2026-11-27T03:00:00.000000Z", "end": "2026-11-27T05:00:00.000000Z", "reason": "deploy window",
           "created_by": "ana", "created_at": "2026-11-27T03:00:00.000000Z"}
OVERRIDE = {"id": "OVR-0a1b2c3d", "role": "secondary", "person": "zoe", "start": "2026-11-27T03:00:00.000000Z",
            "end": "2026-11-28T03:00:00.000000Z", "created_by": "ana", "reason": "swap",
            "created_at": "2026-11-27T03:00:00.000000Z"}


class StubApi:
    """Answers `routes[(method, path)]` = (status, body[, content type]); records every request."""

    def __init__(self, routes: dict[tuple[str, str], tuple[int, Any]]):
        self.routes = routes
        self.requests: list[dict[str, Any]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                url = urlsplit(self.path)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                stub.requests.append({"method": self.command, "path": url.path, "query": parse_qs(url.query),
                                      "headers": dict(self.headers), "body": json.loads(raw) if raw else None})
                status, body, *ctype = stub.routes.get((self.command, url.path),
                                                       (404, {"error": "not_found", "message": "no such route"}))
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype[0] if ctype else "application/json")
                if status == 503:
                    self.send_header("Retry-After", "30")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


ROUTES = {
    ("GET", "/api/incidents"): (200, {"incidents": [INCIDENT, SECOND], "continuation": "c1"}),
    ("GET", f"/api/incidents/{INCIDENT['id']}"): (200, INCIDENT),
    ("POST", f"/api/incidents/{INCIDENT['id']}/acknowledge"): (200, ACKED),
    ("POST", f"/api/incidents/{INCIDENT['id']}/resolve"):
        (409, {"error": "conflict", "message": f"incident {INCIDENT['id']} is resolved"}),
    ("POST", f"/api/incidents/{INCIDENT['id']}/severity"): (200, dict(INCIDENT, severity="SEV-2")),
    ("POST", f"/api/incidents/{INCIDENT['id']}/notes"): (201, {"at": "2026-11-27T03:01:00Z", "kind": "note"}),
    ("GET", "/api/oncall"): (200, ONCALL),
    ("POST", "/api/incidents"): (201, dict(INCIDENT, id=ID2, severity="SEV-2", timeline=None, classification={
        "impact": "core feature broken", "scope": "some users", "reason": "Declared by ana: core × some → SEV-2"})),
    ("POST", f"/api/incidents/{ID}/status"): (200, dict(INCIDENT, phase="identified")),
    ("POST", f"/api/incidents/{ID}/remediations/REM-1a2b3c/approve"):
        (200, dict(INCIDENT, remediations=[{"id": "REM-1a2b3c", "playbook": "redis-reboot", "status": "approved"}])),
    ("GET", "/api/silences"): (200, {"silences": [SILENCE]}),
    ("POST", "/api/silences"): (201, SILENCE),
    ("DELETE", f"/api/silences/{SILENCE['id']}"): (200, {"deleted": SILENCE["id"], "released": [ID, ID2]}),
    ("POST", "/api/oncall/overrides"): (201, OVERRIDE),
    ("DELETE", f"/api/oncall/overrides/{OVERRIDE['id']}"): (200, {"deleted": OVERRIDE["id"]}),
}
NOW = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)   # the CLI's `now` for relative times


@pytest.fixture
def api():
    stub = StubApi(dict(ROUTES))
    yield stub
    stub.close()


@pytest.fixture
def cli(api):
    def run(*argv: str, **env: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        environ = {"INCIDENT_API_URL": api.url, "FUNCTIONS_KEY": KEY, "INCIDENT_ACTOR": "ana", **env}
        code = main(list(argv), env=environ, stdout=out, stderr=err, now=lambda: NOW)
        assert KEY not in out.getvalue() + err.getvalue()
        return code, out.getvalue(), err.getvalue()
    return run


def test_list_prints_an_aligned_table_with_filters_sent(cli, api):
    code, out, _ = cli("list", "--status", "triggered", "--severity", "sev1", "--since", "2026-11-27T00:00:00Z",
                       "--limit", "20")

    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "SEV", "STATE", "PHASE", "CREATED", "TITLE"]
    assert lines[1].startswith(f"{ID}  SEV-1  triggered     investigating  2026-11-27 03:00:00Z  API 5xx")
    assert lines[1].endswith("…") and len(lines[1].split("  ")[-1]) <= 60
    assert lines[2].startswith(f"{ID2}  SEV-3  acknowledged  investigating  2026-11-27 04:30:00Z  Redis")
    assert lines[1].index("SEV-1") == lines[0].index("SEV") and lines[2].index("Redis") == lines[0].index("TITLE")
    assert "more incidents" in out
    req = api.requests[-1]
    assert (req["method"], req["path"]) == ("GET", "/api/incidents")
    assert req["query"] == {"status": ["triggered"], "severity": ["SEV-1"], "since": ["2026-11-27T00:00:00Z"],
                            "limit": ["20"]}
    assert req["headers"]["x-functions-key"] == KEY


def test_list_without_filters_sends_none(cli, api):
    assert cli("list")[0] == 0
    assert api.requests[-1]["query"] == {}


def test_list_empty(cli, api):
    api.routes[("GET", "/api/incidents")] = (200, {"incidents": [], "continuation": None})
    assert cli("list") == (0, "no incidents\n", "")


def test_show_prints_header_then_timeline(cli):
    code, out, _ = cli("show", INCIDENT["id"])

    assert code == 0
    assert f"ID:             {ID}" in out
    assert "Severity:       SEV-1" in out
    assert "Created:        2026-11-27 03:00:00Z" in out
    assert "Acknowledged:   -" in out
    assert "Escalated:      primary (2026-11-27 03:00:00Z)" in out
    assert "Paged:          primary (ana)" in out
    assert "Next step:      secondary -> secondary (cy) at 2026-11-27 03:05:00Z" in out
    assert "Silence:        -" in out
    assert "Response due:   2026-11-27 03:15:00Z  BREACHED" in out
    assert "Resolution due: 2026-11-27 07:00:00Z\n" in out
    timeline = out[out.index("Timeline (2)"):].splitlines()
    assert timeline[1].split() == ["AT", "KIND", "ACTOR", "TEXT"]
    assert timeline[2] == "2026-11-27 03:00:00Z  created  azure-monitor  alert a1"
    assert timeline[3] == "2026-11-27 03:00:01Z  paged    system         primary paged"


@pytest.mark.parametrize("argv", [["--json", "show", INCIDENT["id"]], ["show", INCIDENT["id"], "--json"]])
def test_json_prints_the_raw_answer(cli, argv):
    code, out, _ = cli(*argv)
    assert code == 0 and json.loads(out) == INCIDENT


def test_oncall(cli, api):
    code, out, _ = cli("oncall")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["ROLE", "PERSON", "SOURCE", "UNTIL"]
    assert lines[1].split() == ["primary", "ana", "rotation", "-"]
    assert lines[2].split() == ["secondary", "cy", "rotation", "2026-11-30", "09:00:00Z"]
    assert lines[3].split() == ["incident-commander", "bo", "override", "2026-11-28", "09:00:00Z"]
    assert lines[-1] == "(at 2026-11-27 03:00:00Z)"
    assert cli("oncall", "--json")[1].strip() == json.dumps(ONCALL, indent=2)


def test_ack_posts_actor_and_message(cli, api):
    code, out, _ = cli("ack", INCIDENT["id"], "-m", "on it")
    assert code == 0
    assert out == f"{ID} acknowledged: state acknowledged, severity SEV-1, phase investigating\n"
    req = api.requests[-1]
    assert (req["method"], req["path"]) == ("POST", f"/api/incidents/{ID}/acknowledge")
    assert req["body"] == {"actor": "ana", "message": "on it"}
    assert req["headers"]["x-functions-key"] == KEY
    assert req["headers"]["Content-Type"] == "application/json"


def test_actor_defaults_to_the_os_user(cli, api, monkeypatch):
    monkeypatch.setattr("getpass.getuser", lambda: "osuser")
    assert cli("ack", INCIDENT["id"], INCIDENT_ACTOR="")[0] == 0
    assert api.requests[-1]["body"] == {"actor": "osuser"}


def test_resolve_conflict_exits_1_with_the_apis_message(cli, api):
    code, out, err = cli("resolve", INCIDENT["id"], "-m", "fixed")
    assert (code, out) == (1, "")
    assert err.strip() == f"409 Conflict: incident {ID} is resolved"
    assert api.requests[-1]["body"] == {"actor": "ana", "message": "fixed"}


def test_not_found_exits_1(cli, api):
    api.routes[("GET", "/api/incidents/INC-nope")] = (404, {"error": "not_found", "message": "no incident INC-nope"})
    code, _, err = cli("show", "INC-nope")
    assert code == 1 and err.strip() == "404 Not Found: no incident INC-nope"


def test_unauthorized_hints_at_the_key_without_printing_it(cli, api):
    api.routes[("GET", "/api/oncall")] = (401, {"error": "unauthorized", "message": "missing or wrong key"})
    code, _, err = cli("oncall")
    assert code == 1 and err.startswith("401 Unauthorized: missing or wrong key") and "FUNCTIONS_KEY" in err


def test_severity_posts_reason(cli, api):
    code, out, _ = cli("severity", INCIDENT["id"], "SEV-2", "--reason", "blast radius smaller")
    assert code == 0 and "reclassified as SEV-2" in out and "severity SEV-2" in out
    assert api.requests[-1]["body"] == {"severity": "SEV-2", "reason": "blast radius smaller", "actor": "ana"}


def test_note_joins_words(cli, api):
    code, out, _ = cli("note", INCIDENT["id"], "rolled", "back", "to", "r42")
    assert (code, out) == (0, f"note added to {ID}\n")
    req = api.requests[-1]
    assert req["path"] == f"/api/incidents/{ID}/notes"
    assert req["body"] == {"text": "rolled back to r42", "actor": "ana"}


def test_ids_are_quoted_into_the_path(cli, api):
    cli("show", "a/b c")
    assert api.requests[-1]["path"] == "/api/incidents/a%2Fb%20c"


@pytest.mark.parametrize("argv", [[], ["frobnicate"], ["severity", "INC-1", "SEV-9", "--reason", "x"],
                                  ["severity", "INC-1", "SEV-2"], ["list", "--since", "yesterday"],
                                  ["list", "--limit", "0"], ["note", "INC-1"]])
def test_usage_errors_exit_2(cli, api, argv):
    code, _, err = cli(*argv)
    assert code == 2 and "usage:" in err
    assert api.requests == []


def test_connection_refused_exits_3_and_names_the_url(cli):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/api"
    code, out, err = cli("list", INCIDENT_API_URL=url)
    assert (code, out) == (3, "")
    assert url in err and "make run" in err


def test_no_key_sends_no_header(cli, api):
    cli("oncall", FUNCTIONS_KEY="")
    assert "x-functions-key" not in {k.lower() for k in api.requests[-1]["headers"]}


def test_python_dash_m_entry_point(api):
    env = {**os.environ, "INCIDENT_API_URL": api.url, "FUNCTIONS_KEY": KEY}
    proc = subprocess.run([sys.executable, "-m", "incidentctl", "list", "--json"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    assert [i["id"] for i in json.loads(proc.stdout)["incidents"]] == [INCIDENT["id"], SECOND["id"]]


# ---- the command set -----------------------------------------------------------------------------

CONTRACT_COMMANDS = ["list", "show", "declare", "ack", "resolve", "severity", "status", "comms", "note", "approve",
                     "reject", "postmortem", "pir", "breach", "metrics", "oncall", "overrides", "silences"]


def test_help_lists_every_command(cli):
    code, out, _ = cli("--help")
    assert code == 0
    listed = {line.split()[0] for line in out[out.index("COMMAND\n"):out.index("options:")].splitlines()[1:]
              if line.startswith("    ") and not line.startswith("      ")}
    assert listed == {*CONTRACT_COMMANDS, "completion"}


# ---- declare -------------------------------------------------------------------------------------

def test_declare_posts_title_classification_and_tenants(cli, api):
    code, out, _ = cli("declare", "Checkout", "failing", "--impact", "core", "--scope", "some",
                       "--tenant", "contoso", "--tenant", "fabrikam")
    assert code == 0
    assert out == (f"{ID2} declared: state triggered, severity SEV-2, phase investigating\n"
                   "  Declared by ana: core × some → SEV-2\n")
    req = api.requests[-1]
    assert (req["method"], req["path"]) == ("POST", "/api/incidents")
    assert req["body"] == {"title": "Checkout failing", "impact": "core", "scope": "some",
                           "tenants": ["contoso", "fabrikam"], "actor": "ana"}


@pytest.mark.parametrize("argv, body", [
    (["declare", "x", "--severity", "2"], {"title": "x", "severity": "SEV-2", "actor": "ana"}),
    (["declare", "x", "--security"], {"title": "x", "severity": "SEV-1", "security": True, "actor": "ana"}),
    (["declare", "x", "--security", "--impact", "minor", "--scope", "one"],
     {"title": "x", "impact": "minor", "scope": "one", "security": True, "actor": "ana"}),
])
def test_declare_bodies(cli, api, argv, body):
    assert cli(*argv)[0] == 0
    assert api.requests[-1]["body"] == body


@pytest.mark.parametrize("argv, says", [
    (["declare", "x"], "give --severity, or --impact and --scope"),
    (["declare", "x", "--impact", "core"], "--impact and --scope go together"),
    (["declare", "x", "--impact", "huge", "--scope", "all"], "invalid choice: 'huge'"),
    (["declare", "--severity", "SEV-1"], "the following arguments are required: title"),
])
def test_declare_usage_errors(cli, api, argv, says):
    code, _, err = cli(*argv)
    assert code == 2 and says in err and "usage: incidentctl declare" in err
    assert api.requests == []


# ---- status, approve, reject ---------------------------------------------------------------------

def test_status_posts_phase_and_message(cli, api):
    code, out, _ = cli("status", ID, "identified", "-m", "bad deploy")
    assert (code, out) == (0, f"{ID} status identified: state triggered, severity SEV-1, phase identified\n")
    req = api.requests[-1]
    assert (req["method"], req["path"]) == ("POST", f"/api/incidents/{ID}/status")
    assert req["body"] == {"phase": "identified", "actor": "ana", "message": "bad deploy"}


def test_status_phase_is_checked_before_any_call(cli, api):
    code, _, err = cli("status", ID, "panicking")
    assert code == 2 and "invalid choice: 'panicking'" in err and api.requests == []


def test_approve_and_reject_post_the_decision(cli, api):
    route = f"/api/incidents/{ID}/remediations/REM-1a2b3c/approve"
    code, out, _ = cli("approve", ID, "REM-1a2b3c")
    assert (code, out) == (0, f"REM-1a2b3c (redis-reboot) on {ID}: approved\n")
    assert (api.requests[-1]["path"], api.requests[-1]["body"]) == (route, {"decision": "approve", "actor": "ana"})
    api.routes[("POST", route)] = (200, dict(INCIDENT, remediations=[
        {"id": "REM-1a2b3c", "playbook": "redis-reboot", "status": "rejected"}]))
    code, out, _ = cli("reject", ID, "REM-1a2b3c", "--reason", "demo running")
    assert (code, out) == (0, f"REM-1a2b3c (redis-reboot) on {ID}: rejected\n")
    assert api.requests[-1]["body"] == {"decision": "reject", "reason": "demo running", "actor": "ana"}


def test_reject_needs_a_reason(cli, api):
    code, _, err = cli("reject", ID, "REM-1a2b3c")
    assert code == 2 and "--reason" in err and api.requests == []


# ---- silences ------------------------------------------------------------------------------------

def test_silences_list_is_a_table(cli, api):
    for argv in (["silences"], ["silences", "list"]):
        code, out, _ = cli(*argv)
        lines = out.splitlines()
        assert code == 0 and lines[0].split() == ["ID", "MATCH", "START", "END", "REASON", "BY"]
        assert lines[1] == ("SIL-0a1b2c3d  rule=api-5xx resource=app-1  2026-11-27 03:00:00Z  2026-11-27 05:00:00Z  "
                            "deploy window  ana")
        assert api.requests[-1]["method"] == "GET" and api.requests[-1]["path"] == "/api/silences"
    api.routes[("GET", "/api/silences")] = (200, {"silences": []})
    assert cli("silences")[1] == "no silences\n"


def test_silences_add_sends_the_match_and_relative_times(cli, api):
    code, out, _ = cli("silences", "add", "--match-rule", "api-5xx", "--match-tenant", "contoso",
                       "--match-resource", "/subscriptions/s/x/app-1", "--end", "+2h", "--reason", "deploy window")
    assert code == 0
    assert out == ("silence SIL-0a1b2c3d created: rule=api-5xx resource=app-1 from 2026-11-27 03:00:00Z "
                   "until 2026-11-27 05:00:00Z (deploy window)\n")
    assert api.requests[-1]["body"] == {
        "match": {"target_resource_id": "/subscriptions/s/x/app-1", "alert_rule": "api-5xx", "tenant": "contoso"},
        "end": "2026-11-27T05:00:00Z", "reason": "deploy window", "actor": "ana"}
    cli("silences", "add", "--match-rule", "r", "--start", "2026-11-27T04:00:00+01:00", "--end", "1h30m",
        "--reason", "x")
    assert api.requests[-1]["body"]["start"] == "2026-11-27T03:00:00Z"
    assert api.requests[-1]["body"]["end"] == "2026-11-27T04:30:00Z"


@pytest.mark.parametrize("argv, says", [
    (["silences", "add", "--end", "+1h", "--reason", "x"], "give at least one of --match-resource"),
    (["silences", "add", "--match-rule", "r", "--reason", "x"], "the following arguments are required: --end"),
    (["silences", "add", "--match-rule", "r", "--end", "+1h"], "the following arguments are required: --reason"),
    (["silences", "add", "--match-rule", "r", "--end", "tomorrow", "--reason", "x"], "'tomorrow' is not a time"),
    (["silences", "end"], "the following arguments are required: sid"),
])
def test_silences_usage_errors(cli, api, argv, says):
    code, _, err = cli(*argv)
    assert code == 2 and says in err and api.requests == []


def test_silences_end_deletes_with_the_actor(cli, api):
    code, out, _ = cli("silences", "end", "SIL-0a1b2c3d")
    assert (code, out) == (0, f"silence SIL-0a1b2c3d ended; ladders started for {ID}, {ID2}\n")
    req = api.requests[-1]
    assert (req["method"], req["path"], req["body"]) == ("DELETE", "/api/silences/SIL-0a1b2c3d", {"actor": "ana"})


# ---- overrides -----------------------------------------------------------------------------------

def test_overrides_add_defaults_start_to_now(cli, api):
    code, out, _ = cli("overrides", "add", "--role", "secondary", "--person", "zoe", "--end", "+1d",
                       "--reason", "swap")
    assert (code, out) == (0, ("override OVR-0a1b2c3d: zoe is secondary from 2026-11-27 03:00:00Z "
                               "until 2026-11-28 03:00:00Z\n"))
    req = api.requests[-1]
    assert (req["method"], req["path"]) == ("POST", "/api/oncall/overrides")
    assert req["body"] == {"role": "secondary", "person": "zoe", "start": "2026-11-27T03:00:00Z",
                           "end": "2026-11-28T03:00:00Z", "reason": "swap", "actor": "ana"}


def test_overrides_add_checks_the_role(cli, api):
    code, _, err = cli("overrides", "add", "--role", "chef", "--person", "x", "--end", "+1h")
    assert code == 2 and "invalid choice: 'chef'" in err and api.requests == []


def test_overrides_list_from_the_overrides_route(cli, api):
    api.routes[("GET", "/api/oncall/overrides")] = (200, {"overrides": [OVERRIDE]})
    code, out, _ = cli("overrides")
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["ID", "ROLE", "PERSON", "START", "END", "REASON", "BY"]
    assert lines[1] == "OVR-0a1b2c3d  secondary  zoe     2026-11-27 03:00:00Z  2026-11-28 03:00:00Z  swap    ana"
    assert len(lines) == 2


def test_overrides_list_falls_back_to_oncall_when_the_api_has_no_route(cli, api):
    api.routes[("GET", "/api/oncall/overrides")] = (405, b"")
    code, out, _ = cli("overrides", "list")
    lines = out.splitlines()
    assert code == 0 and lines[1].split() == ["-", "incident-commander", "bo", "-", "-", "-", "-"]
    assert "from GET oncall at 2026-11-27 03:00:00Z" in lines[-1]
    assert [r["path"] for r in api.requests] == ["/api/oncall/overrides", "/api/oncall"]
    answer = json.loads(cli("overrides", "--json")[1])
    assert answer["overrides"] == [{"id": None, "role": "incident-commander", "person": "bo"}]


def test_overrides_end(cli, api):
    assert cli("overrides", "end", "OVR-0a1b2c3d") == (0, "override OVR-0a1b2c3d ended\n", "")
    assert api.requests[-1]["method"] == "DELETE" and api.requests[-1]["path"] == "/api/oncall/overrides/OVR-0a1b2c3d"


# ---- show: the next step's holder and the silence ------------------------------------------------

def test_show_names_every_role_of_the_next_step_and_a_silence(cli, api):
    inc = dict(INCIDENT, escalation={
        "done": [], "next": {"step": "executives", "roles": ["vp_engineering", "secondary", "cto"],
                             "due_at": "2026-11-30T10:00:00Z"}},
        silence={"id": "SIL-0a1b2c3d", "until": "2026-11-27T05:00:00Z", "reason": "deploy window"})
    api.routes[("GET", f"/api/incidents/{ID}")] = (200, inc)
    api.routes[("GET", "/api/oncall")] = (200, dict(ONCALL, oncall=[
        *ONCALL["oncall"], {"role": "vp_engineering", "person": "dee", "source": "override",
                            "until": "2026-12-07T09:00:00Z"}]))
    out = cli("show", ID)[1]
    assert ("Next step:      executives -> vp_engineering (dee), secondary (cy until 2026-11-30 09:00:00Z), cto "
            "at 2026-11-30 10:00:00Z") in out
    assert "Silence:        SIL-0a1b2c3d until 2026-11-27 05:00:00Z: deploy window\n" in out
    api.routes[("GET", "/api/oncall")] = (200, dict(ONCALL, at="2026-11-27T06:00:00Z"))
    assert "Silence:        SIL-0a1b2c3d until 2026-11-27 05:00:00Z (ended): deploy window\n" in cli("show", ID)[1]


def test_show_without_oncall_still_shows_the_incident(cli, api):
    api.routes[("GET", "/api/oncall")] = (500, {"error": "configuration_error", "message": "no [oncall]"})
    code, out, _ = cli("show", ID)
    assert code == 0 and "Next step:      secondary -> secondary at 2026-11-27 03:05:00Z" in out


def test_show_asks_oncall_only_for_a_next_step_or_a_silence(cli, api):
    cli("show", ID, "--json")
    assert [r["path"] for r in api.requests] == [f"/api/incidents/{ID}"]
    api.routes[("GET", f"/api/incidents/{ID}")] = (200, dict(INCIDENT, state="resolved", escalation={"done": []}))
    code, out, _ = cli("show", ID)
    assert code == 0 and "Next step:      -" in out
    assert [r["path"] for r in api.requests] == [f"/api/incidents/{ID}"] * 2


# ---- error lines ---------------------------------------------------------------------------------

@pytest.mark.parametrize("status, body, env, line", [
    (401, b"", {}, ("401 Unauthorized: set FUNCTIONS_KEY to the function key (`make run` prints it); "
                    "the key given was refused")),
    (401, b"", {"FUNCTIONS_KEY": ""}, ("401 Unauthorized: FUNCTIONS_KEY is not set: set FUNCTIONS_KEY to the "
                                       "function key (`make run` prints it)")),
    (401, {"error": "unauthorized", "message": "missing or wrong key"}, {},
     "401 Unauthorized: missing or wrong key; set FUNCTIONS_KEY to the function key (`make run` prints it)"),
    (403, b"", {}, "403 Forbidden: the credentials are valid but may not do this"),
    (404, b"", {}, "404 Not Found: nothing at GET http://127.0.0.1:"),
    (500, {"error": "configuration_error", "message": "runbook.toml has no [oncall] rotations"}, {},
     "500 Internal Server Error: runbook.toml has no [oncall] rotations [configuration_error]"),
    (500, b"", {}, "500 Internal Server Error: the API failed without a message on GET http://127.0.0.1:"),
    (503, {"error": "unavailable", "message": "table storage is down; retry later"}, {},
     "503 Service Unavailable: table storage is down; retry later (retry after 30s)"),
    (502, b"Bad gateway from the proxy", {}, "502 Bad Gateway: Bad gateway from the proxy"),
    (400, {"error": "invalid_input"}, {}, "400 Bad Request: no message (on GET http://127.0.0.1:"),
])
def test_error_lines_say_what_the_api_said_or_what_to_do(cli, api, status, body, env, line):
    api.routes[("GET", "/api/oncall")] = (status, body)
    code, out, err = cli("oncall", **env)
    assert (code, out) == (1, "")
    assert err.startswith(line) and err.count("\n") == 1
    assert "(no message)" not in err


# ---- times ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("given, sent", [
    ("now", "2026-11-27T03:00:00Z"), ("+2h", "2026-11-27T05:00:00Z"), ("30m", "2026-11-27T03:30:00Z"),
    ("1h30m", "2026-11-27T04:30:00Z"), ("+1d", "2026-11-28T03:00:00Z"), ("2w", "2026-12-11T03:00:00Z"),
    ("-10m", "2026-11-27T02:50:00Z"), ("90s", "2026-11-27T03:01:30Z"),
    ("2026-11-27T22:00:00Z", "2026-11-27T22:00:00Z"), ("2026-11-27T23:00:00+01:00", "2026-11-27T22:00:00Z"),
    ("2026-11-27T22:00", "2026-11-27T22:00:00Z"), ("2026-11-28", "2026-11-28T00:00:00Z"),
])
def test_times_are_iso_or_relative_and_sent_in_utc(given, sent):
    assert instant(lambda: NOW)(given) == sent


@pytest.mark.parametrize("given", ["tomorrow", "+2", "2h+", "h", "2026-13-01T00:00:00Z", ""])
def test_bad_times_are_refused(given):
    import argparse
    with pytest.raises(argparse.ArgumentTypeError):
        instant(lambda: NOW)(given)


# ---- shell completion ----------------------------------------------------------------------------

def test_completion_needs_no_api(cli):
    code, out, err = cli("completion", "bash", INCIDENT_API_URL="http://127.0.0.1:9/api")
    assert code == 0 and err == "" and "complete -F _incidentctl incidentctl" in out


def _bash_complete(script: str, *words: str) -> list[str]:
    driver = (f"{script}\nCOMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}\n"
              "_incidentctl; printf '%s\\n' \"${COMPREPLY[@]}\"")
    proc = subprocess.run(["bash", "--noprofile", "--norc", "-c", driver], capture_output=True, text=True,
                          timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    return [w for w in proc.stdout.splitlines() if w]


@pytest.mark.parametrize("words, expected", [
    (["incidentctl", ""], [*CONTRACT_COMMANDS, "completion"]),
    (["incidentctl", "--json", "s"], ["show", "severity", "status", "silences"]),
    (["incidentctl", "status", "INC-1", ""], ["investigating", "identified", "monitoring", "resolved"]),
    (["incidentctl", "status", "-m", "msg", "INC-1", "i"], ["investigating", "identified"]),
    (["incidentctl", "severity", "INC-1", ""], ["SEV-1", "SEV-2", "SEV-3", "SEV-4"]),
    (["incidentctl", "list", "--status", ""], ["triggered", "acknowledged", "resolved"]),
    (["incidentctl", "silences", ""], ["list", "add", "end"]),
    (["incidentctl", "silences", "add", "--match-rule", "r", "--e"], ["--end"]),
    (["incidentctl", "overrides", "add", "--role", "s"], ["secondary", "security_lead"]),
    (["incidentctl", "declare", "--scope", ""], ["all", "some", "one"]),
    (["incidentctl", "declare", "--se"], ["--severity", "--security"]),
    (["incidentctl", "completion", ""], ["bash", "zsh"]),
    (["incidentctl", "ack", "INC-1", "-m", ""], []),               # a free value: nothing to offer
])
def test_bash_completion_walks_the_parser(cli, words, expected):
    script = cli("completion", "bash")[1]
    assert _bash_complete(script, *words) == expected


def test_bash_completion_knows_every_option_of_every_command(cli):
    script = cli("completion", "bash")[1]
    p = parser()
    from incidentctl.args import subcommands
    for name, sub in subcommands(p).items():
        flags = sorted(f for a in sub._actions for f in a.option_strings if f.startswith("--"))
        assert sorted(w for w in _bash_complete(script, "incidentctl", name, "--") if w.startswith("--")) == flags, name


def test_zsh_completion_has_a_function_per_command(cli):
    code, out, _ = cli("completion", "zsh")
    assert code == 0 and out.startswith("#compdef incidentctl\n")
    for name in [*CONTRACT_COMMANDS, "completion"]:
        assert f"\n_incidentctl_{name}() {{\n" in out and f"                {name}) _incidentctl_{name} ;;" in out
    for nested in ("overrides_add", "overrides_end", "silences_add", "silences_end"):
        assert f"\n_incidentctl_{nested}() {{\n" in out
    assert "'--impact[core feature broken, degraded, or minor]:impact:(core degraded minor)'" in out
    assert "'*--tenant[an affected tenant (repeat for several)]:name: '" in out
    assert "'(-m --message)'{-m,--message}'[the public status message]:message: '" in out
    assert "':phase:(investigating identified monitoring resolved)'" in out
    assert out.rstrip().endswith("compdef _incidentctl incidentctl\nfi")


def test_decision_line_when_the_answer_does_not_list_the_remediation(cli, api):
    api.routes[("POST", f"/api/incidents/{ID}/remediations/REM-x/approve")] = (200, {"ok": True})
    for verb, done in (("approve", "approved"), ("reject", "rejected")):
        assert cli(verb, ID, "REM-x", "--reason", "r")[1] == f"REM-x on {ID} {done}\n"


# ---- Entra ID tokens: asked for only when the API answers 401 with WWW-Authenticate: Bearer ---------

TOKEN = "test-access-token-0123456789"
SCOPE = "api://7d0c0ffe-0000-4000-8000-000000000a99/.default"


class FakeCredential:
    """Stands in for azure.identity.AzureCliCredential: records the scopes asked for."""

    def __init__(self, fail: Exception | None = None):
        self.scopes: list[str] = []
        self.fail = fail

    def get_token(self, *scopes: str):
        from azure.core.credentials import AccessToken
        self.scopes.extend(scopes)
        if self.fail:
            raise self.fail
        return AccessToken(TOKEN, 2_000_000_000)


class BearerApi(StubApi):
    """The stub API, but every route answers 401 with a Bearer challenge unless the token is sent."""

    def __init__(self, routes):
        super().__init__(routes)
        handler = self.server.RequestHandlerClass
        serve = handler._serve

        def guarded(h):
            if h.headers.get("Authorization") != f"Bearer {TOKEN}":
                self.requests.append({"method": h.command, "path": h.path, "headers": dict(h.headers)})
                h.rfile.read(int(h.headers.get("Content-Length") or 0))
                data = json.dumps({"error": "unauthorized", "message": "no bearer token"}).encode()
                h.send_response(401)
                h.send_header("WWW-Authenticate", "Bearer")
                h.send_header("Content-Type", "application/json")
                h.send_header("Content-Length", str(len(data)))
                h.end_headers()
                h.wfile.write(data)
                return
            serve(h)

        handler.do_GET = handler.do_POST = handler.do_DELETE = guarded


@pytest.fixture
def bearer_api():
    stub = BearerApi(dict(ROUTES))
    yield stub
    stub.close()


def run_cli(api_url: str, *argv: str, credential=None, **env: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    environ = {"INCIDENT_API_URL": api_url, "FUNCTIONS_KEY": KEY, "INCIDENT_ACTOR": "ana", **env}
    code = main(list(argv), env=environ, stdout=out, stderr=err, now=lambda: NOW, credential=credential)
    assert KEY not in out.getvalue() + err.getvalue() and TOKEN not in out.getvalue() + err.getvalue()
    return code, out.getvalue(), err.getvalue()


def test_a_bearer_challenge_gets_a_token_for_the_scope_and_the_call_is_repeated(bearer_api):
    credential = FakeCredential()
    code, out, _ = run_cli(bearer_api.url, "oncall", credential=credential, INCIDENT_API_SCOPE=SCOPE)
    assert code == 0 and "ana" in out
    assert credential.scopes == [SCOPE]
    refused, accepted = bearer_api.requests
    assert "Authorization" not in refused["headers"]
    assert accepted["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert accepted["headers"]["x-functions-key"] == KEY          # the key stays the outer gate


def test_the_token_is_kept_for_the_next_calls(bearer_api):
    from incidentctl.client import ApiClient
    credential = FakeCredential()
    client = ApiClient(base_url=bearer_api.url, key=KEY, scope=SCOPE, credential=credential)
    client.oncall()
    client.incident(ID)
    assert credential.scopes == [SCOPE] and len(bearer_api.requests) == 3


def test_a_bearer_challenge_without_a_scope_says_what_to_set(bearer_api):
    credential = FakeCredential()
    code, _, err = run_cli(bearer_api.url, "oncall", credential=credential)
    assert code == 1 and credential.scopes == []
    assert err.startswith("401 Unauthorized: no bearer token (INCIDENT_API_SCOPE is not set)")
    assert "az login" in err and "FUNCTIONS_KEY" not in err


def test_a_credential_that_cannot_sign_in_is_one_line(bearer_api):
    from azure.identity import CredentialUnavailableError
    credential = FakeCredential(fail=CredentialUnavailableError("Please run 'az login' to set up an account"))
    code, _, err = run_cli(bearer_api.url, "oncall", credential=credential, INCIDENT_API_SCOPE=SCOPE)
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "could not get an Entra ID token" in err and "CredentialUnavailableError" in err


def test_a_refused_key_never_asks_for_a_token(api):
    api.routes[("GET", "/api/oncall")] = (401, b"")                # the Functions host: no challenge, no body
    credential = FakeCredential()
    code, _, err = run_cli(api.url, "oncall", credential=credential, INCIDENT_API_SCOPE=SCOPE)
    assert code == 1 and credential.scopes == [] and "FUNCTIONS_KEY" in err


def test_the_azure_cli_credential_is_imported_only_when_a_token_is_needed():
    code = ("import sys, incidentctl.__main__, incidentctl.client; "
            "print('azure.identity' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"


# ---- status --external, comms --------------------------------------------------------------------

def test_status_external_records_customer_impact(cli, api):
    code, out, _ = cli("status", ID, "identified", "--external")
    assert (code, out) == (0, f"{ID} status identified (external): state triggered, severity SEV-1, "
                              "phase identified\n")
    assert api.requests[-1]["body"] == {"phase": "identified", "actor": "ana", "external": True}


COMMS = {"template": "customer-email", "subject": "[SEV-1] Service disruption: API 5xx",
         "text": "Dear Contoso,\n\nWe are investigating — next update in 30 minutes.\n"}


def test_comms_gets_the_template_with_the_responders_words(cli, api):
    api.routes[("GET", f"/api/incidents/{ID}/communications/customer-email")] = (200, COMMS)
    code, out, _ = cli("comms", ID, "customer-email", "-m", "rolled back", "--estimate", "1 hour",
                       "--workaround", "retry")
    assert (code, out) == (0, f"Subject: {COMMS['subject']}\n\n{COMMS['text']}")
    req = api.requests[-1]
    assert (req["method"], req["path"]) == ("GET", f"/api/incidents/{ID}/communications/customer-email")
    assert req["query"] == {"message": ["rolled back"], "estimate": ["1 hour"], "workaround": ["retry"]}
    assert req["body"] is None
    assert json.loads(cli("comms", ID, "customer-email", "--json")[1]) == COMMS
    assert api.requests[-1]["query"] == {}


def test_comms_without_a_subject_prints_the_text(cli, api):
    api.routes[("GET", f"/api/incidents/{ID}/communications/slack-initial")] = (
        200, {"template": "slack-initial", "subject": "", "text": ":rotating_light: SEV-1 declared"})
    assert cli("comms", ID, "slack-initial") == (0, ":rotating_light: SEV-1 declared\n", "")


@pytest.mark.parametrize("argv, says", [
    (["comms", ID, "tweet"], "invalid choice: 'tweet'"),
    (["comms", ID], "the following arguments are required: template"),
    (["comms", ID, "status-resolved", "-m", " "], "must not be empty"),
])
def test_comms_usage_errors(cli, api, argv, says):
    code, _, err = cli(*argv)
    assert code == 2 and says in err and "usage: incidentctl comms" in err and api.requests == []


# ---- postmortem ----------------------------------------------------------------------------------

REPORT = "# Post-Incident Report: API 5xx\n\n**Severity:** SEV-1 · core × all → SEV-1\n\n## Summary\n\nIt broke.\n"
DRAFT = {"title": "API 5xx", "severity": "SEV-1", "action_items": [], "markdown": REPORT}


def test_postmortem_prints_the_markdown_as_it_came(cli, api):
    api.routes[("GET", f"/api/incidents/{ID}/postmortem")] = (200, REPORT.encode(), "text/markdown; charset=utf-8")
    code, out, err = cli("postmortem", ID)
    assert (code, out, err) == (0, REPORT, "")                      # byte for byte: `> report.md` is the report
    req = api.requests[-1]
    assert (req["method"], req["path"], req["query"]) == ("GET", f"/api/incidents/{ID}/postmortem", {})
    assert req["headers"]["Accept"].startswith("text/markdown")
    assert req["headers"]["x-functions-key"] == KEY


def test_postmortem_without_a_charset_is_read_as_utf8_and_ends_in_a_newline(cli, api):
    api.routes[("GET", f"/api/incidents/{ID}/postmortem")] = (200, REPORT.rstrip("\n").encode(), "text/markdown")
    assert cli("postmortem", ID)[1] == REPORT


def test_postmortem_json_asks_for_the_structured_draft(cli, api):
    api.routes[("GET", f"/api/incidents/{ID}/postmortem")] = (200, DRAFT)
    for argv in (["postmortem", ID, "--json"], ["--json", "postmortem", ID]):
        code, out, _ = cli(*argv)
        assert code == 0 and json.loads(out) == DRAFT
        assert api.requests[-1]["query"] == {"format": ["json"]}


def test_postmortem_errors_are_the_apis_json_message(cli, api):
    api.routes[("GET", "/api/incidents/INC-nope/postmortem")] = (
        404, {"error": "not_found", "message": "no incident INC-nope"})
    assert cli("postmortem", "INC-nope") == (1, "", "404 Not Found: no incident INC-nope\n")


# ---- pir -----------------------------------------------------------------------------------------

REVIEWED = dict(INCIDENT, state="resolved", phase="resolved", resolved_at="2026-11-26T03:00:00Z", pir={
    "required": True, "status": "held", "due_at": "2026-11-28T03:00:00Z", "report_due_at": "2026-12-04T03:00:00Z",
    "report_due_provisional": False, "resolved_at": "2026-11-26T03:00:00Z",
    "meeting": {"at": "2026-11-27T01:00:00Z", "attendees": ["ana", "bo"]}, "report_url": None,
    "root_cause": "a bad deploy", "closed_at": None,
    "action_items": [{"id": "A1", "text": "canary stage", "owner": "bo", "due": "2026-12-15", "status": "open",
                      "link": None, "ticket": "OPS-12"},
                     {"id": "A2", "text": "alert on 5xx", "owner": "cy", "due": None, "status": "done",
                      "link": None, "ticket": None}]})


def test_pir_sends_the_whole_record_and_renders_the_review(cli, api):
    api.routes[("POST", f"/api/incidents/{ID}/pir")] = (200, REVIEWED)
    code, out, _ = cli("pir", ID, "--meeting=-2h", "--attendee", "ana", "--attendee", "bo",
                       "--report", "https://wiki.example/pir/1", "--root-cause", "a bad deploy",
                       "--action", "bo:2026-12-15:canary stage: in eu first", "--action", "cy::alert on 5xx",
                       "--done", "A2", "--wont-fix", "A3", "--close")
    assert code == 0
    req = api.requests[-1]
    assert (req["method"], req["path"]) == ("POST", f"/api/incidents/{ID}/pir")
    assert req["body"] == {
        "meeting": {"at": "2026-11-27T01:00:00Z", "attendees": ["ana", "bo"]},
        "report_url": "https://wiki.example/pir/1", "root_cause": "a bad deploy",
        "action_items": [{"text": "canary stage: in eu first", "owner": "bo", "due": "2026-12-15"},
                         {"text": "alert on 5xx", "owner": "cy"},
                         {"id": "A2", "status": "done"}, {"id": "A3", "status": "wont_fix"}],
        "status": "closed", "actor": "ana"}
    assert out == (f"Review of {ID}\n"
                   "  Status:      held\n"
                   "  Meeting due: 2026-11-28 03:00:00Z\n"
                   "  Meeting:     2026-11-27 01:00:00Z with ana, bo\n"
                   "  Report due:  2026-12-04 03:00:00Z\n"
                   "  Report:      -\n"
                   "  Root cause:  a bad deploy\n"
                   "  Closed:      -\n"
                   "\n"
                   "Action items (2, 1 open)\n"
                   "ID  STATUS  DUE         OWNER  TICKET  TEXT\n"
                   "A1  open    2026-12-15  bo     OPS-12  canary stage\n"
                   "A2  done    -           cy     -       alert on 5xx\n")


def test_pir_sends_only_what_is_given(cli, api):
    api.routes[("POST", f"/api/incidents/{ID}/pir")] = (200, dict(REVIEWED, pir=dict(
        REVIEWED["pir"], status="pending", meeting=None, report_due_provisional=True, action_items=[])))
    code, out, _ = cli("pir", ID, "--meeting", "2026-11-28T10:00:00+01:00")
    assert code == 0
    assert api.requests[-1]["body"] == {"meeting": {"at": "2026-11-28T09:00:00Z", "attendees": []}, "actor": "ana"}
    assert "  Report due:  2026-12-04 03:00:00Z (provisional: 5 business days after the meeting's deadline)\n" in out
    assert out.endswith("Action items (0, 0 open)\n")
    cli("pir", ID, "--root-cause", "")                                 # an empty root cause clears it
    assert api.requests[-1]["body"] == {"root_cause": "", "actor": "ana"}
    cli("pir", ID, "--done", "A1")
    assert api.requests[-1]["body"] == {"action_items": [{"id": "A1", "status": "done"}], "actor": "ana"}


def test_pir_conflict_is_the_apis_message(cli, api):
    api.routes[("POST", f"/api/incidents/{ID}/pir")] = (409, {"error": "conflict", "message": (
        "action items A1 are still open: mark each done or wont_fix before closing the review")})
    code, out, err = cli("pir", ID, "--close")
    assert (code, out) == (1, "") and err.startswith("409 Conflict: action items A1 are still open")
    assert api.requests[-1]["body"] == {"status": "closed", "actor": "ana"}


@pytest.mark.parametrize("argv, says", [
    (["pir", ID], "nothing to record: give --meeting"),
    (["pir", ID, "--attendee", "ana"], "--attendee goes with --meeting"),
    (["pir", ID, "--action", "bo:canary"], "is not an action item: give OWNER:DUE:TEXT"),
    (["pir", ID, "--action", ":2026-12-01:canary"], "is not an action item"),
    (["pir", ID, "--action", "bo:2026-12-01:"], "is not an action item"),
    (["pir", ID, "--action", "bo:next week:canary"], "'next week' in 'bo:next week:canary' is not a date YYYY-MM-DD"),
    (["pir", ID, "--action", "bo:2026-02-30:canary"], "is not a date YYYY-MM-DD"),
    (["pir", ID, "--done", "A1", "--wont-fix", "A1"], "A1: give an item to --done or to --wont-fix, not both"),
    (["pir", ID, "--meeting", "next tuesday"], "'next tuesday' is not a time"),
    (["pir", "--close"], "the following arguments are required: id"),
])
def test_pir_usage_errors(cli, api, argv, says):
    code, _, err = cli(*argv)
    assert code == 2 and says in err and "usage: incidentctl pir" in err and api.requests == []


def test_show_sums_the_review_up_in_one_line(cli, api):
    api.routes[("GET", f"/api/incidents/{ID}")] = (200, REVIEWED)
    assert "PIR:            held, report due 2026-12-04 03:00:00Z, 2 action item(s), 1 open\n" in cli("show", ID)[1]
    api.routes[("GET", f"/api/incidents/{ID}")] = (200, INCIDENT)   # the first shape: {"due", "status"}
    assert "PIR:            pending, meeting due 2026-12-02 03:00:00Z\n" in cli("show", ID)[1]


# ---- breach --------------------------------------------------------------------------------------

CLOCK = {"personal_data": True, "aware_at": "2026-11-27T01:00:00Z", "notified_at": None, "authority": "",
         "reference": "", "deadline": "2026-11-30T01:00:00Z"}


def test_breach_personal_data_starts_the_clock(cli, api):
    api.routes[("POST", f"/api/incidents/{ID}/breach")] = (200, dict(INCIDENT, breach=CLOCK))
    code, out, _ = cli("breach", ID, "--personal-data", "yes", "--aware-at=-2h")
    assert code == 0
    req = api.requests[-1]
    assert (req["method"], req["path"]) == ("POST", f"/api/incidents/{ID}/breach")
    assert req["body"] == {"personal_data": True, "aware_at": "2026-11-27T01:00:00Z", "actor": "ana"}
    assert out == (f"{ID}: personal data breach (GDPR Article 33)\n"
                   "  Aware at:  2026-11-27 01:00:00Z\n"
                   "  Deadline:  2026-11-30 01:00:00Z (72 hours from awareness)\n"
                   "  Notified:  not yet\n")
    api.routes[("POST", f"/api/incidents/{ID}/breach")] = (200, dict(INCIDENT, breach=dict(CLOCK, overdue=True)))
    assert "(72 hours from awareness)  OVERDUE\n" in cli("breach", ID, "--personal-data", "yes")[1]
    assert api.requests[-1]["body"] == {"personal_data": True, "actor": "ana"}   # aware_at: the API's now


def test_breach_without_personal_data(cli, api):
    api.routes[("POST", f"/api/incidents/{ID}/breach")] = (200, dict(INCIDENT, breach=dict(
        CLOCK, personal_data=False, aware_at=None, deadline=None)))
    assert cli("breach", ID, "--personal-data", "no") == (
        0, f"{ID}: no personal data involved, so no GDPR notification clock\n", "")
    assert api.requests[-1]["body"] == {"personal_data": False, "actor": "ana"}


@pytest.mark.parametrize("notified, says", [
    ("2026-11-29T09:00:00Z", "  Notified:  2026-11-29 09:00:00Z to CNIL, ref N-1  within 72 hours\n"),
    ("2026-11-30T09:00:00Z", "  Notified:  2026-11-30 09:00:00Z to CNIL, ref N-1  LATE: say why"),
])
def test_breach_notification_stops_the_clock(cli, api, notified, says):
    api.routes[("POST", f"/api/incidents/{ID}/breach")] = (200, dict(INCIDENT, breach=dict(
        CLOCK, notified_at=notified, authority="CNIL", reference="N-1", overdue=True)))
    code, out, _ = cli("breach", ID, "--notified-at", "now", "--authority", "CNIL", "--reference", "N-1")
    assert code == 0 and says in out and "OVERDUE" not in out
    assert api.requests[-1]["body"] == {"notified_at": "2026-11-27T03:00:00Z", "authority": "CNIL",
                                        "reference": "N-1", "actor": "ana"}


@pytest.mark.parametrize("argv, says", [
    (["breach", ID], "give --personal-data yes|no (with --aware-at), or --notified-at with --authority"),
    (["breach", ID, "--personal-data", "maybe"], "invalid choice: 'maybe'"),
    (["breach", ID, "--aware-at", "now"], "give --personal-data yes|no"),
    (["breach", ID, "--notified-at", "now", "--aware-at", "now"], "--aware-at goes with --personal-data"),
    (["breach", ID, "--notified-at", "now"], "--notified-at needs --authority"),
    (["breach", ID, "--personal-data", "yes", "--authority", "CNIL"], "--authority and --reference go with"),
    (["breach", ID, "--personal-data", "yes", "--aware-at", "yesterday"], "'yesterday' is not a time"),
])
def test_breach_usage_errors(cli, api, argv, says):
    code, _, err = cli(*argv)
    assert code == 2 and says in err and "usage: incidentctl breach" in err and api.requests == []


# ---- metrics -------------------------------------------------------------------------------------

ROW = {"count": 0, "transients": 0, "acknowledged": 0, "resolved": 0, "response_breaches": 0,
       "resolution_breaches": 0, "reviews_overdue": 0, "open_action_items": 0,
       "mtta_p50_s": None, "mtta_p90_s": None, "mttr_p50_s": None, "mttr_p90_s": None}
METRICS = {"since": "2026-10-28T03:00:00.000000Z", "until": "2026-11-27T03:00:00.000000Z", "by_severity": {
    "SEV-1": dict(ROW, count=3, transients=1, acknowledged=3, resolved=2, response_breaches=1, reviews_overdue=1,
                  open_action_items=4, mtta_p50_s=125, mtta_p90_s=45.4, mttr_p50_s=5400, mttr_p90_s=273600),
    "SEV-2": dict(ROW, count=1, acknowledged=1, mtta_p50_s=3600, mtta_p90_s=3600),
    "SEV-3": ROW, "SEV-4": ROW}}


def test_metrics_is_a_table_with_durations(cli, api):
    api.routes[("GET", "/api/metrics")] = (200, METRICS)
    code, out, _ = cli("metrics")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["SEV", "INCIDENTS", "ACKED", "RESOLVED", "MTTA-P50", "MTTA-P90", "MTTR-P50",
                                "MTTR-P90", "RESP-BREACH", "RESOL-BREACH", "PIR-LATE", "OPEN-ITEMS", "TRANSIENT"]
    assert lines[1].split() == ["SEV-1", "3", "3", "2", "2m", "05s", "45s", "1h", "30m", "3d", "4h",
                                "1", "0", "1", "4", "1"]
    assert lines[1].index("2m 05s") == lines[0].index("MTTA-P50")
    assert lines[2].split() == ["SEV-2", "1", "1", "0", "1h", "00m", "1h", "00m", "-", "-", "0", "0", "0", "0", "0"]
    assert lines[4].split()[0] == "SEV-4" and len(lines) == 6
    assert lines[5] == ("(incidents created from 2026-10-28 03:00:00Z until 2026-11-27 03:00:00Z; "
                        "MTTA/MTTR p50 and p90 leave transients out)")
    req = api.requests[-1]
    assert (req["method"], req["path"], req["query"]) == ("GET", "/api/metrics", {})


@pytest.mark.parametrize("argv, query", [
    (["--since", "30d"], {"since": ["2026-10-28T03:00:00Z"]}),
    (["--since=-12h", "--until", "1h"], {"since": ["2026-11-26T15:00:00Z"], "until": ["2026-11-27T02:00:00Z"]}),
    (["--since", "2026-11-01", "--until", "2026-11-15T00:00:00+01:00"],
     {"since": ["2026-11-01T00:00:00Z"], "until": ["2026-11-14T23:00:00Z"]}),
    (["--since", "1w", "--prometheus"], {"since": ["2026-11-20T03:00:00Z"], "format": ["prometheus"]}),
])
def test_metrics_window_is_sent_in_utc_and_relative_means_ago(cli, api, argv, query):
    api.routes[("GET", "/api/metrics")] = (200, METRICS)
    assert cli("metrics", *argv)[0] == 0
    assert api.requests[-1]["query"] == query


def test_metrics_prometheus_is_printed_as_it_came(cli, api):
    text = ('# HELP incident_count Incidents, transients excluded.\n# TYPE incident_count gauge\n'
            'incident_count{severity="SEV-1"} 3\n')
    api.routes[("GET", "/api/metrics")] = (200, text.encode(), "text/plain; version=0.0.4; charset=utf-8")
    assert cli("metrics", "--prometheus") == (0, text, "")
    assert api.requests[-1]["headers"]["Accept"].startswith("text/plain")


def test_metrics_json_is_the_answer(cli, api):
    api.routes[("GET", "/api/metrics")] = (200, METRICS)
    assert json.loads(cli("metrics", "--json")[1]) == METRICS


def test_metrics_bad_window_from_the_api(cli, api):
    api.routes[("GET", "/api/metrics")] = (400, {"error": "invalid_input",
                                                 "message": "since: the window is at most 400 days"})
    assert cli("metrics", "--since", "500d") == (1, "", "400 Bad Request: since: the window is at most 400 days\n")


@pytest.mark.parametrize("argv, says", [
    (["metrics", "--since", "+1d"], "'+1d' is in the future: a window looks back"),
    (["metrics", "--since", "last month"], "'last month' is not a time"),
    (["metrics", "--since", "1d", "--until", "2d"], "--since must be before --until"),
    (["metrics", "--since", "2026-11-28"], "--since must be before --until (default now)"),
    (["metrics", "--prometheus", "--json"], "--prometheus and --json do not go together"),
])
def test_metrics_usage_errors(cli, api, argv, says):
    code, _, err = cli(*argv)
    assert code == 2 and says in err and "usage: incidentctl metrics" in err and api.requests == []


@pytest.mark.parametrize("seconds, shown", [
    (None, "-"), (0, "0s"), (59.6, "1m 00s"), (61, "1m 01s"), (3600, "1h 00m"), (5400, "1h 30m"),
    (86399, "23h 59m"), (90000, "1d 1h"), (-5, "0s"), ("12", "-"), (True, "-"),
])
def test_durations_are_human(seconds, shown):
    from incidentctl.aftercare import duration
    assert duration(seconds) == shown


# ---- completion of the commands after the fire ---------------------------------------------------

@pytest.mark.parametrize("words, expected", [
    (["incidentctl", "p"], ["postmortem", "pir"]),
    (["incidentctl", "comms", "INC-1", "status-"], ["status-investigating", "status-identified",
                                                    "status-monitoring", "status-resolved"]),
    (["incidentctl", "breach", "INC-1", "--personal-data", ""], ["yes", "no"]),
    (["incidentctl", "pir", "INC-1", "--w"], ["--wont-fix"]),
    (["incidentctl", "pir", "INC-1", "--meeting", ""], []),
    (["incidentctl", "metrics", "--p"], ["--prometheus"]),
    (["incidentctl", "status", "INC-1", "identified", "--e"], ["--external"]),
])
def test_bash_completion_of_the_new_commands(cli, words, expected):
    assert _bash_complete(cli("completion", "bash")[1], *words) == expected


def test_zsh_completion_of_the_new_commands(cli):
    out = cli("completion", "zsh")[1]
    # a colon in the value's name is escaped: _arguments would take it for the next field
    assert "'*--action[a new action item, DUE YYYY-MM-DD or empty (repeat for several)]:owner\\:due\\:text: '" in out
    assert "'--personal-data[yes starts the 72-hour clock, no stops it]:personal_data:(yes no)'" in out
    assert "':template:(slack-initial status-investigating" in out
