"""The local host over real HTTP on 127.0.0.1: routing, auth, bodies, errors, timers, the CLI."""
from __future__ import annotations

import http.client
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

from devhost import keys, settings
from devhost.azurite import connection_string
from devhost.__main__ import banner
from devhost.server import serve
from shared import bootstrap
from shared.adapters.clock import ScaledClock
from tests.functions import sample_app

KEY = "test-key-0123456789"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def host(monkeypatch):
    monkeypatch.setenv("SAMPLE_SCHEDULE", "0 0 * * * *")
    running = serve(sample_app.app, port=0, timers=False, key=KEY)
    yield running
    running.stop()


def call(host, method, path, body=None, headers=None):
    request = urllib.request.Request(host.url + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


class Signal(logging.Handler):
    """Sets an Event when a log record contains `text` (wait on it instead of sleeping)."""

    def __init__(self, text: str):
        super().__init__()
        self.text, self.seen = text, threading.Event()

    def emit(self, record):
        if self.text in record.getMessage():
            self.seen.set()


def test_anonymous_route_needs_no_key(host):
    status, headers, body = call(host, "GET", "/api/health")
    assert (status, json.loads(body)) == (200, {"healthy": True})
    assert headers["Content-Type"] == "application/json; charset=utf-8"


@pytest.mark.parametrize("path, headers", [
    ("/api/incidents/42", {"x-functions-key": KEY}),
    ("/api/incidents/42", {"X-Functions-Key": KEY}),
    (f"/api/incidents/42?code={KEY}", {}),
])
def test_function_route_accepts_the_key_in_header_or_code(host, path, headers):
    assert call(host, "GET", path, headers=headers)[::2] == (200, b"incident 42")


@pytest.mark.parametrize("path, headers", [
    ("/api/incidents/42", {}),
    ("/api/incidents/42", {"x-functions-key": "wrong"}),
    ("/api/incidents/42?code=wrong", {}),
    ("/api/incidents/42?code=", {}),
    ("/api/boom", {"x-functions-key": KEY[:-1]}),
])
def test_missing_or_wrong_key_is_401(host, path, headers):
    assert call(host, "GET", path, headers=headers)[0] == 401


def test_route_params_query_headers_and_body_reach_the_function(host):
    status, headers, body = call(host, "POST", "/api/incidents/INC-7/remediations/r%201/approve?x=1",
                                 body=b'{"actor": "ana"}',
                                 headers={"x-functions-key": KEY, "Content-Type": "application/json"})
    assert (status, headers["X-Echo"]) == (202, "1")
    echoed = json.loads(body)
    assert echoed["route_params"] == {"id": "INC-7", "rid": "r 1"}
    assert echoed["body"] == {"actor": "ana"} and echoed["method"] == "POST"
    assert echoed["params"] == {"x": "1"} and echoed["content_type"] == "application/json"
    assert echoed["url"] == f"{host.url}/api/incidents/INC-7/remediations/r%201/approve?x=1"


def test_body_bytes_reach_the_parameter_the_trigger_names(host):
    payload = bytes(range(256)) * 100
    status, headers, body = call(host, "POST", "/api/incidents", payload, {"x-functions-key": KEY})
    assert (status, body, headers["Content-Type"]) == (200, payload, "application/octet-stream")


def test_route_templates(host):
    assert call(host, "GET", "/api/files")[::2] == (200, b"<index>")
    assert call(host, "GET", "/api/files/a.txt")[::2] == (200, b"a.txt")
    assert call(host, "GET", "/api/INCIDENTS/5/", None, {"x-functions-key": KEY})[::2] == (200, b"incident 5")
    assert call(host, "GET", "/api/incidents/abc", headers={"x-functions-key": KEY})[0] == 404  # {id:int}


@pytest.mark.parametrize("path", ["/api/nope", "/api/", "/health", "/", "/api/incidents/1/extra"])
def test_unknown_route_is_404(host, path):
    assert call(host, "GET", path, headers={"x-functions-key": KEY})[0] == 404


def test_known_route_with_another_method_is_405_with_allow(host):
    status, headers, _ = call(host, "PUT", "/api/incidents/42", body=b"{}", headers={"x-functions-key": KEY})
    assert (status, headers["Allow"]) == (405, "DELETE, GET")
    status, headers, _ = call(host, "GET", "/api/incidents", headers={"x-functions-key": KEY})
    assert (status, headers["Allow"]) == (405, "POST")


def test_route_without_methods_takes_every_method_and_async_functions_run(host):
    assert call(host, "DELETE", "/api/ping")[::2] == (200, b"pong DELETE")


def test_exception_is_500_with_a_generic_body_and_a_logged_traceback(host, caplog):
    status, headers, body = call(host, "GET", "/api/boom", headers={"x-functions-key": KEY})
    assert (status, json.loads(body)["error"]) == (500, "function_failed")
    assert "the function failed" not in body.decode() and headers["Content-Type"].startswith("application/json")
    failed = [r for r in caplog.records if "Functions.boom" in r.getMessage()]
    assert failed and failed[0].exc_info and "the function failed" in str(failed[0].exc_info[1])


def test_body_over_100_mib_is_413_and_the_connection_survives(host):
    conn = http.client.HTTPConnection("127.0.0.1", host.port, timeout=10)
    conn.putrequest("POST", "/api/incidents")
    conn.putheader("x-functions-key", KEY)
    conn.putheader("Content-Length", str(100 * 1024 * 1024 + 1))
    conn.endheaders()
    response = conn.getresponse()
    assert response.status == 413 and response.getheader("Connection") == "close"
    response.read()
    conn.close()
    assert call(host, "GET", "/api/health")[0] == 200


def test_keep_alive_and_chunked_bodies(host):
    conn = http.client.HTTPConnection("127.0.0.1", host.port, timeout=10)
    conn.request("POST", "/api/incidents", body=iter([b"ab", b"cd"]), headers={"x-functions-key": KEY})
    first = conn.getresponse()
    assert (first.status, first.read()) == (200, b"abcd")
    conn.request("POST", "/api/incidents", body=b"unread", headers={"x-functions-key": "wrong"})
    second = conn.getresponse()
    assert (second.status, json.loads(second.read())["error"]) == (401, "unauthorized")
    conn.request("GET", "/api/health")
    assert conn.getresponse().status == 200
    conn.close()


def test_access_log_has_one_line_per_request_and_never_the_key(host, caplog):
    caplog.set_level(logging.INFO, logger="devhost.access")
    call(host, "GET", f"/api/incidents/9?code={KEY}&x=1")
    call(host, "GET", "/api/incidents/9", headers={"x-functions-key": KEY})
    # the server thread writes its access line just after the answer has gone out: wait for it
    lines, pause, deadline = [], threading.Event(), time.monotonic() + 5
    while len(lines) < 2 and time.monotonic() < deadline:
        pause.wait(0.01)
        lines = [r.getMessage() for r in caplog.records if r.name == "devhost.access"]
    assert len(lines) == 2
    assert lines[0].startswith("GET /api/incidents/9?code=***&x=1 200 ") and lines[0].endswith("ms")
    assert all(KEY not in r.getMessage() for r in caplog.records)


def test_functions_come_from_the_app_registry_with_their_auth_levels(host):
    routes = {r.template: (r.auth, r.methods) for r in host.routes}
    assert routes["health"] == ("anonymous", frozenset({"GET"}))  # from the blueprint
    assert routes["incidents/{id}/remediations/{rid}/approve"] == ("function", frozenset({"POST"}))
    assert routes["incidents/{id:int}"][0] == "function"  # the app's default http_auth_level
    assert routes["ping"] == ("anonymous", None)
    assert [t.name for t in host.timers] == ["sample_timer"]
    text = "\n".join(banner(host, "from FUNCTIONS_KEY"))
    assert host.url in text and KEY in text and "%SAMPLE_SCHEDULE% = 0 0 * * * *" in text
    assert text.endswith("ready") and "[anonymous]  health" in text


def test_serving_twice_uses_the_same_registry(host, monkeypatch):
    again = serve(sample_app.app, port=0, timers=False, key=KEY)
    try:
        assert call(again, "GET", "/api/health")[0] == 200
    finally:
        again.stop()


def test_the_app_clock_is_the_scaled_clock(monkeypatch):
    monkeypatch.setenv("SAMPLE_SCHEDULE", "0 0 * * * *")
    running = serve(sample_app.app, port=0, time_scale=60, timers=False, key=KEY)
    try:
        assert bootstrap.clock() is running.clock
        assert isinstance(running.clock, ScaledClock) and running.clock.scale == 60
    finally:
        running.stop()


def test_timer_fires_on_the_scaled_clock_with_a_timer_request(monkeypatch):
    monkeypatch.setenv("SAMPLE_SCHEDULE", "0 * * * * *")  # every minute: at most 0.1 s real at x600
    sample_app.timer_runs.clear()
    sample_app.timer_ran.clear()
    running = serve(sample_app.app, port=0, time_scale=600, key=KEY)
    try:
        assert sample_app.timer_ran.wait(10)
    finally:
        running.stop()
    request = sample_app.timer_runs[0]
    assert isinstance(request, TimerRequest) and request.past_due is False
    assert request.schedule_status["Last"].endswith(":00+00:00")


def test_no_timers_runs_none(monkeypatch):
    monkeypatch.setenv("SAMPLE_SCHEDULE", "* * * * * *")
    sample_app.timer_ran.clear()
    running = serve(sample_app.app, port=0, time_scale=1000, timers=False, key=KEY)
    try:
        assert not sample_app.timer_ran.wait(0.3)
        assert "disabled" in "\n".join(banner(running, "from FUNCTIONS_KEY"))
    finally:
        running.stop()


def timer_app(schedule: str, fn, run_on_startup=False) -> func.FunctionApp:
    app = func.FunctionApp()
    app.timer_trigger(arg_name="timer", schedule=schedule, run_on_startup=run_on_startup)(fn)
    return app


def test_run_on_startup_fires_at_once():
    fired = threading.Event()
    yearly = timer_app("0 0 0 1 JAN *", lambda timer: fired.set(), run_on_startup=True)
    running = serve(yearly, port=0, key=KEY)
    try:
        assert fired.wait(10)
    finally:
        running.stop()


def test_a_timer_never_overlaps_itself_and_runs_missed_occurrences_once_past_due():
    release, calls, second = threading.Event(), [], threading.Event()
    waiting = Signal("waits for the running one")
    logging.getLogger("devhost.server").addHandler(waiting)

    def slow(timer):
        calls.append(timer)
        if len(calls) == 2:
            second.set()
        release.wait(10)

    running = serve(timer_app("* * * * * *", slow), port=0, time_scale=100, key=KEY)
    try:
        assert waiting.seen.wait(10)
        assert len(calls) == 1          # never two at once
        release.set()
        assert second.wait(10)          # the missed occurrences ran once more, marked past due
        assert calls[1].past_due is True
    finally:
        release.set()
        running.stop()
        logging.getLogger("devhost.server").removeHandler(waiting)


def test_timer_exceptions_are_logged_not_fatal(caplog):
    calls, twice = [], threading.Event()

    def failing(timer):
        calls.append(timer)
        if len(calls) >= 2:
            twice.set()
        raise RuntimeError("timer failed")

    running = serve(timer_app("* * * * * *", failing), port=0, time_scale=100, key=KEY)
    try:
        assert twice.wait(10)
    finally:
        running.stop()
    assert any(r.exc_info and "timer failed" in str(r.exc_info[1]) for r in caplog.records)


def test_unresolved_schedule_setting_puts_the_timer_in_error_but_http_still_serves(monkeypatch):
    monkeypatch.delenv("SAMPLE_SCHEDULE", raising=False)
    running = serve(sample_app.app, port=0, key=KEY)
    try:
        assert "ERROR: schedule setting SAMPLE_SCHEDULE is not set" in "\n".join(banner(running, "given"))
        assert call(running, "GET", "/api/health")[0] == 200
    finally:
        running.stop()


def test_settings_environment_first_then_local_settings(tmp_path):
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps({"IsEncrypted": False, "Values": {"A": "file", "B": "file", "N": 3}}))
    env = {"A": "env"}
    assert settings.load(path, env) == ["B", "N"]
    assert env == {"A": "env", "B": "file", "N": "3"}
    assert settings.load(tmp_path / "absent.json", env) == []


def test_function_key_is_kept_or_generated():
    assert keys.ensure_key({"FUNCTIONS_KEY": "k"}) == ("k", "from FUNCTIONS_KEY")
    env: dict[str, str] = {}
    key, source = keys.ensure_key(env)
    assert source == "generated for this run" and len(key) >= 32 and env["FUNCTIONS_KEY"] == key


def test_cli_loads_settings_serves_and_stops_on_ctrl_c(tmp_path):
    (tmp_path / "local.settings.json").write_text(json.dumps(
        {"Values": {"FUNCTIONS_KEY": "file-key-123", "SAMPLE_SCHEDULE": "0 0 * * * *",
                    "TABLES_CONNECTION_STRING": connection_string(1)}}))  # a store is named (never used)
    env = {k: v for k, v in os.environ.items()
           if k not in ("FUNCTIONS_KEY", "SAMPLE_SCHEDULE", "TABLES_CONNECTION_STRING", "TABLES_ENDPOINT")}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.Popen([sys.executable, "-m", "devhost", "--port", "0", "--time-scale", "2",
                             "--app", "tests.functions.sample_app:app"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        banner = []
        for line in proc.stdout:
            banner.append(line.rstrip("\n"))
            if line.strip() == "ready":
                break
        text = "\n".join(banner)
        assert "file-key-123" in text and "0 0 * * * *" in text and banner[-1] == "ready"
        url = banner[0].split()[2].rstrip("/")
        with urllib.request.urlopen(urllib.request.Request(
                f"{url}/incidents/3", headers={"x-functions-key": "file-key-123"}), timeout=10) as r:
            assert r.read() == b"incident 3"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    assert "GET /api/incidents/3 200" in err and "file-key-123" not in err
