"""The local host's HTTP edge over real sockets on 127.0.0.1: bursts, slow clients, the key, error bodies."""
from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
import time

import pytest

from devhost.server import serve
from tests.functions import sample_app

KEY = "test-key-0123456789"


@pytest.fixture
def host(monkeypatch):
    monkeypatch.setenv("SAMPLE_SCHEDULE", "0 0 * * * *")
    running = serve(sample_app.app, port=0, timers=False, key=KEY)
    yield running
    running.stop()


def request(host, method: str, target: str, headers: dict[str, str] | None = None, body: bytes | None = None):
    """(status, headers, body) over a fresh connection; header values are sent exactly as given."""
    conn = http.client.HTTPConnection("127.0.0.1", host.port, timeout=30)
    try:
        conn.putrequest(method, target, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(len(body or b"")))
        conn.endheaders(body)
        response = conn.getresponse()
        return response.status, response, response.read()
    finally:
        conn.close()


def exchange(port: int, data: bytes, timeout: float = 30) -> bytes:
    """Send raw bytes, then read until the host closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def access_lines(caplog, count: int) -> list[str]:
    """The access log's lines, once `count` are in (the line is written just after the answer)."""
    seen, done, deadline = [], threading.Event(), time.monotonic() + 10
    while time.monotonic() < deadline:
        seen = [r.getMessage() for r in caplog.records if r.name == "devhost.access"]
        if len(seen) >= count:
            break
        done.wait(0.01)
    return seen


# 9.1 bursts

def test_a_burst_of_200_connections_is_answered_and_none_is_reset(host):
    n, start, results = 200, threading.Barrier(200), [None] * 200

    def one(i: int) -> None:
        start.wait()
        try:
            answer = exchange(host.port, b"GET /api/health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                              timeout=15)
            results[i] = answer.split(b"\r\n", 1)[0].decode()
        except OSError as e:
            results[i] = repr(e)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    failed = [r for r in results if r != "HTTP/1.1 200 OK"]
    assert not failed, f"{len(failed)} of {n} connections got no answer: {sorted(set(failed))[:3]}"


# 9.2 slow clients

@pytest.fixture
def impatient(monkeypatch):
    monkeypatch.setenv("SAMPLE_SCHEDULE", "0 0 * * * *")
    running = serve(sample_app.app, port=0, timers=False, key=KEY, read_timeout=0.5)
    yield running
    running.stop()


def test_a_body_shorter_than_its_content_length_is_answered_408_then_closed(impatient):
    answer = exchange(impatient.port, b"POST /api/incidents HTTP/1.1\r\nHost: t\r\n"
                      + f"x-functions-key: {KEY}\r\nContent-Length: 100\r\n\r\n".encode() + b"only ten b")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ") and b"Connection: close" in head
    assert json.loads(body)["error"] == "request_timeout"
    assert request(impatient, "GET", "/api/health")[0] == 200  # the host serves on


def test_a_request_whose_headers_never_end_is_closed(impatient):
    assert exchange(impatient.port, b"GET /api/health HTTP/1.1\r\nHost: t\r\n") == b""


# 9.3 the key

def test_the_code_parameter_is_decoded_once_and_masked_in_every_log_line(host, caplog):
    caplog.set_level(logging.DEBUG, logger="devhost")
    assert request(host, "GET", f"/api/incidents/9?%63ode={KEY}&x=1")[0] == 200  # `code`, decoded once
    assert request(host, "GET", f"/api/incidents/9?c%6Fde={KEY}")[0] == 200
    assert request(host, "GET", f"/api/incidents/9?%2563ode={KEY}")[0] == 401  # decodes to `%63ode`
    assert request(host, "GET", f"/api/incidents/9?CODE={KEY}")[0] == 401  # the name is `code`, exactly
    # a malformed request line goes to the debug log: masked there too
    answer = exchange(host.port, f"GET /api/incidents/9?%63ode={KEY} x HTTP/1.1\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.1 400 ") and KEY.encode() not in answer
    lines = access_lines(caplog, 4)
    assert lines[0].startswith("GET /api/incidents/9?%63ode=***&x=1 200 ")
    assert lines[1].startswith("GET /api/incidents/9?c%6Fde=*** 200 ")
    assert lines[3].startswith("GET /api/incidents/9?CODE=*** 401 ")
    assert any("Bad request" in r.getMessage() for r in caplog.records)
    assert not [r.getMessage() for r in caplog.records if KEY in r.getMessage()]


def test_the_header_wins_and_the_first_code_counts_as_on_the_functions_host(host):
    assert request(host, "GET", f"/api/incidents/9?code={KEY}&code=wrong")[0] == 200
    assert request(host, "GET", f"/api/incidents/9?code=wrong&code={KEY}")[0] == 401
    assert request(host, "GET", f"/api/incidents/9?code={KEY}", {"x-functions-key": "wrong"})[0] == 401


@pytest.mark.parametrize("value", [f"{KEY} ", f"{KEY}\t", f" {KEY}  "])
def test_the_header_key_is_trimmed_before_it_is_compared(host, value):
    assert request(host, "GET", "/api/incidents/9", {"x-functions-key": value})[::2] == (200, b"incident 9")


# 9.6 error bodies

@pytest.mark.parametrize("method, target, headers, status", [
    ("GET", "/api/incidents/9", {}, 401),
    ("GET", "/api/incidents/9", {"x-functions-key": "wrong"}, 401),
    ("GET", "/api/incidents/9?code=wrong", {}, 401),
    ("GET", "/api/nope", {}, 404),
    ("GET", "/elsewhere", {}, 404),
    ("PUT", "/api/incidents/9", {"x-functions-key": KEY}, 405),
])
def test_the_hosts_own_errors_have_a_json_body(host, method, target, headers, status):
    got, response, body = request(host, method, target, headers)
    assert got == status and response.getheader("Content-Type") == "application/json; charset=utf-8"
    document = json.loads(body)
    assert set(document) == {"error", "message"} and document["message"]
    if status == 401:
        assert "x-functions-key" in document["message"] and "?code=" in document["message"]
