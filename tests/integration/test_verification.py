"""Verification as runbook step 4 says (issue 13, point 9): the API's health URL answers 200, its 5xx
rate (Azure Monitor's Requests metric, served by the loopback ARM) is back under the hour before the
incident, the smoke tests answer as expected, and all of it holds through the verification window.
Each round's probes are on the timeline; unconfigured probes are skipped and said so."""
from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from shared import bootstrap
from shared.adapters.arm.metrics import ArmMetrics, MonitoredArmResources
from shared.adapters.probes import RequestsProbe
from shared.config import Settings
from shared.ports import Observers
from shared.storage.remediation_locks import lock_key
from tests.fakes.arm import FakeArm
from tests.integration.test_remediation import Env

T0 = datetime(2026, 11, 27, 3, 0, tzinfo=timezone.utc)     # the clock fixture's start: the incident begins


class _Quiet(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass        # a probe closes its connection without reading the body: nothing to report


class Endpoints:
    """The API's health and smoke-test URLs: a loopback server answering a status per path."""

    def __init__(self) -> None:
        self.status = {"/health": 200, "/smoke/orders": 200, "/smoke/ping": 204}
        self.delay_s: dict[str, float] = {}
        self.hits: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                outer.hits.append(self.path)
                time.sleep(outer.delay_s.get(path, 0))
                body = json.dumps({"path": path}).encode()
                try:
                    self.send_response(outer.status.get(path, 404))
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass
        self._server = _Quiet(("127.0.0.1", 0), Handler)

    def __enter__(self) -> "Endpoints":
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"


@pytest.fixture
def arm(clock):
    with FakeArm(now=clock.now) as fake:
        for m in range(60):                 # the hour before the incident: 2 server errors a minute
            fake.add_requests(T0 - timedelta(minutes=60 - m), "5xx", 2)
            fake.add_requests(T0 - timedelta(minutes=60 - m), "2xx", 500)
        yield fake


@pytest.fixture
def web():
    with Endpoints() as server:
        yield server


def observed(memory_store, clock, arm: FakeArm, observers: Observers) -> Env:
    env = Env(memory_store, clock, arm, mode="auto")
    env.client = MonitoredArmResources(endpoint=arm.url, subscription_id=arm.subscription_id, poll_interval_s=0.001,
                                       retry_backoff_s=0, observers=observers)
    return env


def all_probes(arm: FakeArm, web: Endpoints) -> Observers:
    return Observers(metrics=ArmMetrics(endpoint=arm.url), http=RequestsProbe(read_timeout_s=1.0),
                     health_url=web.url("/health"),
                     smoke_tests=((web.url("/smoke/orders"), 200), (web.url("/smoke/ping?key=s3cret"), 204)))


def reboot(env: Env) -> str:
    """A Redis alert, planned and executed (auto): the remediation is verifying at 03:00:10."""
    inc = env.alert("r1", target=env.arm.cache_id, rule="redis-errors", metric="errors", severity="Sev1")["incident_id"]
    env.tick()
    env.tick(10)
    assert env.rem(inc)["status"] == "verifying"
    return inc


def rounds(env: Env, inc: str) -> list[str]:
    return [e["text"] for e in env.show(inc)["timeline"] if e["text"].startswith("Verification of ")]


def ticks_until(env: Env, inc: str, status: str, limit: int = 60) -> int:
    for n in range(1, limit + 1):
        env.tick(30)
        if env.rem(inc)["status"] == status:
            return n
    raise AssertionError(f"not {status} after {limit} rounds: {env.rem(inc)['status']}")


def test_verified_only_once_health_error_rate_and_smoke_tests_held_through_the_window(memory_store, clock, arm, web):
    env = observed(memory_store, clock, arm, all_probes(arm, web))
    inc = reboot(env)
    env.tick(30)
    [first] = rounds(env, inc)
    port = web.url("")
    assert first.startswith(f"Verification of {env.rem(inc)['id']} (redis-reboot), check 1:\n  resource: passed "
                            "(Resource Health Available")
    assert f"\n  health {port}/health: passed (HTTP 200, " in first
    assert ("\n  5xx rate: passed (2.0 5xx/min over the last 5 min (10 of 2510 requests); baseline 2.0/min, "
            "limit 3.0/min)") in first
    assert f"\n  smoke {port}/smoke/orders: passed (HTTP 200, " in first
    assert f"\n  smoke {port}/smoke/ping: passed (HTTP 204, " in first
    assert first.endswith("\nKeep checking: stable for 0 min of 10 min")
    assert "s3cret" not in json.dumps(env.show(inc))          # a query string is never shown
    assert env.rem(inc)["status"] == "verifying"
    assert ticks_until(env, inc, "succeeded") == 20           # 10 min after the first clean round
    assert len(rounds(env, inc)) == 21
    assert any(e["text"].startswith(f"Remediation {env.rem(inc)['id']} (redis-reboot) verified: every check passed "
                                    "for 10 min") for e in env.show(inc)["timeline"])
    assert web.hits.count("/health") == 21 and web.hits.count("/smoke/ping?key=s3cret") == 21
    metric_reads = [r for r in arm.requests if r.path.endswith("/providers/Microsoft.Insights/metrics")
                    and r.path.lower().startswith(arm.app_id.lower())]
    assert len(metric_reads) == 22                           # the baseline once, then one per round
    q = metric_reads[0].query
    assert (q["api-version"], q["metricnames"], q["aggregation"], q["interval"], q["$filter"]) == (
        "2023-10-01", "Requests", "Total", "PT1M", "statusCodeCategory eq '*'")
    assert q["timespan"] == "2026-11-27T02:00:00Z/2026-11-27T03:00:00Z"
    assert metric_reads[1].query["timespan"] == "2026-11-27T02:55:00Z/2026-11-27T03:00:00Z"
    assert metric_reads[0].headers["Authorization"] == "Bearer ***"
    [audit] = [a for a in env.audit() if a["event"] == "verification"]
    assert audit["outcome"] == "succeeded" and "/health: passed" in json.loads(audit["detail"])["seen"]


def test_a_health_url_that_is_not_200_keeps_checking_then_fails_and_escalates(memory_store, clock, arm, web):
    web.status["/health"] = 503
    env = observed(memory_store, clock, arm, all_probes(arm, web))
    inc = reboot(env)
    env.tick(30)
    assert env.rem(inc)["status"] == "verifying"
    assert f"health {web.url('/health')}: failed (HTTP 503, expected 200" in rounds(env, inc)[0]
    assert "Keep checking: waiting for health" in rounds(env, inc)[0]
    assert ticks_until(env, inc, "failed") == 19             # the recovery deadline: 10 min after the action
    timeline = env.show(inc)["timeline"]
    assert any("failed: not healthy after 20 checks: health" in e["text"] for e in timeline)
    assert any("Escalating at once" in e["text"] for e in timeline)


def test_a_5xx_rate_above_the_baseline_waits_until_it_is_back_then_the_window(memory_store, clock, arm, web):
    for m in range(-3, 4):                                   # 02:57 to 03:03: 58 more server errors a minute
        arm.add_requests(T0 + timedelta(minutes=m), "5xx", 58)
    env = observed(memory_store, clock, arm, all_probes(arm, web))
    inc = reboot(env)
    env.tick(30)                                             # 03:00:40: minutes 02:55 to 02:59
    assert "5xx rate: failed (36.8 5xx/min over the last 5 min (184 of 2684 requests)" in rounds(env, inc)[0]
    assert "baseline 2.0/min, limit 3.0/min" in rounds(env, inc)[0]          # the median: the ramp is left out
    n = ticks_until(env, inc, "succeeded")
    text = rounds(env, inc)
    first_clean = next(i for i, t in enumerate(text) if "Keep checking: stable for" in t)
    assert "5xx rate: passed" in text[first_clean] and first_clean == 17     # 03:09:10: minutes 03:04-03:08
    assert n == first_clean + 20


def test_errors_that_stay_high_fail_the_remediation(memory_store, clock, arm, web):
    for m in range(-3, 30):
        arm.add_requests(T0 + timedelta(minutes=m), "5xx", 40)
    env = observed(memory_store, clock, arm, all_probes(arm, web))
    inc = reboot(env)
    assert ticks_until(env, inc, "failed") == 20
    assert any("failed: not healthy after 20 checks: 5xx rate: failed (40.0 5xx/min" in e["text"]
               for e in env.show(inc)["timeline"])


def test_a_relapse_during_the_window_fails_at_once(memory_store, clock, arm, web):
    env = observed(memory_store, clock, arm, all_probes(arm, web))
    inc = reboot(env)
    for _ in range(6):
        env.tick(30)
    assert env.rem(inc)["status"] == "verifying"
    web.status["/smoke/orders"] = 500
    env.tick(30)
    assert env.rem(inc)["status"] == "failed"
    assert any(f"failed: relapsed 3 min into the 10 min stability window: smoke {web.url('/smoke/orders')}: failed "
               "(HTTP 500, expected 200" in e["text"] for e in env.show(inc)["timeline"])


def test_a_smoke_test_answers_the_status_it_names(memory_store, clock, arm, web):
    web.status["/smoke/ping"] = 200                          # SMOKE_TEST_URLS says 204
    env = observed(memory_store, clock, arm, all_probes(arm, web))
    inc = reboot(env)
    env.tick(30)
    assert f"smoke {web.url('/smoke/ping')}: failed (HTTP 200, expected 204" in rounds(env, inc)[0]


def test_a_probe_that_hangs_is_cut_off_and_counts_as_no_answer(memory_store, clock, arm, web):
    web.delay_s["/health"] = 3.0
    env = observed(memory_store, clock, arm, all_probes(arm, web))
    inc = reboot(env)
    started = time.monotonic()
    env.tick(30)
    assert time.monotonic() - started < 2.8
    assert f"health {web.url('/health')}: failed (no answer: timed out after 1 s)" in rounds(env, inc)[0]


def test_metrics_that_cannot_be_read_never_count_as_back_to_baseline(memory_store, clock, arm, web):
    arm.fail("GET", r"/providers/Microsoft\.Insights/metrics$", status=500, times=1000)
    env = observed(memory_store, clock, arm, all_probes(arm, web))
    inc = reboot(env)
    env.tick(30)
    assert "5xx rate: unknown (metrics unavailable: Azure Monitor Requests metric of ca-procgenie-api: HTTP 500" \
        in rounds(env, inc)[0]
    assert ticks_until(env, inc, "failed") == 19


def test_unconfigured_probes_are_skipped_and_said_so_and_the_resource_check_still_applies(memory_store, clock, arm):
    env = observed(memory_store, clock, arm, Observers())
    inc = reboot(env)
    env.tick(30)
    first = rounds(env, inc)[0]
    assert "\n  resource: passed (Resource Health Available" in first
    assert "\n  health URL: skipped (API_HEALTH_URL is not set)" in first
    assert "\n  5xx rate: skipped (no Azure Monitor metrics reader (AZURE_SUBSCRIPTION_ID is not set))" in first
    assert "\n  smoke tests: skipped (SMOKE_TEST_URLS is not set)" in first
    assert ticks_until(env, inc, "succeeded") == 20
    arm.set_redis(availability="Unavailable")                # after success nothing is checked any more
    env.tick(30)
    assert env.rem(inc)["status"] == "succeeded"


def test_the_resource_lock_is_held_until_verification_can_end(memory_store, clock, arm, web):
    env = observed(memory_store, clock, arm, all_probes(arm, web))
    inc = reboot(env)
    env.tick(30)
    lock = memory_store.get(keys=[lock_key(arm.cache_id.lower())])[lock_key(arm.cache_id.lower())]
    until = datetime.fromisoformat(lock.data["until"].replace("Z", "+00:00"))
    assert until >= T0 + timedelta(seconds=10) + timedelta(minutes=20)     # recovery deadline + the window
    ticks_until(env, inc, "succeeded")
    assert memory_store.get(keys=[lock_key(arm.cache_id.lower())]) == {}


def test_the_settings_wire_the_probes(memory_store, clock, arm, web):
    bootstrap.override(settings=Settings.from_env({
        "AZURE_SUBSCRIPTION_ID": arm.subscription_id, "AZURE_ARM_ENDPOINT": arm.url,
        "API_CONTAINER_APP_ID": arm.app_id, "POSTGRES_SERVER_ID": arm.server_id, "REDIS_CACHE_ID": arm.cache_id,
        "REMEDIATION_MODE": "auto", "API_HEALTH_URL": web.url("/health"),
        "SMOKE_TEST_URLS": json.dumps([web.url("/smoke/orders"), {"url": web.url("/smoke/ping"), "status": 204}])}))
    env = Env(memory_store, clock, arm, mode="auto")
    env.remedy = bootstrap.remedy()
    inc = reboot(env)
    env.tick(30)
    first = rounds(env, inc)[0]
    assert f"health {web.url('/health')}: passed" in first and "5xx rate: passed" in first
    assert f"smoke {web.url('/smoke/ping')}: passed (HTTP 204" in first


def test_a_rebooted_cache_counts_only_when_its_own_metrics_are_back(memory_store, clock, arm, web):
    """forceReboot only enqueues a reboot: besides Resource Health, the cache's errors, serverLoad and
    connectedclients over the last minutes must look well before the reboot is verified."""
    env = observed(memory_store, clock, arm, all_probes(arm, web))
    inc = reboot(env)
    for minute in range(-6, 12):           # errors go on until a few minutes after the reboot
        at = clock.now() + timedelta(minutes=minute)
        arm.set_cache_metric("errors", at, 3.0 if minute < 1 else 0.0)
        arm.set_cache_metric("connectedclients", at, 0.0 if minute < 1 else 12.0)
    env.tick(30)
    [first] = rounds(env, inc)
    assert "\n  cache metrics: failed (errors max 3, " in first and "the cache reported errors" in first
    cache_reads = [r for r in arm.requests if r.path.endswith("/providers/Microsoft.Insights/metrics")
                   and r.path.lower().startswith(arm.cache_id.lower())]
    q = cache_reads[0].query
    assert (q["metricnames"], q["aggregation"], q["interval"]) == ("errors,serverLoad,connectedclients",
                                                                   "Maximum", "PT1M")
    assert env.rem(inc)["status"] == "verifying"           # not back yet: keep checking, not verified
    ticks_until(env, inc, "succeeded")
    assert any("cache metrics: passed (errors max 0" in t for t in rounds(env, inc))
