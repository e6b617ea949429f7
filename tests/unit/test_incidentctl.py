"""incidentctl against a loopback stub of the HTTP API that serves canned answers and records requests."""
from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from incidentctl.__main__ import main

KEY = "local-test-key-0123456789"
ROOT = Path(__file__).resolve().parents[2]

INCIDENT = {
    "id": "INC-20261127-0001", "title": "API 5xx rate above 10% for all tenants in westeurope " * 2,
    "severity": "SEV-1", "state": "triggered", "phase": "investigating",
    "created_at": "2026-11-27T03:00:00.000000Z", "acknowledged_at": None, "resolved_at": None,
    "classification": {"impact": "outage", "scope": "all-tenants", "reason": "impact outage x scope all-tenants"},
    "alert_ids": ["/subscriptions/s/alerts/a1"], "tenants": ["contoso"],
    "escalation": {"done": ["page-primary"],
                   "next": {"step": "page-secondary", "role": "secondary", "due_at": "2026-11-27T03:05:00Z"}},
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
ACKED = dict(INCIDENT, state="acknowledged", acknowledged_at="2026-11-27T03:02:00Z")
ONCALL = {"oncall": [{"role": "primary", "person": "ana", "source": "rotation"},
                     {"role": "incident-commander", "person": "bo", "source": "override",
                      "until": "2026-11-28T09:00:00Z"}],
          "at": "2026-11-27T03:00:00Z"}


class StubApi:
    """Answers `routes[(method, path)]` = (status, body); records every request."""

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
                status, body = stub.routes.get((self.command, url.path),
                                               (404, {"error": "not_found", "message": "no such route"}))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _serve

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
}


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
        code = main(list(argv), env=environ, stdout=out, stderr=err)
        assert KEY not in out.getvalue() + err.getvalue()
        return code, out.getvalue(), err.getvalue()
    return run


def test_list_prints_an_aligned_table_with_filters_sent(cli, api):
    code, out, _ = cli("list", "--status", "triggered", "--severity", "sev1", "--since", "2026-11-27T00:00:00Z",
                       "--limit", "20")

    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "SEV", "STATE", "PHASE", "CREATED", "TITLE"]
    assert lines[1].startswith("INC-20261127-0001  SEV-1  triggered     investigating  2026-11-27 03:00:00Z  API 5xx")
    assert lines[1].endswith("…") and len(lines[1].split("  ")[-1]) <= 60
    assert lines[2].startswith("INC-20261127-0002  SEV-3  acknowledged  investigating  2026-11-27 04:30:00Z  Redis")
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
    assert "ID:             INC-20261127-0001" in out
    assert "Severity:       SEV-1" in out
    assert "Created:        2026-11-27 03:00:00Z" in out
    assert "Acknowledged:   -" in out
    assert "Next step:      page-secondary -> secondary at 2026-11-27 03:05:00Z" in out
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
    assert lines[2].split() == ["incident-commander", "bo", "override", "2026-11-28", "09:00:00Z"]
    assert lines[-1] == "(at 2026-11-27 03:00:00Z)"
    assert cli("oncall", "--json")[1].strip() == json.dumps(ONCALL, indent=2)


def test_ack_posts_actor_and_message(cli, api):
    code, out, _ = cli("ack", INCIDENT["id"], "-m", "on it")
    assert code == 0
    assert out == "INC-20261127-0001 acknowledged: state acknowledged, severity SEV-1, phase investigating\n"
    req = api.requests[-1]
    assert (req["method"], req["path"]) == ("POST", "/api/incidents/INC-20261127-0001/acknowledge")
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
    assert err.strip() == "409 Conflict: incident INC-20261127-0001 is resolved"
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
    assert (code, out) == (0, "note added to INC-20261127-0001\n")
    req = api.requests[-1]
    assert req["path"] == "/api/incidents/INC-20261127-0001/notes"
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
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert [i["id"] for i in json.loads(proc.stdout)["incidents"]] == [INCIDENT["id"], SECOND["id"]]
