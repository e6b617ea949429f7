"""Incident metrics: aggregates kept on write against a brute force over the raw incidents, idempotency,
the Azure Table size of a 5,000-incident month, and the Prometheus exposition."""
from __future__ import annotations

import random
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.errors import InvalidInput
from shared.domain.metrics import (CHUNK_CHARS, MAX_ENTITY_BYTES, AggregateTooLarge, IncidentFacts, MonthAggregate,
                                   affected_months, apply, entity_bytes, incident_key, nearest_rank,
                                   prometheus, summarise)

SEVERITIES = ("SEV-1", "SEV-2", "SEV-3", "SEV-4")
T0 = datetime(2026, 1, 1, tzinfo=UTC)
Write = tuple[IncidentFacts, bool]  # (facts after the write, whether it is a retry of the write before it)


# ---- a generated history ------------------------------------------------------------------------

def history(n: int, seed: int) -> list[list[Write]]:
    """Per incident, its writes in order: opened, severity changes, acknowledged (the time sometimes
    corrected), resolved, review facts; some writes retried (applied again with the same `before`)."""
    rnd, per_day, out = random.Random(seed), {}, []
    for i in range(n):
        created = T0 + timedelta(microseconds=rnd.randrange(120 * 86_400 * 10**6))  # January .. April
        day = created.strftime("%Y%m%d")
        per_day[day] = per_day.get(day, 0) + 1
        iid = f"INC-{day}-{per_day[day]:0{rnd.choice((4, 4, 5, 6))}d}" if rnd.random() > 0.02 else f"legacy-{i}"
        f = IncidentFacts(iid, rnd.choice(SEVERITIES), created)
        states = [f]
        for _ in range(rnd.choice((0,) * 17 + (1, 1, 2))):
            f = replace(f, severity=rnd.choice(SEVERITIES))
            states.append(f)
        if rnd.random() < 0.8:  # the rest are never acknowledged
            f = replace(f, acknowledged_at=created + timedelta(seconds=rnd.expovariate(1 / 900)),
                        response_breached=rnd.random() < 0.2)
            states.append(f)
            if rnd.random() < 0.05:
                f = replace(f, acknowledged_at=created + timedelta(seconds=rnd.uniform(0, 3600)))
                states.append(f)
        if rnd.random() < 0.85:  # the rest stay open
            f = replace(f, resolved_at=(f.acknowledged_at or created) + timedelta(seconds=rnd.expovariate(1 / 7200)),
                        resolution_breached=rnd.random() < 0.25, transient=rnd.random() < 0.1)
            states.append(f)
            states.append(replace(f, review_overdue=rnd.random() < 0.3, open_action_items=rnd.choice((0, 0, 1, 3, 40))))
        writes: list[Write] = []
        for s in states:
            writes.append((s, False))
            writes += [(s, True)] * (rnd.random() < 0.2)
        out.append(writes)
    return out


def replay(histories: list[list[Write]], seed: int) -> dict[tuple[str, str], dict]:
    """Every write, interleaved across incidents; a fifth of them, and the final rows, through
    to_row/from_row as the store keeps them (all of them would only make the test slower)."""
    rnd, rows = random.Random(seed), {}
    queues = [list(h) for h in histories]
    applied: dict[str, list[IncidentFacts | None]] = {}
    while queues:
        q = rnd.choice(queues)
        after, retry = q.pop(0)
        if not q:
            queues.remove(q)
        seen = applied.setdefault(after.id, [None])
        before = seen[-2] if retry else seen[-1]  # a retry repeats the write it retries, `before` and all
        for key in affected_months(before, after):
            agg = rows.get(key) or MonthAggregate(*key)
            if rnd.random() < 0.2:
                agg = MonthAggregate.from_row(agg.to_row())
            rows[key] = apply(agg, before, after)
        if not retry:
            seen.append(after)
    return {k: a.to_row() for k, a in rows.items()}


def seconds(a: datetime, b: datetime) -> int:
    d = b - a
    return d.days * 86_400 + d.seconds  # floored, independently of the module's arithmetic


def percentile(samples: list[int], p: int) -> int | None:
    """Nearest rank restated: the smallest sample with at least p % of the samples at or below it."""
    s = sorted(samples)
    return next((v for v in s if 100 * sum(x <= v for x in s) >= p * len(s)), None)


def brute_force(final: list[IncidentFacts], since: datetime, until: datetime) -> dict[str, dict]:
    out = {}
    for sev in SEVERITIES:
        mine = [f for f in final if f.severity == sev and since <= f.created_at < until]
        kept = [f for f in mine if not f.transient]
        mtta = [seconds(f.created_at, f.acknowledged_at) for f in kept if f.acknowledged_at]
        mttr = [seconds(f.created_at, f.resolved_at) for f in kept if f.resolved_at]
        out[sev] = {"count": len(kept), "transients": len(mine) - len(kept), "acknowledged": len(mtta),
                    "resolved": len(mttr), "response_breaches": sum(f.response_breached for f in kept),
                    "resolution_breaches": sum(f.resolution_breached for f in kept),
                    "reviews_overdue": sum(f.review_overdue for f in kept),
                    "open_action_items": sum(f.open_action_items for f in kept),
                    "mtta_p50_s": percentile(mtta, 50), "mtta_p90_s": percentile(mtta, 90),
                    "mttr_p50_s": percentile(mttr, 50), "mttr_p90_s": percentile(mttr, 90)}
    return out


@pytest.fixture(scope="module")
def generated():
    histories = history(2000, seed=20261127)
    final = [h[-1][0] for h in histories]
    return final, [MonthAggregate.from_row(r) for r in replay(histories, seed=7).values()]


# ---- summarise == brute force ---------------------------------------------------------------------

def d(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


WINDOWS = [
    ("whole month", d(2026, 2, 1), d(2026, 3, 1)),
    ("two whole months", d(2026, 1, 1), d(2026, 3, 1)),
    ("90 days from a mid-month instant", d(2026, 1, 14, 13, 7, 5, 250_001), d(2026, 4, 14, 13, 7, 5, 250_001)),
    ("part of one day", d(2026, 3, 10, 0, 0, 0, 500_000), d(2026, 3, 10, 6, 0)),
    ("everything", d(2025, 1, 1), d(2027, 1, 1)),
    ("before any incident", d(2025, 6, 1), d(2025, 12, 31)),
    ("empty", d(2026, 2, 1), d(2026, 2, 1)),
]


@pytest.mark.parametrize("name,since,until", WINDOWS, ids=[w[0] for w in WINDOWS])
def test_summarise_equals_brute_force(generated, name, since, until):
    final, aggs = generated
    assert summarise(aggs, since, until) == brute_force(final, since, until)


def test_the_history_exercises_what_it_claims(generated):
    final, aggs = generated
    everything = summarise(aggs, d(2025, 1, 1), d(2027, 1, 1))
    assert sum(r["count"] + r["transients"] for r in everything.values()) == len(final) == 2000
    assert all(r["transients"] and r["count"] > r["acknowledged"] and r["count"] > r["resolved"]
               for r in everything.values())
    assert sum(f.resolved_at is None for f in final) > 100 and sum(f.acknowledged_at is None for f in final) > 100
    assert len(aggs) == 16  # four months by four severities


def test_window_bounds_are_exact_to_the_microsecond(generated):
    final, aggs = generated
    t = sorted(f.created_at for f in final)[1000]
    for since, until in ((t, t + timedelta(hours=1)), (t + timedelta(microseconds=1), t + timedelta(hours=1)),
                         (t - timedelta(hours=1), t), (t - timedelta(hours=1), t + timedelta(microseconds=1))):
        assert summarise(aggs, since, until) == brute_force(final, since, until)


def test_reading_only_the_months_the_window_touches_gives_the_same(generated):
    final, aggs = generated
    since, until = d(2026, 2, 20, 8), d(2026, 3, 5)
    touched = [a for a in aggs if a.month in ("2026-02", "2026-03")]
    assert summarise(touched, since, until) == brute_force(final, since, until)


def test_nearest_rank():
    assert nearest_rank(list(range(1, 11)), 50) == 5 and nearest_rank(list(range(1, 11)), 90) == 9
    assert nearest_rank([7], 50) == 7 and nearest_rank([1, 2], 50) == 1 and nearest_rank([1, 2], 90) == 2
    assert nearest_rank([], 50) is None
    assert nearest_rank(list(range(1, 101)), 90) == 90 and nearest_rank(list(range(1, 102)), 90) == 91


# ---- idempotency, moves -----------------------------------------------------------------------------

OPENED = IncidentFacts("INC-20260310-0042", "SEV-2", d(2026, 3, 10, 9, 0, 0, 123_456))


def test_applying_the_same_facts_twice_changes_nothing():
    acked = replace(OPENED, acknowledged_at=OPENED.created_at + timedelta(seconds=95))
    once = apply(apply(MonthAggregate("SEV-2", "2026-03"), None, OPENED), OPENED, acked)
    assert apply(once, OPENED, acked) == once and apply(once, acked, acked) == once
    assert apply(once, None, acked).to_row() == once.to_row()  # a retried first write, too


def test_a_corrected_ack_time_replaces_the_sample():
    agg = MonthAggregate("SEV-2", "2026-03")
    first = replace(OPENED, acknowledged_at=OPENED.created_at + timedelta(seconds=600))
    fixed = replace(OPENED, acknowledged_at=OPENED.created_at + timedelta(seconds=60))
    agg = apply(apply(apply(agg, None, OPENED), OPENED, first), first, fixed)
    assert agg.counters()["acknowledged"] == 1
    assert summarise([agg], d(2026, 3, 1), d(2026, 4, 1))["SEV-2"]["mtta_p50_s"] == 60


def test_a_severity_change_moves_the_incident_between_aggregates():
    raised = replace(OPENED, severity="SEV-1")
    assert affected_months(None, OPENED) == [("SEV-2", "2026-03")]
    assert affected_months(OPENED, raised) == [("SEV-1", "2026-03"), ("SEV-2", "2026-03")]
    sev2 = apply(MonthAggregate("SEV-2", "2026-03"), None, OPENED)
    sev1, sev2 = apply(MonthAggregate("SEV-1", "2026-03"), OPENED, raised), apply(sev2, OPENED, raised)
    assert sev2.counters()["count"] == 0 and sev1.counters()["count"] == 1
    got = summarise([sev1, sev2], d(2026, 3, 1), d(2026, 4, 1))
    assert got["SEV-1"]["count"] == 1 and got["SEV-2"]["count"] == 0 and got["SEV-2"]["mtta_p50_s"] is None


def test_apply_refuses_another_incidents_before():
    with pytest.raises(InvalidInput) as e:
        apply(MonthAggregate("SEV-2", "2026-03"), replace(OPENED, id="INC-20260310-0043"), OPENED)
    assert e.value.path == "$.id"


@settings(max_examples=50, derandomize=True, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.sampled_from(SEVERITIES), st.integers(0, 70 * 86_400),
                          st.one_of(st.none(), st.integers(0, 10**6)), st.booleans(), st.integers(0, 3)),
                min_size=1, max_size=40))
def test_any_sequence_of_writes_ends_as_the_latest_facts_applied_once(writes):
    """Order, repeats and moves do not matter: the rows are those of each incident's latest facts."""
    rows: dict[tuple[str, str], MonthAggregate] = {}
    last: dict[str, IncidentFacts] = {}
    for n, sev, created_s, ack_s, transient, items in writes:
        iid = f"INC-20260101-{n:04d}"
        created = last[iid].created_at if iid in last else T0 + timedelta(seconds=created_s)
        after = IncidentFacts(iid, sev, created, None if ack_s is None else created + timedelta(seconds=ack_s),
                              transient=transient, open_action_items=items)
        for key in affected_months(last.get(iid), after):
            rows[key] = apply(rows.get(key) or MonthAggregate(*key), last.get(iid), after)
        last[iid] = after
    fresh: dict[tuple[str, str], MonthAggregate] = {}
    for f in last.values():
        fresh[f.month_key] = apply(fresh.get(f.month_key) or MonthAggregate(*f.month_key), None, f)
    assert {k: a for k, a in rows.items() if a.entries} == fresh
    assert summarise(rows.values(), T0, T0 + timedelta(days=80)) == \
        {k: v for k, v in brute_force(list(last.values()), T0, T0 + timedelta(days=80)).items()
         if k in {a.severity for a in rows.values()}}


# ---- the row: encoding and size ---------------------------------------------------------------------

def month_of(n: int, *, worst: bool, seed: int = 1) -> MonthAggregate:
    """n incidents of SEV-4 in January 2026 (built at once: n applies to a growing row would copy it n times)."""
    rnd, empty, per_day, entries = random.Random(seed), MonthAggregate("SEV-4", "2026-01"), {}, {}
    for i in range(n):
        created = d(2026, 1, 1) + timedelta(microseconds=rnd.randrange(31 * 86_400 * 10**6))
        per_day[created.day] = per_day.get(created.day, 0) + 1
        if worst:  # the longest key, the latest instant, days to acknowledge, weeks to resolve, every flag
            f = IncidentFacts(f"INC-20260131-{900_000 + i:06d}", "SEV-4", d(2026, 1, 31, 23, 59, 59, 999_999),
                              d(2026, 2, 9), d(2026, 3, 28), True, True, False, True, 1000)
        else:
            f = IncidentFacts(f"INC-{created:%Y%m%d}-{per_day[created.day]:04d}", "SEV-4", created,
                              created + timedelta(seconds=rnd.expovariate(1 / 1800)),
                              created + timedelta(seconds=rnd.expovariate(1 / 86_400)),
                              rnd.random() < 0.1, rnd.random() < 0.1, rnd.random() < 0.1, rnd.random() < 0.2,
                              rnd.choice((0, 1, 2)))
        entries.update(apply(empty, None, f).entries)
    return MonthAggregate("SEV-4", "2026-01", entries)


@pytest.mark.parametrize("worst", [False, True], ids=["typical", "worst-case"])
def test_five_thousand_incidents_a_month_fit_one_table_entity(worst):
    agg = month_of(5000, worst=worst)
    row = agg.to_row()
    size = entity_bytes(row, partition_key="metrics", row_key="SEV-4|2026-01")
    assert len(agg.entries) == 5000 and row["entries"] == 5000
    assert size <= MAX_ENTITY_BYTES // 2, size  # at most half of 1 MiB: room to grow
    assert len(row) + 3 <= 255  # with PartitionKey, RowKey, Timestamp
    assert all(isinstance(v, (str, int, float, bool)) for v in row.values())
    assert all(len(v) <= CHUNK_CHARS for v in row.values() if isinstance(v, str))
    assert MonthAggregate.from_row(row) == agg


def test_a_month_too_large_for_one_entity_is_refused():
    with pytest.raises(AggregateTooLarge):
        month_of(20_000, worst=True).to_row()


def test_rows_are_deterministic_and_extra_chunks_left_by_a_merge_are_ignored():
    agg = month_of(2000, worst=False)
    row = agg.to_row()
    assert row == agg.to_row() and row["chunks"] >= 2
    assert MonthAggregate.from_row({**row, f"s{row['chunks']:02d}": "zz,1,,,0,0", "PartitionKey": "m"}) == agg


@pytest.mark.parametrize("change,path", [({"v": 2}, "$.v"), ({"chunks": "2"}, "$.chunks"), ({"s00": ""}, "$.s00"),
                                         ({"s00": "a,b"}, "$.s00"), ({"entries": 3}, "$.entries"),
                                         ({"month": "2026-13"}, "$.month"), ({"severity": None}, "$.severity")])
def test_a_damaged_row_is_named(change, path):
    row = apply(MonthAggregate("SEV-2", "2026-03"), None, OPENED).to_row()
    with pytest.raises(InvalidInput) as e:
        MonthAggregate.from_row({**row, **change})
    assert e.value.path == path


def test_incident_keys_are_short_and_injective():
    ids = ["INC-20260310-0042", "INC-20260310-00042", "INC-20260310-000042", "INC-20261231-999999", "legacy-7"]
    keys = [incident_key(i) for i in ids]
    assert len(set(keys)) == len(ids)
    assert len(incident_key("INC-20260310-0042")) == 8 and len(incident_key("INC-20261231-999999")) == 10
    for bad in ("INC 1", "a,b", "", "x" * 65):
        with pytest.raises(InvalidInput):
            incident_key(bad)


# ---- Prometheus -------------------------------------------------------------------------------------

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL_VALUE = r'"(?:[^"\\\n]|\\[\\"n])*"'
LABELS = rf"\{{[a-zA-Z_][a-zA-Z0-9_]*={LABEL_VALUE}(?:,[a-zA-Z_][a-zA-Z0-9_]*={LABEL_VALUE})*\}}"
VALUE = r"-?(?:[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?|NaN|Inf)"
LINE = re.compile(rf"# HELP ({NAME}) [^\n]*|# TYPE ({NAME}) gauge|({NAME})({LABELS})? {VALUE}")


def test_prometheus_lines_parse(generated):
    _, aggs = generated
    text = prometheus(summarise(aggs, d(2026, 1, 1), d(2026, 4, 1)), d(2026, 4, 1, 12))
    assert text.endswith("\n")
    typed: set[str] = set()
    for line in text.splitlines():
        m = LINE.fullmatch(line)
        assert m, line
        if m[2]:
            typed.add(m[2])
        if m[3]:
            assert m[3] in typed, f"{line}: no # TYPE before it"
    assert 'incident_count{severity="SEV-1"} ' in text
    assert re.search(r'^incident_mtta_seconds\{severity="SEV-1",quantile="0\.5"\} [0-9]+$', text, re.M)
    assert re.search(r'^incident_mttr_seconds\{severity="SEV-4",quantile="0\.9"\} [0-9]+$', text, re.M)
    assert "incident_metrics_generated_timestamp_seconds 1775044800.0" in text


def test_prometheus_escapes_label_values_and_leaves_out_quantiles_without_samples():
    odd = 'SEV "1"\\x\ny'
    row = {"count": 0, "transients": 0, "mtta_p50_s": None, "mtta_p90_s": None, "mttr_p50_s": 5, "mttr_p90_s": 9}
    text = prometheus({odd: row}, d(2026, 4, 1))
    assert 'incident_count{severity="SEV \\"1\\"\\\\x\\ny"} 0' in text
    assert all(LINE.fullmatch(line) for line in text.splitlines())
    assert "incident_mtta_seconds{" not in text and 'quantile="0.9"} 9' in text
