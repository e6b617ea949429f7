"""Runbook step 4's decision (shared/domain/verification.py): verified only when every check held
through the stability window; the 5xx rate against the hour before the incident; the settings."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from shared.config import Settings, configuration_errors
from shared.domain.errors import PolicyError
from shared.domain.verification import (FAILED, PASSED, SKIPPED, UNKNOWN, Check, RequestCount, baseline_per_minute,
                                        decide, error_rate_check, http_check, limit_per_minute)

T0 = datetime(2026, 11, 27, 3, 0, tzinfo=timezone.utc)      # the incident began
WINDOW = timedelta(minutes=10)
ACTED = T0 + timedelta(minutes=5)                            # the action finished
RECOVER_BY = ACTED + WINDOW

ok = Check("resource", PASSED, "running")
unconfigured = Check("smoke tests", SKIPPED, "SMOKE_TEST_URLS is not set")
down = Check("health https://api/health", FAILED, "HTTP 503, expected 200")
unread = Check("5xx rate", UNKNOWN, "metrics unavailable: HTTP 500")


def at(minutes: float) -> datetime:
    return ACTED + timedelta(minutes=minutes)


def test_a_clean_round_starts_the_stability_window_but_does_not_verify():
    d = decide([ok, unconfigured], now=at(0.5), recover_by=RECOVER_BY, stable_since=None, window=WINDOW, rounds=1)
    assert (d.verdict, d.stable_since) == ("keep-checking", at(0.5))
    assert d.reason == "stable for 0 min of 10 min"


def test_verified_only_once_the_window_has_ended_with_every_round_clean():
    early = decide([ok], now=at(10.49), recover_by=RECOVER_BY, stable_since=at(0.5), window=WINDOW, rounds=20)
    assert early.verdict == "keep-checking" and early.stable_since == at(0.5)
    d = decide([ok, unconfigured], now=at(10.5), recover_by=RECOVER_BY, stable_since=at(0.5), window=WINDOW,
               rounds=21)
    assert d.verdict == "verified"
    assert d.reason == "every check passed for 10 min (stability window 10 min, 21 checks)"


def test_skipped_checks_never_block_but_unknown_ones_do():
    assert decide([ok, unconfigured], now=at(11), recover_by=RECOVER_BY, stable_since=at(0.5), window=WINDOW,
                  rounds=22).verdict == "verified"
    d = decide([ok, unread], now=at(1), recover_by=RECOVER_BY, stable_since=None, window=WINDOW, rounds=2)
    assert d.verdict == "keep-checking" and d.reason == "waiting for 5xx rate: unknown (metrics unavailable: HTTP 500)"


def test_a_failed_check_before_recovery_keeps_checking_until_the_deadline_then_fails():
    d = decide([ok, down], now=at(9.5), recover_by=RECOVER_BY, stable_since=None, window=WINDOW, rounds=19)
    assert d.verdict == "keep-checking"
    d = decide([ok, down], now=RECOVER_BY, recover_by=RECOVER_BY, stable_since=None, window=WINDOW, rounds=20)
    assert d.verdict == "failed"
    assert d.reason == "not healthy after 20 checks: health https://api/health: failed (HTTP 503, expected 200)"


def test_a_relapse_inside_the_stability_window_fails_at_once():
    d = decide([ok, down], now=at(6), recover_by=RECOVER_BY, stable_since=at(1), window=WINDOW, rounds=12)
    assert d.verdict == "failed" and d.stable_since is None
    assert d.reason.startswith("relapsed 5 min into the 10 min stability window: health https://api/health: failed")


def test_recovering_late_still_gets_the_whole_window():
    """The first clean round just before the deadline: the window runs from there, past the deadline."""
    d = decide([ok], now=RECOVER_BY - timedelta(seconds=30), recover_by=RECOVER_BY, stable_since=None,
               window=WINDOW, rounds=20)
    assert d.verdict == "keep-checking"
    later = decide([ok], now=RECOVER_BY + timedelta(minutes=5), recover_by=RECOVER_BY, stable_since=d.stable_since,
                   window=WINDOW, rounds=30)
    assert later.verdict == "keep-checking"
    assert decide([ok], now=d.stable_since + WINDOW, recover_by=RECOVER_BY, stable_since=d.stable_since,
                  window=WINDOW, rounds=40).verdict == "verified"


# ---- the 5xx rate ----------------------------------------------------------------------------------

def fives(start: datetime, per_minute: list[float]) -> list[RequestCount]:
    return [RequestCount(start + timedelta(minutes=i), "5xx", n) for i, n in enumerate(per_minute) if n]


def test_the_baseline_is_the_median_minute_of_the_hour_before_the_incident():
    hour = [2.0] * 55 + [400.0] * 5            # the spike building up before the alert fired
    counts = fives(T0 - timedelta(hours=1), hour) + [RequestCount(T0, "5xx", 999.0),
                                                     RequestCount(T0 - timedelta(minutes=30), "2xx", 5000.0)]
    assert baseline_per_minute(counts, T0 + timedelta(seconds=40)) == 2.0   # not the mean (35.2)
    assert baseline_per_minute(fives(T0 - timedelta(hours=1), [0, 3] * 30), T0) == 1.5
    assert baseline_per_minute([], T0) == 0.0                               # no data: no errors


def test_the_limit_is_one_and_a_half_times_the_baseline_with_a_floor():
    assert limit_per_minute(4.0) == 6.0
    assert limit_per_minute(0.0) == 1.0


@pytest.mark.parametrize("last_five,outcome", [([3, 3, 3, 3, 3], PASSED), ([3, 3, 3, 3, 4], FAILED),
                                                ([0, 0, 0, 0, 0], PASSED), ([0, 0, 0, 0, 16], FAILED)])
def test_the_rate_of_the_last_five_whole_minutes_against_the_limit(last_five, outcome):
    now = T0 + timedelta(minutes=20, seconds=45)
    start = T0 + timedelta(minutes=15)                   # 03:15 ... 03:19; 03:20 is not whole yet
    counts = fives(start, last_five) + [RequestCount(T0 + timedelta(minutes=20), "5xx", 1000.0),
                                        RequestCount(start, "2xx", 600.0)]
    check = error_rate_check(counts, now, baseline=2.0)
    assert check.outcome == outcome
    assert check.detail.startswith(f"{sum(last_five) / 5:.1f} 5xx/min over the last 5 min "
                                   f"({sum(last_five)} of {sum(last_five) + 600} requests); baseline 2.0/min, "
                                   "limit 3.0/min")


def test_a_low_baseline_allows_a_trickle_under_the_floor():
    now = T0 + timedelta(minutes=20)
    assert error_rate_check(fives(T0 + timedelta(minutes=15), [1, 1, 1, 1, 1]), now, 0.0).outcome == PASSED
    assert error_rate_check(fives(T0 + timedelta(minutes=15), [2, 1, 1, 1, 1]), now, 0.0).outcome == FAILED


def test_http_checks():
    assert http_check("health h", 200, 200, "12 ms") == Check("health h", PASSED, "HTTP 200, 12 ms")
    assert http_check("smoke s", 204, 200, "") == Check("smoke s", FAILED, "HTTP 200, expected 204")
    assert http_check("health h", 200, None, "timed out after 5 s") == Check("health h", FAILED,
                                                                               "no answer: timed out after 5 s")


# ---- the settings ----------------------------------------------------------------------------------

def test_smoke_tests_are_urls_or_objects_with_an_expected_status():
    s = Settings.from_env({"SMOKE_TEST_URLS": '["https://api.example.com/ping", {"url": "https://api.example.com/'
                                              'orders?probe=1", "status": 204}]',
                           "API_HEALTH_URL": "https://api.example.com/health",
                           "LOG_ANALYTICS_WORKSPACE_ID": "6F1C2D3E-4A5B-4C6D-8E9F-0A1B2C3D4E5F"})
    assert s.smoke_tests == (("https://api.example.com/ping", 200), ("https://api.example.com/orders?probe=1", 204))
    assert s.api_health_url == "https://api.example.com/health"
    assert s.log_analytics_workspace_id == "6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f"
    assert s.log_analytics_endpoint == "https://api.loganalytics.io/v1"
    assert Settings.from_env({}).smoke_tests == () and Settings.from_env({}).api_health_url == ""


@pytest.mark.parametrize("env,message", [
    ({"SMOKE_TEST_URLS": "https://x"}, "SMOKE_TEST_URLS: is not a JSON list"),
    ({"SMOKE_TEST_URLS": '{"url": "https://x"}'}, "SMOKE_TEST_URLS: must be a JSON list of at most 10"),
    ({"SMOKE_TEST_URLS": '["ftp://x/secret-key"]'}, "SMOKE_TEST_URLS: item 0: url must be an absolute http"),
    ({"SMOKE_TEST_URLS": '[{"url": "https://x", "status": "200"}]'}, "SMOKE_TEST_URLS: item 0: status must be"),
    ({"SMOKE_TEST_URLS": '["https://x"]' .replace('"https://x"', ", ".join(['"https://x"'] * 11))},
     "SMOKE_TEST_URLS: must be a JSON list of at most 10"),
    ({"API_HEALTH_URL": "api.example.com/health"}, "API_HEALTH_URL: must be an absolute http or https URL"),
    ({"LOG_ANALYTICS_WORKSPACE_ID": "log-procgenie-prod"}, "LOG_ANALYTICS_WORKSPACE_ID: must be the workspace id"),
    ({"LOG_ANALYTICS_ENDPOINT": "http://api.loganalytics.io/v1"}, "LOG_ANALYTICS_ENDPOINT: must be an https origin"),
])
def test_broken_settings_are_named_never_quoted(env, message):
    errors = configuration_errors(env)
    assert len(errors) == 1 and errors[0].startswith(message), errors
    assert "secret-key" not in errors[0] and "procgenie" not in errors[0]
    with pytest.raises(PolicyError):
        Settings.from_env(env)


def test_a_loopback_log_analytics_endpoint_is_allowed_for_local_fakes():
    assert configuration_errors({"LOG_ANALYTICS_ENDPOINT": "http://127.0.0.1:8123/v1"}) == []


def _minutes(now, values):
    from datetime import timedelta
    start = now.replace(second=0, microsecond=0) - timedelta(minutes=len(values))
    return [(start + timedelta(minutes=i), float(v)) for i, v in enumerate(values)]


def test_cache_metrics_decide_whether_a_rebooted_cache_is_back():
    from datetime import datetime, timezone

    from shared.domain.verification import cache_metrics_check
    now = datetime(2026, 11, 27, 3, 20, 30, tzinfo=timezone.utc)
    well = {"errors": _minutes(now, [0] * 5), "serverLoad": _minutes(now, [5] * 5),
            "connectedclients": _minutes(now, [10] * 5)}
    assert cache_metrics_check(well, now).outcome == "passed"
    assert cache_metrics_check({**well, "errors": _minutes(now, [0, 0, 1, 0, 0])}, now).outcome == "failed"
    assert cache_metrics_check({**well, "serverLoad": _minutes(now, [5, 95, 5, 5, 5])}, now).outcome == "failed"
    assert cache_metrics_check({**well, "connectedclients": _minutes(now, [10, 10, 10, 10, 0])}, now).outcome \
        == "failed"
    assert cache_metrics_check({}, now).outcome == "unknown"
