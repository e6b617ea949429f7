"""Metrics from aggregates kept on write (shared/services/metrics_store.py), on the in-memory store and
on Azurite: a generated history of 2,000 incidents written through `ops()` against a brute force over
the incidents' raw facts; the store requests of a 90-day window, the same for 200 and 2,000 incidents
of history; ETag conflicts on a shared row; and GET metrics through the registered function."""
from __future__ import annotations

import json
import math
import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.functions as func
import pytest

from shared import bootstrap
from shared.config import Settings
from shared.domain.classification import SEVERITIES, Classification
from shared.domain.errors import ConcurrencyConflict
from shared.domain.incident import Incident
from shared.domain.review import Review
from shared.domain.timeutil import iso
from shared.ports import Op, Page
from shared.storage import metrics_store
from shared.storage.metrics_store import facts_of, ops, shard_of, summary
from tests.functions.conftest import App
from tests.payloads import CORE_SETTINGS

NOW = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)          # the app fixture's clock
ACK_TARGET = {"SEV-1": 15, "SEV-2": 30, "SEV-3": 240, "SEV-4": 1440}       # minutes
RESOLVE_TARGET = {"SEV-1": 240, "SEV-2": 480, "SEV-3": 2880, "SEV-4": 10080}
FIELDS = ("count", "transients", "acknowledged", "resolved", "response_breaches", "resolution_breaches",
          "reviews_overdue", "open_action_items", "mtta_p50_s", "mtta_p90_s", "mttr_p50_s", "mttr_p90_s")


@pytest.fixture(params=["memory", "azurite"])
def store(request, memory_store):
    return memory_store if request.param == "memory" else request.getfixturevalue("table_store")


class CountingStore:
    """The RecordStore port around another, counting calls, scanned pages and rows returned."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _count(self, **n: int) -> None:
        with self._lock:
            self.calls.update(n)

    def get(self, *, keys):
        found = self.inner.get(keys=keys)
        self._count(get=1, rows=len(found))
        return found

    def scan(self, **kw) -> Page:
        page = self.inner.scan(**kw)
        self._count(scan=1, pages=1, rows=len(page.records))
        return page

    def commit(self, *, ops):
        self._count(commit=1)
        return self.inner.commit(ops=ops)


# ---- a generated history ------------------------------------------------------------------------

@dataclass
class Story:
    """One incident and its writes: (when, the changes made at that write), in time order."""
    inc: Incident
    writes: list[tuple[datetime, dict[str, Any]]] = field(default_factory=list)
    last_write: datetime | None = None


def history(n: int, seed: int, *, end: datetime = NOW, days: int = 730) -> list[Story]:
    """n incidents created uniformly over the `days` before `end` (in random order, so any prefix spans
    the whole period): every severity, acknowledged and resolved after random delays (up to days), some
    never acknowledged, some still open (their times would fall after `end`), transients resolved in
    minutes, SLA breaches where the delays pass the targets, a few severity changes, reviews (some
    overdue at a later write) with action items."""
    rnd, per_day, out = random.Random(seed), Counter(), []
    for _ in range(n):
        created = end - timedelta(microseconds=rnd.randrange(1, days * 86_400 * 10**6))
        day = created.strftime("%Y%m%d")
        per_day[day] += 1
        final = rnd.choices(SEVERITIES, weights=(1, 3, 5, 4))[0]
        first = rnd.choice(SEVERITIES) if rnd.random() < 0.04 else final
        inc = Incident(id=f"INC-{day}-{per_day[day]:04d}", title="generated", severity=first, created_at=created,
                       classification=Classification(first, None, None, ""))
        story = Story(inc, [(created, {})])
        if first != final:
            story.writes.append((created + timedelta(minutes=rnd.randint(1, 30)), {"severity": final}))
        if rnd.random() < 0.06:   # a transient: over within minutes, nobody acknowledged it
            res = created + timedelta(seconds=rnd.randint(30, 600))
            if res < end:
                story.writes.append((res, {"resolved_at": res, "state": "resolved", "transient": True}))
            out.append(story)
            continue
        ack = created + timedelta(seconds=int(rnd.expovariate(1 / (ACK_TARGET[final] * 40))))
        res = ack + timedelta(seconds=int(rnd.expovariate(1 / (RESOLVE_TARGET[final] * 40))))
        acked = rnd.random() < 0.9 and ack < end
        response = (ack if acked else end) > created + timedelta(minutes=ACK_TARGET[final])
        sla = {"response_breached": response}
        resolved = res < end and (acked or rnd.random() < 0.5)
        if acked and (not resolved or rnd.random() < 0.3):   # else the history has it in the resolving write
            story.writes.append((ack, {"acknowledged_at": ack, "state": "acknowledged", "sla": dict(sla)}))
        if resolved:
            sla["resolution_breached"] = res > created + timedelta(minutes=RESOLVE_TARGET[final])
            pir: dict[str, Any] = {"required": False, "status": "not required"}
            if final in ("SEV-1", "SEV-2"):
                due = (res + timedelta(days=rnd.randint(2, 7))).replace(microsecond=0)
                pir = {"required": True, "due_at": due.strftime("%Y-%m-%dT%H:%M:%SZ"),
                       "status": rnd.choice(("pending", "pending", "scheduled", "held")),
                       "action_items": [{"id": f"A{i + 1}", "text": "fix", "owner": "ana",
                                         "status": rnd.choice(("open", "open", "done", "wont_fix"))}
                                        for i in range(rnd.randint(0, 4))]}
            story.writes.append((res, {"resolved_at": res, "state": "resolved", "sla": dict(sla),
                                       "pir": Review.from_dict(pir),
                                       **({"acknowledged_at": ack} if acked else {})}))
            if pir["required"] and rnd.random() < 0.5 and due + timedelta(days=1) < end:
                story.writes.append((due + timedelta(days=1), {}))   # a later write: a reminder, a note
        elif not acked and response:   # the sweep marks the breach of an incident nobody acknowledged
            story.writes.append((created + timedelta(minutes=ACK_TARGET[final], seconds=1), {"sla": dict(sla)}))
        story.writes.sort(key=lambda w: w[0])
        out.append(story)
    return out


def play(store: Any, stories: list[Story], workers: int = 16) -> Counter[str]:
    """Write every story through ops(), as the incident writes would: the stories concurrently, each
    one's writes in order; a batch refused on a row another writer changed is retried as the caller
    does it (the incident as it was stored, everything read again). Counts writes, batches, conflicts."""
    tally: Counter[str] = Counter()
    lock = threading.Lock()

    def one(story: Story) -> None:
        for at, changes in story.writes:
            for name, value in changes.items():
                setattr(story.inc, name, value)
            stored = dict(story.inc.metrics)
            for _ in range(100):
                batch = ops(store, story.inc, at)
                try:
                    if batch:
                        store.commit(ops=batch)
                    break
                except ConcurrencyConflict:
                    story.inc.metrics = dict(stored)
                    with lock:
                        tally["conflicts"] += 1
            else:
                raise AssertionError(f"{story.inc.id}: 100 conflicts in a row")
            story.last_write = at
            with lock:
                tally["writes"] += 1
                tally["batches"] += bool(batch)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, stories))
    return tally


# ---- the brute force, over the raw incidents --------------------------------------------------------

def percentile(samples: list[int], p: int) -> int | None:
    samples = sorted(samples)
    return samples[math.ceil(p * len(samples) / 100) - 1] if samples else None


def brute_force(stories: list[Story], since: datetime, until: datetime) -> dict[str, dict[str, int | None]]:
    out = {}
    for sev in SEVERITIES:
        picked = [s for s in stories if s.inc.severity == sev and since <= s.inc.created_at < until]
        kept = [s.inc for s in picked if not s.inc.transient]
        overdue = [s for s in picked if not s.inc.transient and s.inc.pir is not None and s.inc.pir.required
                   and s.inc.pir.status in ("pending", "scheduled")
                   and s.inc.pir.due_at is not None and s.inc.pir.due_at < s.last_write]
        mtta = [max(0, int((i.acknowledged_at - i.created_at).total_seconds())) for i in kept if i.acknowledged_at]
        mttr = [max(0, int((i.resolved_at - i.created_at).total_seconds())) for i in kept if i.resolved_at]
        out[sev] = {
            "count": len(kept), "transients": len(picked) - len(kept), "acknowledged": len(mtta),
            "resolved": len(mttr), "response_breaches": sum(bool(i.sla.get("response_breached")) for i in kept),
            "resolution_breaches": sum(bool(i.sla.get("resolution_breached")) for i in kept),
            "reviews_overdue": len(overdue),
            "open_action_items": sum(a.status == "open" for i in kept for a in (i.pir.items if i.pir else ())),
            "mtta_p50_s": percentile(mtta, 50), "mtta_p90_s": percentile(mtta, 90),
            "mttr_p50_s": percentile(mttr, 50), "mttr_p90_s": percentile(mttr, 90)}
    return out


# ---- the history against the brute force, and the request count of a window -----------------------

REPORT: dict[str, Any] = {}


def test_summary_equals_the_brute_force_and_its_requests_do_not_grow_with_history(store, request):
    stories = history(2_000, seed=7)
    quarter = (NOW - timedelta(days=90), NOW)   # partial months at both ends
    counted = CountingStore(store)

    def read(since: datetime, until: datetime) -> tuple[dict, Counter]:
        counted.calls.clear()
        got = summary(counted, since, until)
        return got, Counter(counted.calls)

    play(store, stories[:200])
    small, small_calls = read(*quarter)
    assert small == brute_force(stories[:200], *quarter)

    counted.calls.clear()
    tally = play(counted, stories[200:])
    assert tally["writes"] == sum(len(s.writes) for s in stories[200:]) > tally["batches"]
    tries = tally["batches"] + tally["conflicts"]   # one read and one batch a try; a write changing nothing: none
    assert counted.calls["get"] == counted.calls["commit"] == tries and counted.calls["scan"] == 0

    big, big_calls = read(*quarter)
    assert {s.inc.severity for s in stories} == set(SEVERITIES)
    assert sum(s.inc.transient for s in stories) > 50 and sum(s.inc.resolved_at is None for s in stories) > 50
    assert sum(s.inc.acknowledged_at is None and s.inc.resolved_at is not None and not s.inc.transient
               for s in stories) > 20
    assert sum(any("severity" in c for _, c in s.writes) for s in stories) > 30
    assert big == brute_force(stories, *quarter)
    assert sum(v["count"] + v["transients"] for v in big.values()) > sum(v["count"] + v["transients"]
                                                                         for v in small.values())
    assert small_calls == Counter(scan=1, pages=1, rows=small_calls["rows"]) and big_calls["scan"] == 1
    assert big_calls["pages"] == small_calls["pages"] == 1
    assert big_calls["rows"] <= 4 * len(SEVERITIES) * metrics_store.SHARDS   # four months of rows at most

    month = (datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))
    whole, month_calls = read(*month)
    assert whole == brute_force(stories, *month)
    assert whole["SEV-3"]["count"] > 20 and whole["SEV-1"]["mtta_p90_s"] is not None
    assert month_calls["pages"] == 1 and month_calls["rows"] <= len(SEVERITIES) * metrics_store.SHARDS
    year, year_calls = read(NOW - timedelta(days=400), NOW)
    assert year == brute_force(stories, NOW - timedelta(days=400), NOW) and year_calls["pages"] == 1
    REPORT[request.node.callspec.id] = {"90 days, 200 incidents": dict(small_calls),
                                       "90 days, 2000 incidents": dict(big_calls), "one month": dict(month_calls),
                                       "400 days": dict(year_calls), "history writes": dict(tally)}
    print(json.dumps(REPORT[request.node.callspec.id]))


# ---- a write that changes nothing, a severity change, a conflict --------------------------------------

def _incident(iid: str, severity: str = "SEV-2", created: datetime = datetime(2026, 11, 2, 10, tzinfo=UTC)
              ) -> Incident:
    return Incident(id=iid, title="t", severity=severity, created_at=created,
                    classification=Classification(severity, None, None, ""))


def test_a_write_that_changes_no_counted_fact_reads_and_writes_nothing(store):
    counted = CountingStore(store)
    inc = _incident("INC-20261102-0001")
    store.commit(ops=ops(counted, inc, NOW))
    assert counted.calls == Counter(get=1)
    inc.title, inc.tenants = "renamed", ["acme"]
    assert ops(counted, inc, NOW) == [] and counted.calls == Counter(get=1)
    inc.acknowledged_at = inc.created_at + timedelta(minutes=3)
    batch = ops(counted, inc, NOW)
    assert [(op.kind, op.key) for op in batch] == [("replace", inc.metrics["key"])]


def test_a_severity_change_moves_the_incident_to_its_new_row(store):
    inc = _incident("INC-20261102-0002", "SEV-3")
    store.commit(ops=ops(store, inc, NOW))
    old = inc.metrics["key"]
    inc.severity = "SEV-1"
    batch = ops(store, inc, NOW)
    assert {(op.kind, op.key) for op in batch} == {("insert", inc.metrics["key"]), ("delete", old)}
    store.commit(ops=batch)
    got = summary(store, datetime(2026, 11, 1, tzinfo=UTC), NOW)
    assert (got["SEV-1"]["count"], got["SEV-3"]["count"]) == (1, 0)
    assert old == f"met|2026-11|SEV-3|{shard_of(inc.id)}" and inc.metrics["key"].startswith("met|2026-11|SEV-1|")


def test_two_writers_of_one_row_conflict_and_the_retry_counts_both(store):
    first = _incident("INC-20261103-0001")
    other = next(_incident(f"INC-20261103-{n:04d}") for n in range(2, 200)
                 if shard_of(f"INC-20261103-{n:04d}") == shard_of(first.id))
    store.commit(ops=ops(store, first, NOW))
    first.acknowledged_at = first.created_at + timedelta(minutes=1)
    saved = dict(other.metrics)
    mine, theirs = ops(store, first, NOW), ops(store, other, NOW)   # both read the row as it was
    assert mine[0].key == theirs[0].key
    store.commit(ops=mine)
    with pytest.raises(ConcurrencyConflict):
        store.commit(ops=theirs)
    other.metrics = saved                     # the retry reloads the incident as stored, and reads again
    store.commit(ops=ops(store, other, NOW))
    got = summary(store, datetime(2026, 11, 1, tzinfo=UTC), NOW)["SEV-2"]
    assert (got["count"], got["acknowledged"], got["mtta_p50_s"]) == (2, 1, 60)


def test_facts_of_reads_sla_flags_the_review_deadline_and_open_items():
    inc = _incident("INC-20261104-0001", "SEV-1")
    inc.resolved_at, inc.transient = inc.created_at + timedelta(hours=2), False
    inc.sla = {"response_breached": True, "resolution_breached": False}
    inc.pir = Review.from_dict({"required": True, "due_at": "2026-11-06T10:00:00Z", "status": "scheduled",
                                "action_items": [{"id": "A1", "text": "x", "owner": "o", "status": "open"},
                                                 {"id": "A2", "text": "y", "owner": "o", "status": "done"},
                                                 {"id": "A3", "text": "z", "owner": "o", "status": "open"}]})
    at_due = datetime(2026, 11, 6, 10, tzinfo=UTC)
    f = facts_of(inc, at_due)
    assert (f.response_breached, f.resolution_breached, f.review_overdue, f.open_action_items) == (True, False,
                                                                                                   False, 2)
    assert facts_of(inc, at_due + timedelta(seconds=1)).review_overdue
    inc.pir = replace(inc.pir, status="held")
    assert not facts_of(inc, at_due + timedelta(days=1)).review_overdue
    inc.pir = replace(inc.pir, status="pending", required=False)
    assert not facts_of(inc, at_due + timedelta(days=1)).review_overdue


def test_an_unreadable_row_is_left_out_of_the_summary_and_started_afresh_by_a_write(store):
    inc = _incident("INC-20261105-0001")
    key = f"met|2026-11|SEV-2|{shard_of(inc.id)}"
    store.commit(ops=[Op("upsert", key, {"v": 1, "severity": "SEV-2", "month": "2026-11", "chunks": 1,
                                         "entries": 1, "s00": "garbage"})])
    assert summary(store, datetime(2026, 11, 1, tzinfo=UTC), NOW)["SEV-2"]["count"] == 0
    store.commit(ops=ops(store, inc, NOW))
    assert summary(store, datetime(2026, 11, 1, tzinfo=UTC), NOW)["SEV-2"]["count"] == 1


# ---- GET metrics through the registered function ----------------------------------------------------

@pytest.fixture
def app(table_store, clock):
    bootstrap.override(store=table_store, clock=clock,
                       settings=Settings.from_env({**CORE_SETTINGS, "PAGERDUTY_ROUTING_KEYS": "{}"}))
    return App()


def _get(app, **params) -> func.HttpResponse:
    req = func.HttpRequest(method="GET", url="http://localhost/api/metrics", body=b"", params=params)
    return app.functions["get_metrics"](req)


def test_get_metrics_as_json_and_prometheus(app, table_store):
    stories = history(150, seed=11, days=75)
    play(table_store, stories)
    status, body = app.call("get_metrics", method="GET")
    since = NOW - timedelta(days=30)
    assert status == 200 and (body["since"], body["until"]) == (iso(since), iso(NOW))
    assert body["by_severity"] == brute_force(stories, since, NOW)
    assert set(body["by_severity"]["SEV-2"]) == set(FIELDS)
    status, body = app.call("get_metrics", method="GET", params={"since": "2026-08-01T00:00:00Z",
                                                                 "until": "2026-10-01T02:00:00+02:00"})
    window = (datetime(2026, 8, 1, tzinfo=UTC), datetime(2026, 10, 1, tzinfo=UTC))
    assert status == 200 and body["until"] == iso(window[1]) and body["by_severity"] == brute_force(stories, *window)

    resp = _get(app, format="prometheus", since="2026-08-01T00:00:00Z", until="2026-10-01T00:00:00Z")
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    text = resp.get_body().decode()
    expected = brute_force(stories, *window)
    for sev in SEVERITIES:
        assert f'incident_count{{severity="{sev}"}} {expected[sev]["count"]}\n' in text
        assert f'incident_response_breach_count{{severity="{sev}"}} {expected[sev]["response_breaches"]}\n' in text
    p90 = expected["SEV-2"]["mttr_p90_s"]
    assert f'incident_mttr_seconds{{severity="SEV-2",quantile="0.9"}} {p90}\n' in text
    assert f"incident_metrics_generated_timestamp_seconds {NOW.timestamp()}\n" in text


@pytest.mark.parametrize("params, path", [
    ({"since": "yesterday"}, "since"),
    ({"until": "2026-13-45T99:99:99Z"}, "until"),
    ({"since": "x" * 70_000}, "since"),
    ({"since": "2026-11-27T00:00:00Z", "until": "2026-11-27T00:00:00Z"}, "since"),
    ({"since": "2026-11-28T00:00:00Z"}, "since"),                              # after the default until (now)
    ({"since": "2025-10-01T00:00:00Z", "until": "2026-11-06T00:00:01Z"}, "since"),   # 401 days
    ({"until": "0001-01-02T00:00:00Z"}, "until"),                              # no 30 days before it
    ({"since": "0001-01-01T00:00:00+14:00"}, "since"),
    ({"format": "openmetrics"}, "format"),
])
def test_get_metrics_refuses_a_bad_window_naming_the_parameter(app, params, path):
    status, body = app.call("get_metrics", method="GET", params=params)
    assert status == 400 and body["path"] == path and body["error"] == "invalid_input", body


def test_a_window_of_400_days_and_windows_at_the_edges_of_time_are_answered(app):
    for params in ({"since": "2025-10-23T03:00:00Z"},
                   {"since": "9998-12-01T00:00:00Z", "until": "9999-12-31T23:59:59Z"},
                   {"since": "0001-01-01T00:00:00Z", "until": "0001-02-01T00:00:00Z"}):
        status, body = app.call("get_metrics", method="GET", params=params)
        assert status == 200 and set(body["by_severity"]) == set(SEVERITIES), (params, body)
