"""No secret leaks (issue 14.7): with every receiver configured with distinctive secrets (PagerDuty
routing keys, the function key, Slack's webhook URL, Jira's API token, Statuspage's API key — those
three have no sender yet, but are set — and Azurite's connection string with its account key), a
whole incident runs through the real local host (devhost.server.serve) with the loopback PagerDuty:
an alert, sweep ticks that page, acknowledge, a note, a severity change, resolve, GET incidents,
GET incident, GET oncall, GET health, a 401 and a 400. Every log record (the root logger at DEBUG:
the app, the local host's access log, the azure SDK's HTTP logging, urllib3), what was written to
stdout and stderr, and every answer's body and headers are checked: no secret appears, as is or
URL-encoded or JSON-escaped. The test's own HTTP client is http.client, which logs nothing.
"""
from __future__ import annotations

import http.client
import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import quote, quote_plus, urlsplit

import pytest
from azure.functions.timer import TimerRequest

from devhost.azurite import DEV_KEY
from shared import bootstrap
from shared.adapters.clock import FixedClock
from tests.fakes.pagerduty import FakePagerDuty
from tests.payloads import CORE_SETTINGS, metric_alert

ROLES = ("primary", "secondary", "engineering_lead", "vp_engineering", "security_lead", "customer_success_lead", "cto")
ROUTING_KEYS = {role: f"RKEY{i}{role.upper().replace('_', '')}".ljust(32, "Q")[:32] for i, role in enumerate(ROLES)}
FUNCTION_KEY = "fnkey-ZX81+/secret=value&more"
SLACK_TOKEN = "XoXoSlackHookToken4242"
SLACK_URL = f"https://hooks.slack.com/services/T0LEAK000/B0LEAK000/{SLACK_TOKEN}"
JIRA_TOKEN = "jira-ATATT3xLeakyToken+/=9000"
STATUSPAGE_KEY = "sp-key-0f0f0f0f-LEAK-4b4b"
CHECKED = {"records": 0, "answers": 0, "headers": 0}


@pytest.fixture(scope="module", autouse=True)
def _summary(request):
    class Summary:
        @staticmethod
        def pytest_terminal_summary(terminalreporter):
            if CHECKED["records"]:
                terminalreporter.write_line(
                    f"secret leaks: {CHECKED['records']} log records, {CHECKED['answers']} answer bodies and "
                    f"{CHECKED['headers']} answer headers checked for {len(SECRETS)} secrets; none found")
    if not request.config.pluginmanager.has_plugin("no-secret-leaks-summary"):
        request.config.pluginmanager.register(Summary(), "no-secret-leaks-summary")
    yield


def forms(secret: str) -> set[str]:
    """The ways a secret can be written: as is, URL-encoded (path and form style), JSON-escaped."""
    return {secret, quote(secret, safe=""), quote(secret), quote_plus(secret), json.dumps(secret)[1:-1]}


SECRETS: dict[str, str] = {**{f"routing key of {r}": k for r, k in ROUTING_KEYS.items()},
                           "function key": FUNCTION_KEY, "Slack webhook URL": SLACK_URL, "Slack token": SLACK_TOKEN,
                           "Jira API token": JIRA_TOKEN, "Statuspage API key": STATUSPAGE_KEY,
                           "Azurite account key": DEV_KEY}


def leaks(text: str) -> list[str]:
    return [name for name, secret in SECRETS.items() if any(f in text for f in forms(secret))]


class Capture(logging.Handler):
    """Every record, formatted with its traceback and every attribute passed in `extra`."""

    STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self.texts: list[str] = []
        self.names: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        extra = {k: v for k, v in vars(record).items() if k not in self.STANDARD}
        self.texts.append(self.format(record) + (f" {extra!r}" if extra else ""))
        self.names.append(record.name)


@pytest.fixture
def capture():
    root, handler = logging.getLogger(), Capture()
    quiet = {name: lg.level for name, lg in logging.root.manager.loggerDict.items()
             if isinstance(lg, logging.Logger) and lg.level > logging.DEBUG}
    before = root.level
    root.setLevel(logging.DEBUG)
    for name in quiet:
        logging.getLogger(name).setLevel(logging.DEBUG)
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)
    root.setLevel(before)
    for name, level in quiet.items():
        logging.getLogger(name).setLevel(level)


@dataclass
class Answer:
    method: str
    status: int
    headers: list[tuple[str, str]]
    text: str


def request(url: str, method: str, body, headers: dict[str, str]) -> Answer:
    """One call with http.client, which logs nothing: every record captured is the app's or its host's."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        data = None if body is None else json.dumps(body).encode()
        conn.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), body=data,
                     headers={**headers, **({"Content-Type": "application/json"} if data else {})})
        resp = conn.getresponse()
        return Answer(method, resp.status, resp.getheaders(), resp.read().decode())
    finally:
        conn.close()


def test_the_leak_check_would_see_each_form():
    for name, secret in SECRETS.items():
        for form in forms(secret):
            assert name in leaks(f"...{form}...")


def test_a_whole_incident_leaks_no_secret_into_logs_or_answers(azurite, monkeypatch, capture, capfd):
    settings = {**CORE_SETTINGS, "TABLES_CONNECTION_STRING": azurite.connection_string,
                "TABLE_NAME": f"leaks{os.getpid()}", "FUNCTIONS_KEY": FUNCTION_KEY,
                "PAGERDUTY_ROUTING_KEYS": json.dumps(ROUTING_KEYS), "SLACK_WEBHOOK_URL": SLACK_URL,
                "JIRA_BASE_URL": "https://leaky.atlassian.net", "JIRA_USER": "bot@example.com",
                "JIRA_API_TOKEN": JIRA_TOKEN, "JIRA_PROJECT_KEY": "INC", "STATUSPAGE_PAGE_ID": "page1",
                "STATUSPAGE_API_KEY": STATUSPAGE_KEY}
    import function_app
    from devhost.server import serve
    clock = FixedClock(datetime(2026, 11, 27, 3, 0, tzinfo=timezone.utc))
    with FakePagerDuty() as pd:
        monkeypatch.setenv("PAGERDUTY_EVENTS_URL", pd.url)
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        bootstrap.reset()
        host = serve(function_app.app, port=0, timers=False, key=FUNCTION_KEY, clock=clock)
        answers: list[Answer] = []
        try:
            api, auth = f"{host.url}/api", {"x-functions-key": FUNCTION_KEY}
            timers = {t.name: t for t in host.timers}

            def call(method: str, path: str, body=None, headers=auth, status: int = 200) -> dict:
                r = request(f"{api}/{path}", method, body, headers)
                answers.append(r)
                assert r.status == status, (method, path, r.status, r.text)
                return json.loads(r.text)

            def tick(minutes: float = 0):
                clock.advance(minutes=minutes)
                for name in ("escalation_sweep", "remediation_sweep"):
                    timers[name].fn(**{timers[name].arg: TimerRequest(past_due=False)})

            posted = call("POST", "alerts", metric_alert("leak1", severity="Sev0", custom={"impact": "core",
                                                                                           "scope": "all"}), status=202)
            inc = posted["incident_id"]
            tick()
            tick(10)                                                       # the secondary is paged
            call("POST", f"incidents/{inc}/acknowledge", {"actor": "alice", "message": "on it"})
            tick(0.2)
            call("POST", f"incidents/{inc}/notes", {"actor": "alice", "text": "rolled back the deploy"})
            call("POST", f"incidents/{inc}/severity", {"actor": "dan", "severity": "SEV-2", "reason": "one region"})
            call("POST", f"incidents/{inc}/resolve", {"actor": "alice", "message": "fixed"})
            tick(0.2)
            call("GET", "incidents")
            shown = call("GET", f"incidents/{inc}")
            call("GET", "oncall")
            call("GET", "health", headers={}, status=200)
            call("GET", f"incidents?code={quote(FUNCTION_KEY, safe='')}", headers={})     # the key in the URL
            call("GET", "incidents", headers={}, status=401)
            call("GET", "incidents", headers={"x-functions-key": FUNCTION_KEY[:-1]}, status=401)
            call("POST", f"incidents/{inc}/notes", {"actor": "alice", "text": 7}, status=400)
        finally:
            host.stop()
        pd_keys = {e["routing_key"] for e in pd.events}

    # the run did what it says: pages with the secret keys reached PagerDuty, the logs saw every layer
    assert {ROUTING_KEYS["primary"], ROUTING_KEYS["secondary"]} <= pd_keys
    assert {e["kind"] for e in shown["timeline"]} >= {"created", "acknowledged", "note", "severity", "resolved"}
    assert sum("PagerDuty trigger" in e["text"] and "delivered" in e["text"] for e in shown["timeline"]) == 2
    names = set(capture.names)
    assert "devhost.access" in names and any(n.startswith("azure.") for n in names)
    assert any(n.startswith("urllib3") for n in names) and any(n.startswith("shared.") for n in names)

    printed = capfd.readouterr()          # anything written to stdout/stderr outside logging
    found = [(name, "stdout/stderr") for name in leaks(printed.out + printed.err)]
    for text in capture.texts:
        found += [(name, text[:300]) for name in leaks(text)]
    for r in answers:
        found += [(name, f"{r.method} {r.status} body") for name in leaks(r.text)]
        for header, value in r.headers:
            found += [(name, f"{r.method} {r.status} header {header}") for name in leaks(f"{header}: {value}")]
    CHECKED["records"] += len(capture.texts)
    CHECKED["answers"] += len(answers)
    CHECKED["headers"] += sum(len(r.headers) for r in answers)
    assert found == []
