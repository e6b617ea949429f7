"""Runbook step 4 as a decision: is an executed remediation verified, still to be checked, or failed?

Step 4 reads "verify health endpoints return 200, verify error rates return to baseline, run smoke
tests, monitor for 15 minutes to confirm stability". Each verification round runs checks (the
resource's own health, the API's health URL, the API's 5xx rate, each smoke test); `decide` turns one
round and the remediation's state into a Decision. Pure: no I/O, no clock.

The rule:

- A check is passed, failed, skipped (not configured: never blocks; the timeline says so) or unknown
  (could not be read: blocks like a failure, because nothing unconfirmed counts as verified).
- A round is clean when none of its checks failed or is unknown.
- Recovery: after the action, the remediation waits for its first clean round until `recover_by`
  (the action's end + the runbook's verification window). None by then: failed.
- Stability: from that first clean round (`stable_since`) every round must stay clean for `window`
  (the runbook's verification window, runbook.toml `verify_minutes`). A round that is not clean
  meanwhile is a relapse: failed. Verified once the window has ended with every round clean.

The 5xx rate holds when the API's 5xx count per minute over the last RECENT_MINUTES whole minutes
is at most max(BASELINE_FACTOR x baseline, FLOOR_PER_MINUTE), where the baseline is the median 5xx
count per minute over the BASELINE_MINUTES whole minutes before the incident began, a minute without
data counting as 0. The median rather than the mean: the minutes in which the incident was already
building up before its alert fired must not raise the baseline.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median
from typing import Iterable, Literal, Sequence
from urllib.parse import urlsplit

Outcome = Literal["passed", "failed", "skipped", "unknown"]
PASSED: Outcome = "passed"
FAILED: Outcome = "failed"
SKIPPED: Outcome = "skipped"
UNKNOWN: Outcome = "unknown"
Verdict = Literal["verified", "keep-checking", "failed"]

RECENT_MINUTES = 5
BASELINE_MINUTES = 60
BASELINE_FACTOR = 1.5
FLOOR_PER_MINUTE = 1.0      # below this many 5xx a minute the rate counts as back whatever the baseline
SERVER_ERRORS = "5xx"       # the Requests metric's statusCodeCategory of server errors


@dataclass(frozen=True)
class Check:
    name: str               # "resource", "health <url>", "5xx rate", "smoke <url>"
    outcome: Outcome
    detail: str

    def line(self) -> str:
        return f"{self.name}: {self.outcome} ({self.detail})" if self.detail else f"{self.name}: {self.outcome}"


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str
    stable_since: datetime | None


@dataclass(frozen=True)
class RequestCount:
    """Requests of one status class in one minute (Azure Monitor's Requests metric, Total, PT1M)."""
    at: datetime            # the minute's start, UTC
    category: str           # statusCodeCategory: "2xx", "4xx", "5xx", ...
    count: float


def shown_url(url: str) -> str:
    """A probed URL as the timeline shows it: no credentials, no query string (either may hold a key)."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}{parts.path}"


def skipped(name: str, why: str) -> Check:
    return Check(name, SKIPPED, why)


def http_check(name: str, expected: int, status: int | None, detail: str) -> Check:
    """A probe's answer against the status it should have (no answer: failed, with why)."""
    if status is None:
        return Check(name, FAILED, f"no answer: {detail}" if detail else "no answer")
    words = f"HTTP {status}" + (f", expected {expected}" if status != expected else "")
    words += f", {detail}" if detail else ""
    return Check(name, PASSED if status == expected else FAILED, words)


def minute(t: datetime) -> datetime:
    return t.replace(second=0, microsecond=0)


def per_minute(counts: Iterable[RequestCount], start: datetime, minutes: int,
               category: str = SERVER_ERRORS) -> list[float]:
    """Counts of `category` in each whole minute from `start` (minute-aligned), 0 where there is none."""
    bins = [0.0] * minutes
    for c in counts:
        if c.category.lower() != category.lower():
            continue
        i = int((minute(c.at) - start).total_seconds() // 60)
        if 0 <= i < minutes:
            bins[i] += c.count
    return bins


def baseline_window(incident_start: datetime) -> tuple[datetime, datetime]:
    end = minute(incident_start)
    return end - timedelta(minutes=BASELINE_MINUTES), end


def recent_window(now: datetime) -> tuple[datetime, datetime]:
    end = minute(now)
    return end - timedelta(minutes=RECENT_MINUTES), end


def baseline_per_minute(counts: Iterable[RequestCount], incident_start: datetime) -> float:
    start, _ = baseline_window(incident_start)
    return float(median(per_minute(counts, start, BASELINE_MINUTES)))


def limit_per_minute(baseline: float) -> float:
    return max(baseline * BASELINE_FACTOR, FLOOR_PER_MINUTE)


def error_rate_check(counts: Iterable[RequestCount], now: datetime, baseline: float) -> Check:
    """The 5xx rate of the last RECENT_MINUTES whole minutes against the baseline's limit."""
    counts = list(counts)
    start, _ = recent_window(now)
    errors = per_minute(counts, start, RECENT_MINUTES)
    total = sum(sum(per_minute(counts, start, RECENT_MINUTES, cat)) for cat in {c.category for c in counts})
    rate, limit = sum(errors) / RECENT_MINUTES, limit_per_minute(baseline)
    detail = (f"{rate:.1f} 5xx/min over the last {RECENT_MINUTES} min ({sum(errors):.0f} of {total:.0f} requests); "
              f"baseline {baseline:.1f}/min, limit {limit:.1f}/min")
    return Check("5xx rate", PASSED if rate <= limit else FAILED, detail)


def _minutes(d: timedelta) -> str:
    s = int(d.total_seconds())
    return f"{s // 60} min" if s % 60 == 0 else f"{s // 60} min {s % 60} s"


def decide(checks: Sequence[Check], *, now: datetime, recover_by: datetime, stable_since: datetime | None,
           window: timedelta, rounds: int) -> Decision:
    """Verified, keep checking or failed, and why, after a round of `checks` (the `rounds`-th).

    `recover_by`: the deadline of the first clean round. `stable_since`: when the first clean round
    was, None before it. `window`: how long every round must then stay clean."""
    blocking = [c for c in checks if c.outcome in (FAILED, UNKNOWN)]
    if blocking:
        what = "; ".join(c.line() for c in blocking)
        if stable_since is not None:
            return Decision("failed", f"relapsed {_minutes(now - stable_since)} into the {_minutes(window)} "
                                      f"stability window: {what}", None)
        if now >= recover_by:
            return Decision("failed", f"not healthy after {rounds} checks: {what}", None)
        return Decision("keep-checking", f"waiting for {what}", None)
    since = stable_since or now
    if now - since >= window:
        return Decision("verified", f"every check passed for {_minutes(now - since)} (stability window "
                                    f"{_minutes(window)}, {rounds} checks)", since)
    return Decision("keep-checking", f"stable for {_minutes(now - since)} of {_minutes(window)}", since)


CACHE_METRICS = ("errors", "serverLoad", "connectedclients")   # Azure Cache for Redis metric names
MAX_SERVER_LOAD = 90.0    # percent: a cache this loaded is not "back"


def cache_metrics_check(series: dict[str, list[tuple[datetime, float]]], now: datetime) -> Check:
    """A rebooted cache is back when, over the last 5 whole minutes, it reported no errors, its server
    load stayed under MAX_SERVER_LOAD and clients are connected again (the latest minute). `series`:
    metric name -> (minute, per-minute maximum). No points at all is unknown, never a pass."""
    start, end = recent_window(now)
    recent = {name: [v for at, v in series.get(name, []) if start <= at < end] for name in CACHE_METRICS}
    if not any(recent.values()):
        return Check("cache metrics", UNKNOWN, "no errors/serverLoad/connectedclients points in the last 5 minutes")
    errors, load, clients = (recent[n] for n in CACHE_METRICS)
    words = (f"errors max {max(errors, default=0):g}, server load max {max(load, default=0):g}%, "
             f"{clients[-1] if clients else 0:g} clients connected")
    if any(v > 0 for v in errors):
        return Check("cache metrics", FAILED, f"{words}: the cache reported errors")
    if any(v >= MAX_SERVER_LOAD for v in load):
        return Check("cache metrics", FAILED, f"{words}: server load at or over {MAX_SERVER_LOAD:g}%")
    if not clients or clients[-1] <= 0:
        return Check("cache metrics", FAILED, f"{words}: no client has connected again")
    return Check("cache metrics", PASSED, words)
