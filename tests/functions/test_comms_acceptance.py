"""The communications issue's acceptance on the local host: the real function_app served by devhost over
HTTP on a real Azurite, its clock 120 times faster than real time, every receiver configured by its
settings and standing in as a loopback fake speaking its real API (Slack Web API, Teams Workflows,
Jira Cloud, Statuspage, PagerDuty). A SEV-1 on the API container app, with Slack refusing its first
three calls, must tell chat once (the initial assessment), open one Jira ticket, draft the customer
emails into chat by minute 30 and say "Investigating" on Statuspage by minute 60; a responder's
"identified" and the resolution then reach Statuspage and the anonymous public status page. No secret
shows in any log record of the host (the test's process, the root logger at DEBUG), in what it
printed, or in any answer it gave.

The host's clock is scaled wall-clock time, so the test polls the fakes' state with deadlines in real
seconds computed from the scale (app-minute 60 is 30 s at 120x), plus a margin.
"""
from __future__ import annotations

import base64
import json
import os
import time

import requests

from devhost.server import serve
from shared import bootstrap
from shared.config import Settings
from shared.domain.timeutil import parse_iso
from tests.fakes.jira import FakeJira
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.fakes.statuspage import PAGE_ID, FakeStatuspage
from tests.fakes.teams import FakeTeamsWorkflow
from tests.integration.test_no_secret_leaks import ROLES, capture, leaks  # noqa: F401  (capture: a fixture)
from tests.payloads import CORE_SETTINGS, metric_alert

SCALE = 120
MARGIN_S = 3.0          # real seconds added to every poll's deadline (6 app-minutes at 120x)
LATE_MIN = 5.0          # app-minutes a delivery may trail its step: at 120x one sweep (due every 10 app-seconds)
                        # takes 0.2-1 app-minutes on a busy machine, each HTTP call to a receiver a few seconds
CHANNEL, COMPONENT = "C0INCIDENTS", "cmp0api00001"
FUNCTION_KEY = "fk-Comms+Accept/=0042"
ROUTING_KEYS = {role: f"PD{i}{role.upper().replace('_', '')}".ljust(32, "Z")[:32] for i, role in enumerate(ROLES)}
SLACK_TOKEN = "xoxb-7777-ACCEPT-comms-bot-token"
TEAMS_SIG = "TeamsSig-ACCEPT+/=7777"
JIRA_USER, JIRA_TOKEN = "ir-bot@example.com", "ATATT3xAcceptComms+/=7777"
STATUSPAGE_KEY = "spkey-accept-comms-7777"
# milestone -> (its delivery event in the incident's timeline, the runbook's minute, the latest app-minute)
MILESTONES = {"initial assessment in chat": ("Chat initial assessment: delivered", 0, 2 * LATE_MIN),   # 3 retries
              "Jira ticket": ("Jira ticket: delivered", 0, LATE_MIN),
              "customer email drafts in chat": ("Chat customer email draft: delivered", 30, 30 + LATE_MIN),
              "Statuspage investigating": ("Status page investigating: delivered", 60, 60 + LATE_MIN)}


def settings(azurite, slack, teams, jira, page, pd) -> dict[str, str]:
    """Every receiver configured as an operator would, by its app settings, pointed at the fakes."""
    return {**CORE_SETTINGS, "TABLES_CONNECTION_STRING": azurite.connection_string,
            "TABLE_NAME": f"comms{os.getpid()}", "ESCALATION_SCHEDULE": "*/10 * * * * *",
            "PAGERDUTY_EVENTS_URL": pd.url, "PAGERDUTY_ROUTING_KEYS": json.dumps(ROUTING_KEYS),
            "SLACK_BOT_TOKEN": SLACK_TOKEN, "SLACK_CHANNEL": CHANNEL, "SLACK_API_URL": slack.api_url,
            "TEAMS_WEBHOOK_URL": teams.webhook_url, "JIRA_BASE_URL": jira.url, "JIRA_USER": JIRA_USER,
            "JIRA_API_TOKEN": JIRA_TOKEN, "JIRA_PROJECT_KEY": jira.project_key, "STATUSPAGE_API_URL": page.api_url,
            "STATUSPAGE_PAGE_ID": PAGE_ID, "STATUSPAGE_API_KEY": STATUSPAGE_KEY,
            "STATUSPAGE_COMPONENTS": json.dumps({"api": COMPONENT})}


def secrets(teams: FakeTeamsWorkflow) -> dict[str, str]:
    return {"function key": FUNCTION_KEY, "Slack bot token": SLACK_TOKEN, "Teams webhook URL": teams.webhook_url,
            "Teams signature": TEAMS_SIG, "Jira API token": JIRA_TOKEN, "Statuspage API key": STATUSPAGE_KEY,
            "Jira Basic credentials": base64.b64encode(f"{JIRA_USER}:{JIRA_TOKEN}".encode()).decode(),
            **{f"routing key of {role}": key for role, key in ROUTING_KEYS.items()}}


class LocalHost:
    """The local host at SCALE, and every answer it gave the test (for the leak check)."""

    def __init__(self, env: dict[str, str]):
        import function_app
        bootstrap.override(settings=Settings.from_env(env))
        self.host = serve(function_app.app, port=0, time_scale=SCALE, key=FUNCTION_KEY,
                          environ={"ESCALATION_SCHEDULE": env["ESCALATION_SCHEDULE"]})
        self.answers: list[requests.Response] = []

    def call(self, method: str, route: str, body: dict | None = None, *, key: bool = True) -> requests.Response:
        r = requests.request(method, f"{self.host.url}/api/{route}", json=body, timeout=10,
                             headers={"x-functions-key": FUNCTION_KEY} if key else {})
        self.answers.append(r)
        assert r.status_code in (200, 201, 202), (method, route, r.status_code, r.text[:500])
        return r


def wait(what: str, check, *, start: float, by_minute: float):
    """Poll check() (the fakes' state) until it holds and return its value. The deadline is app-minute
    `by_minute` after `start` (a time.monotonic()), in real seconds at SCALE, plus MARGIN_S."""
    deadline = start + by_minute * 60 / SCALE + MARGIN_S
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what}: not seen by app-minute {by_minute:g} (+{MARGIN_S:g} real seconds)")


def delivered_at(incident: dict, text: str) -> float:
    """The app-minute (after the incident opened) of the last timeline delivery event starting with `text`."""
    opened = parse_iso(incident["created_at"])
    times = [parse_iso(e["at"]) for e in incident["timeline"] if e["kind"] == "delivery" and e["text"].startswith(text)]
    assert times, f"no delivery event {text!r}"
    return (max(times) - opened).total_seconds() / 60


def test_a_sev1_tells_chat_jira_and_statuspage_on_the_local_host_at_120x(azurite, capture, capfd):  # noqa: F811
    with FakeSlack(token=SLACK_TOKEN) as slack, FakeTeamsWorkflow(sig=TEAMS_SIG) as teams, \
            FakeJira(user=JIRA_USER, token=JIRA_TOKEN) as jira, FakePagerDuty() as pd, \
            FakeStatuspage(api_key=STATUSPAGE_KEY, components={COMPONENT: "API"}) as page:
        slack.fail_next(3, status=503)
        local = LocalHost(settings(azurite, slack, teams, jira, page, pd))
        try:
            start, fired = time.monotonic(), local.host.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
            inc = local.call("POST", "alerts", metric_alert("comms1", severity="Sev0", fired=fired, custom={
                "impact": "core", "scope": "all", "tenants": "contoso,fabrikam"})).json()["incident_id"]
            deadline = {name: minute for name, (_, _, minute) in MILESTONES.items()}
            root = wait("the initial assessment in Slack", lambda: next(iter(slack.in_channel(CHANNEL)), None),
                        start=start, by_minute=deadline["initial assessment in chat"])
            wait("the Jira ticket", lambda: jira.count(inc), start=start, by_minute=deadline["Jira ticket"])
            wait("two customer email drafts in the thread", lambda: len(
                [m for m in slack.replies(CHANNEL, root.ts) if "Draft customer email" in m.text]) == 2,
                start=start, by_minute=deadline["customer email drafts in chat"])
            assert page.incidents == {}, "nothing public before the 60-minute step"
            public = wait("the Statuspage incident", lambda: next(iter(page.of(inc)), None), start=start,
                          by_minute=deadline["Statuspage investigating"])
            assert public["status"] == "investigating" and page.components[COMPONENT]["status"] == "major_outage"

            local.call("POST", f"incidents/{inc}/status", {"actor": "alice", "phase": "identified",
                                                           "message": "A bad deployment of the API"})
            local.call("POST", f"incidents/{inc}/resolve", {"actor": "alice", "message": "Rolled back"})
            asked = time.monotonic()
            wait("Statuspage resolved", lambda: page.of(inc)[0]["status"] == "resolved", start=asked,
                 by_minute=LATE_MIN)
            wait("the Jira ticket done", lambda: jira.issues[0]["status"] == "Done", start=asked, by_minute=LATE_MIN)
            status = local.call("GET", "status", key=False).json()
            html = local.call("GET", "status.html", key=False).text
            shown = local.call("GET", f"incidents/{inc}").json()
        finally:
            local.host.stop()

    # on time: each milestone's delivery, read off the incident's timeline
    seen = {name: delivered_at(shown, text) for name, (text, _, _) in MILESTONES.items()}
    seen["Statuspage resolved"] = delivered_at(shown, "Status page resolved: delivered")
    for name, (_, step, by) in MILESTONES.items():
        assert step <= seen[name] <= by, (name, seen)
    # chat: the initial assessment once, after three refusals (Teams took it at the first attempt)
    assert [a[1] for a in slack.answers[:4]] == [503, 503, 503, 200]
    assert len(slack.in_channel(CHANNEL)) == 1 and root.text.count("SEVERITY: SEV-1") == 1
    assert [c["body"][0]["text"].startswith("INCIDENT:") for c in teams.cards].count(True) == 1
    chat = [e["text"] for e in shown["timeline"] if e["kind"] == "delivery" and e["text"].startswith("Chat initial")]
    assert len([t for t in chat if "failed (503" in t and "will retry" in t]) == 3, chat
    assert len([t for t in chat if "delivered" in t]) == 1, chat
    # one ticket, done; Statuspage told every phase and the component is back
    assert jira.count(inc) == 1 and jira.issues[0]["status"] == "Done"
    [public] = page.of(inc)
    assert [u["status"] for u in reversed(public["incident_updates"])] == ["investigating", "identified", "resolved"]
    assert page.components[COMPONENT]["status"] == "operational" and pd.count("trigger", f"{inc}.cto") == 1

    # the anonymous public page shows every phase
    [shown_public] = status["incidents"]
    assert shown_public["phase"] == "resolved"
    assert [u["phase"] for u in shown_public["updates"]] == ["resolved", "identified", "investigating"]
    for phase in ("investigating", "identified", "resolved"):
        assert f'class="phase-word phase-{phase}">{phase.capitalize()}</strong>' in html, phase

    # no secret in the host's log records, in what was printed, or in any answer
    known = secrets(teams)
    printed = capfd.readouterr()
    found = [(name, "stdout/stderr") for name in leaks(printed.out + printed.err, known)]
    found += [(name, text[:300]) for text in capture.texts for name in leaks(text, known)]
    for r in local.answers:
        text = r.text + "".join(f"{k}: {v}\n" for k, v in r.headers.items())
        found += [(name, f"{r.request.method} {r.url.split('/api/')[1]}") for name in leaks(text, known)]
    assert {"devhost.access", "urllib3.connectionpool", "shared.adapters.notify.slack"} <= set(capture.names)
    assert found == [], found[:10]
    print("\nmilestones (app-minutes after the incident opened): "
          + ", ".join(f"{name} {minute:.2f}" for name, minute in seen.items())
          + f"; {len(capture.texts)} log records and {len(local.answers)} answers checked for {len(known)} secrets")
