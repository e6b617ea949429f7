"""No secret leaks (issue 14.7): with every receiver configured with distinctive secrets (PagerDuty
routing keys, the function key, Slack's bot token or its webhook URL, the Teams workflow's signed URL,
Jira's API token, Statuspage's API key, and Azurite's connection string with its account key), a whole
incident runs through the real local host (devhost.server.serve) with every receiver a loopback fake
(PagerDuty, Slack, Teams, Jira, Statuspage): an alert, sweep ticks that page and deliver, acknowledge,
a note, a public status update, a severity change, resolve, GET incidents, GET incident, GET oncall,
GET health, a 401 and a 400. It runs twice: chat through Slack's Web API (bot token), then through its
incoming webhook. Every log record (the root logger at DEBUG: the app, the local host's access log,
the azure SDK's HTTP logging, urllib3), what was written to stdout and stderr, and every answer's body
and headers are checked: no secret appears, as is or URL-encoded or JSON-escaped. The test's own HTTP
client is http.client, which logs nothing.
"""
from __future__ import annotations

import base64
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
from tests.fakes.jira import FakeJira
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.fakes.statuspage import PAGE_ID, FakeStatuspage
from tests.fakes.teams import FakeTeamsWorkflow
from tests.payloads import CORE_SETTINGS, metric_alert

ROLES = ("primary", "secondary", "engineering_lead", "vp_engineering", "security_lead", "customer_success_lead", "cto")
ROUTING_KEYS = {role: f"RKEY{i}{role.upper().replace('_', '')}".ljust(32, "Q")[:32] for i, role in enumerate(ROLES)}
FUNCTION_KEY = "fnkey-ZX81+/secret=value&more"
SLACK_BOT_TOKEN = "xoxb-4242-LEAKY-bot+/=token"
SLACK_HOOK_SECRET = "XoXoSlackHookToken4242"
SLACK_HOOK_PATH = f"/services/T000/B000/{SLACK_HOOK_SECRET}"       # FakeSlack's webhook path: the URL's secret part
TEAMS_SIG = "TeamsSig-LEAK+/=0f0f"                                # the Teams workflow URL's `sig`
JIRA_USER, JIRA_TOKEN = "bot@example.com", "jira-ATATT3xLeakyToken+/=9000"
STATUSPAGE_KEY = "sp-key-0f0f0f0f-LEAK-4b4b"
CHAT = {"web-api": "Slack Web API", "webhook": "Slack webhook"}    # the chat variants, by test id
CHECKED = {"records": 0, "answers": 0, "headers": 0, "runs": []}


@pytest.fixture(scope="module", autouse=True)
def _summary(request):
    class Summary:
        @staticmethod
        def pytest_terminal_summary(terminalreporter):
            if CHECKED["records"]:
                terminalreporter.write_line(
                    f"secret leaks: {len(CHECKED['runs'])} whole incident(s) (chat by {' / '.join(CHECKED['runs'])}; "
                    f"PagerDuty, Teams, Jira and Statuspage each time): {CHECKED['records']} log records, "
                    f"{CHECKED['answers']} answer bodies and {CHECKED['headers']} answer headers checked for "
                    f"{len(SECRETS)} secrets; none found")
    if not request.config.pluginmanager.has_plugin("no-secret-leaks-summary"):
        request.config.pluginmanager.register(Summary(), "no-secret-leaks-summary")
    yield


def forms(secret: str) -> set[str]:
    """The ways a secret can be written: as is, URL-encoded (path and form style), JSON-escaped."""
    return {secret, quote(secret, safe=""), quote(secret), quote_plus(secret), json.dumps(secret)[1:-1]}


# The webhook URLs' loopback ports change per run: their secret parts stand for them (a leaked URL holds them).
SECRETS: dict[str, str] = {**{f"routing key of {r}": k for r, k in ROUTING_KEYS.items()},
                           "function key": FUNCTION_KEY, "Slack bot token": SLACK_BOT_TOKEN,
                           "Slack webhook path": SLACK_HOOK_PATH, "Slack webhook secret": SLACK_HOOK_SECRET,
                           "Teams webhook signature": TEAMS_SIG, "Jira API token": JIRA_TOKEN,
                           "Jira Basic credentials": base64.b64encode(f"{JIRA_USER}:{JIRA_TOKEN}".encode()).decode(),
                           "Statuspage API key": STATUSPAGE_KEY, "Azurite account key": DEV_KEY}


def leaks(text: str, secrets: dict[str, str] | None = None) -> list[str]:
    """The names of the secrets (default SECRETS) that `text` holds in any of their forms."""
    return [name for name, secret in (SECRETS if secrets is None else secrets).items()
            if any(f in text for f in forms(secret))]


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


@pytest.fixture
def receivers():
    """Every receiver a loopback fake that takes only the secrets above."""
    with FakePagerDuty() as pd, FakeSlack(token=SLACK_BOT_TOKEN, hook_secret=SLACK_HOOK_SECRET) as slack, \
            FakeTeamsWorkflow(sig=TEAMS_SIG) as teams, \
            FakeJira(user=JIRA_USER, token=JIRA_TOKEN, project_key="INC") as jira, \
            FakeStatuspage(api_key=STATUSPAGE_KEY, components={"cmp0api00001": "API"}) as page:
        yield pd, slack, teams, jira, page


def receiver_settings(chat: str, pd, slack, teams, jira, page) -> dict[str, str]:
    slack_settings = {"SLACK_BOT_TOKEN": SLACK_BOT_TOKEN, "SLACK_CHANNEL": "C0INCIDENTS",
                      "SLACK_API_URL": slack.api_url} if chat == "web-api" else {"SLACK_WEBHOOK_URL": slack.webhook_url}
    return {"PAGERDUTY_EVENTS_URL": pd.url, "PAGERDUTY_ROUTING_KEYS": json.dumps(ROUTING_KEYS), **slack_settings,
            "TEAMS_WEBHOOK_URL": teams.webhook_url, "JIRA_BASE_URL": jira.url, "JIRA_USER": JIRA_USER,
            "JIRA_API_TOKEN": JIRA_TOKEN, "JIRA_PROJECT_KEY": "INC", "STATUSPAGE_API_URL": page.api_url,
            "STATUSPAGE_PAGE_ID": PAGE_ID, "STATUSPAGE_API_KEY": STATUSPAGE_KEY,
            "STATUSPAGE_COMPONENTS": json.dumps({"api": "cmp0api00001"})}


@pytest.mark.parametrize("chat", list(CHAT))
def test_a_whole_incident_leaks_no_secret_into_logs_or_answers(azurite, monkeypatch, capture, capfd, receivers, chat):
    pd, slack, teams, jira, page = receivers
    settings = {**CORE_SETTINGS, "TABLES_CONNECTION_STRING": azurite.connection_string,
                "TABLE_NAME": f"leaks{os.getpid()}{chat.replace('-', '')}", "FUNCTIONS_KEY": FUNCTION_KEY,
                **receiver_settings(chat, *receivers)}
    import function_app
    from devhost.server import serve
    clock = FixedClock(datetime(2026, 11, 27, 3, 0, tzinfo=timezone.utc))
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
        tick()                                                         # page, initial assessment, Jira ticket
        tick(10)                                                       # the secondary is paged
        call("POST", f"incidents/{inc}/acknowledge", {"actor": "alice", "message": "on it"})
        tick(0.2)
        call("POST", f"incidents/{inc}/notes", {"actor": "alice", "text": "rolled back the deploy"})
        call("POST", f"incidents/{inc}/status", {"actor": "alice", "phase": "identified", "message": "a bad deploy"})
        call("POST", f"incidents/{inc}/severity", {"actor": "dan", "severity": "SEV-2", "reason": "one region"})
        call("POST", f"incidents/{inc}/resolve", {"actor": "alice", "message": "fixed"})
        for _ in range(5):                                             # messages held behind earlier ones go out
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

    # the run did what it says: pages with the secret keys reached PagerDuty, every receiver took its
    # messages with its secret, and the logs saw every layer
    assert {ROUTING_KEYS["primary"], ROUTING_KEYS["secondary"]} <= {e["routing_key"] for e in pd.events}
    assert {e["kind"] for e in shown["timeline"]} >= {"created", "acknowledged", "note", "severity", "resolved"}
    assert sum("PagerDuty trigger" in e["text"] and "delivered" in e["text"] for e in shown["timeline"]) == 2
    assert {m.via for m in slack.messages} == {"api" if chat == "web-api" else "webhook"}
    assert len(slack.messages) == len(teams.cards) >= 5      # initial, acknowledged, phase, severity, resolved
    assert jira.count(inc) == 1 and jira.issues[0]["status"] == "Done"
    [public] = page.of(inc)
    assert [u["status"] for u in reversed(public["incident_updates"])] == ["identified", "resolved"]
    deliveries = [e["text"] for e in shown["timeline"] if e["kind"] == "delivery"]
    assert not [t for t in deliveries if "failed" in t or t.startswith(("Chat", "Jira", "Status page")) and
                "not sent" in t], deliveries
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
    CHECKED["runs"].append(CHAT[chat])
    assert found == []
