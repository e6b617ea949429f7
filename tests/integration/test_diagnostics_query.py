"""Runbook step 2's Application Insights query on the diagnostics timeline (issue 13, point 8): run
through the real azure-monitor-query LogsQueryClient against a loopback Log Analytics query API,
next to the resource checks; failures and timeouts are recorded and never block."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shared import bootstrap
from shared.adapters.arm.logs import LogAnalyticsQueries
from shared.adapters.arm.metrics import MonitoredArmResources
from shared.config import Settings
from shared.ports import Observers
from shared.services.diagnostics import ERROR_SPIKES_QUERY
from tests.fakes.arm import FakeArm
from tests.fakes.loganalytics import WORKSPACE, FakeLogAnalytics
from tests.integration.test_remediation import Env, api_5xx

ROOT = Path(__file__).resolve().parents[2]
ROWS = [["500", "POST /api/orders", 412], ["503", "GET /api/workflows", 120], ["500", "GET /api/agents", 64],
        ["504", "GET /api/reports", 31], ["502", "POST /api/approvals", 9], ["500", "GET /api/tenants", 2]]


@pytest.fixture
def arm(clock):
    with FakeArm(now=clock.now) as fake:
        yield fake


@pytest.fixture
def logs():
    with FakeLogAnalytics() as fake:
        fake.rows = [list(r) for r in ROWS]
        yield fake


def env_with(memory_store, clock, arm: FakeArm, logs: FakeLogAnalytics | None, timeout_s: float = 10.0) -> Env:
    env = Env(memory_store, clock, arm, mode="dry-run")
    query = LogAnalyticsQueries(workspace_id=WORKSPACE, endpoint=logs.url, timeout_s=timeout_s) if logs else None
    env.client = MonitoredArmResources(endpoint=arm.url, subscription_id=arm.subscription_id, retry_backoff_s=0,
                                       observers=Observers(logs=query))
    return env


def diagnostics_text(env: Env, inc: str) -> str:
    return next(e for e in env.show(inc)["timeline"] if e["kind"] == "diagnostics")["text"]


def test_the_runbook_query_runs_and_its_top_rows_go_next_to_the_resource_checks(memory_store, clock, arm, logs):
    env = env_with(memory_store, clock, arm, logs)
    inc = api_5xx(env)["incident_id"]
    env.tick()
    [req] = logs.requests
    assert req.path == f"/v1/workspaces/{WORKSPACE}/query" and req.authorization == "Bearer ***"
    assert req.body["query"] == ERROR_SPIKES_QUERY
    assert "AppRequests\n| where Success == false\n| where TimeGenerated > ago(15m)" in req.body["query"]
    assert req.body["timespan"] == "PT900.0S" and req.prefer == "wait=10"
    text = diagnostics_text(env, inc)
    assert text.startswith("Diagnostics (runbook step 2):\nApplication Insights failed requests, last 15 min: top 5")
    assert "  500 POST /api/orders: 412\n  503 GET /api/workflows: 120" in text
    assert "  502 POST /api/approvals: 9" in text and "GET /api/tenants" not in text      # the top 5 only
    assert "API container app: Running" in text                                          # the resource checks too
    facts = env.show(inc)["diagnostics"]
    assert facts["app_requests"]["rows"][0] == {"result_code": "500", "operation": "POST /api/orders", "count": 412}
    assert len(facts["app_requests"]["rows"]) == 5 and facts["api"]["running_status"] == "Running"
    chat = [r.data["text"] for r in env.store.scan(start="out|", end="out}").records
            if r.data["channel"] == "chat" and r.data.get("opener")]
    assert "500 POST /api/orders: 412" in chat[0]           # the first message carries them (initial assessment)


def test_without_a_workspace_the_timeline_says_the_query_was_skipped_and_why(memory_store, clock, arm):
    env = env_with(memory_store, clock, arm, None)
    inc = api_5xx(env)["incident_id"]
    env.tick()
    text = diagnostics_text(env, inc)
    assert ("Application Insights failed requests, last 15 min: query skipped (LOG_ANALYTICS_WORKSPACE_ID is not "
            "set)") in text
    assert "API container app: Running" in text
    assert env.show(inc)["diagnostics"]["app_requests"] == {"skipped": "LOG_ANALYTICS_WORKSPACE_ID is not set"}


def test_a_failed_query_is_recorded_and_the_other_checks_still_run(memory_store, clock, arm, logs):
    logs.mode = "fail"
    env = env_with(memory_store, clock, arm, logs)
    inc = api_5xx(env)["incident_id"]
    env.tick()
    text = diagnostics_text(env, inc)
    assert ("Application Insights failed requests, last 15 min: unavailable (Log Analytics query failed: HTTP 400"
            in text)
    assert "API container app: Running" in text and "PostgreSQL: Ready" in text
    assert env.rem(inc)["plan"]                              # the remediation's plan step ran in the same sweep
    assert "HTTP 400" in env.show(inc)["diagnostics"]["app_requests"]["error"]


def test_a_query_that_takes_too_long_is_cut_off_at_the_timeout(memory_store, clock, arm, logs):
    logs.mode, logs.delay_s = "slow", 3.0
    env = env_with(memory_store, clock, arm, logs, timeout_s=0.5)
    inc = api_5xx(env)["incident_id"]
    started = time.monotonic()
    env.tick()
    assert time.monotonic() - started < 2.5                    # bounded: one attempt, no retry
    assert "unavailable (Log Analytics query timed out after 0.5 s)" in diagnostics_text(env, inc)
    assert len(logs.requests) == 1


def test_a_partial_result_is_shown_with_what_the_service_said(memory_store, clock, arm, logs):
    logs.mode = "partial"
    env = env_with(memory_store, clock, arm, logs)
    inc = api_5xx(env)["incident_id"]
    env.tick()
    text = diagnostics_text(env, inc)
    assert "  500 POST /api/orders: 412" in text
    assert "(partial result: PartialError There were some errors when processing your query.)" in text


def test_a_token_the_query_api_refuses_is_recorded_not_raised(memory_store, clock, arm, logs):
    class OtherToken:
        def get_token(self, *scopes, **kw):
            from azure.core.credentials import AccessToken
            return AccessToken("not-the-token", int(time.time()) + 3600)

        def get_token_info(self, *scopes, options=None):
            from azure.core.credentials import AccessTokenInfo
            return AccessTokenInfo("not-the-token", int(time.time()) + 3600)
    env = env_with(memory_store, clock, arm, logs)
    env.client.observers = Observers(logs=LogAnalyticsQueries(workspace_id=WORKSPACE, endpoint=logs.url,
                                                              credential=OtherToken()))
    inc = api_5xx(env)["incident_id"]
    env.tick()
    assert "unavailable (Log Analytics query failed: HTTP 401" in diagnostics_text(env, inc)


def test_the_settings_wire_the_query_to_the_workspace(memory_store, clock, arm, logs):
    """bootstrap builds the observers from LOG_ANALYTICS_WORKSPACE_ID and LOG_ANALYTICS_ENDPOINT; a loopback
    endpoint gets the static development token (as AZURE_ARM_ENDPOINT does)."""
    bootstrap.override(settings=Settings.from_env({
        "AZURE_SUBSCRIPTION_ID": arm.subscription_id, "AZURE_ARM_ENDPOINT": arm.url, "API_CONTAINER_APP_ID": arm.app_id,
        "LOG_ANALYTICS_WORKSPACE_ID": WORKSPACE, "LOG_ANALYTICS_ENDPOINT": logs.url}))
    env = Env(memory_store, clock, arm, mode="dry-run")
    env.remedy = bootstrap.remedy()
    inc = api_5xx(env)["incident_id"]
    env.tick()
    assert "500 POST /api/orders: 412" in diagnostics_text(env, inc)
    assert [r.authorization for r in logs.requests] == ["Bearer ***"]


def test_importing_the_app_loads_no_monitor_query_sdk():
    code = ("import sys, function_app; from shared import bootstrap; "
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('azure.monitor', 'azure.mgmt')))))")
    out = subprocess.run([sys.executable, "-c", "import json; " + code], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    assert json.loads(out.stdout) == []
