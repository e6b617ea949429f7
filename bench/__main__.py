"""`python -m bench` (make bench): the app's performance against its own Azurite, with baselines.

Starts one Azurite (in-memory, 127.0.0.1, a free port), runs each benchmark on a fresh table, prints
a table and rewrites bench/RESULTS.md with this run on top (older runs are kept below it). Every
timing is shown raw (ms) and as a ratio against a baseline measured in the same run, so numbers
from different machines can be compared by their ratios.

    1. intake      ingest_alert: new alerts and redeliveries vs one raw insert + point read
    2. sweep       sweep() with nothing due, 10 vs 10,000 open incidents; and with 10 steps due
    3. cold start  import function_app + get_functions() vs importing the bare SDKs
"""
from __future__ import annotations

import json
import multiprocessing
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/__main__.py` as well as `python -m bench`
    sys.path.insert(0, str(ROOT))

from azure.data.tables import TableClient  # noqa: E402

from shared import bootstrap  # noqa: E402
from shared.adapters.clock import FixedClock  # noqa: E402
from shared.adapters.tables.store import PARTITION, TableRecordStore  # noqa: E402
from shared.domain.alerts import parse_alert  # noqa: E402
from shared.domain.classification import classify  # noqa: E402
from shared.domain.incident import Incident  # noqa: E402
from shared.domain.timeutil import iso  # noqa: E402
from shared.ports import Op  # noqa: E402
from shared.services import escalation, repository as keys  # noqa: E402
from shared.services.escalation import Paging  # noqa: E402
from shared.services.intake import ingest_alert  # noqa: E402
from shared.services.oncall import load_overrides  # noqa: E402
from shared.services.repository import IncidentRepository  # noqa: E402
from shared.services.schedule import schedule_for  # noqa: E402
from shared.services.sweep import sweep  # noqa: E402
from devhost.azurite import Azurite  # noqa: E402
from tests.payloads import CORE, OTHER_ID, metric_alert  # noqa: E402

RESULTS = ROOT / "bench" / "RESULTS.md"
KEEP_RUNS = 10
RUN_MARK = "\n## Run "

N_ALERTS = 300          # new alerts, then the same 300 redelivered
N_BASELINE = 300        # raw insert + point read pairs
SWEEP_RUNS = 50         # sweeps timed per size
SWEEP_SMALL, SWEEP_LARGE = 10, 10_000
DUE_REPS, DUE_PER_REP = 10, 10
COLD_RUNS = 7
T0 = datetime(2026, 11, 27, 3, 0, tzinfo=timezone.utc)
ROLES = ("primary", "secondary", "engineering_lead", "vp_engineering", "security_lead",
         "customer_success_lead", "cto")


# ---- helpers ---------------------------------------------------------------------------------

def ms(seconds: float) -> float:
    return seconds * 1000.0


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs)


def p95(xs: Sequence[float]) -> float:
    s = sorted(xs)
    return s[max(0, -(-95 * len(s) // 100) - 1)]  # nearest rank


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def say(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class CountingStore:
    """The RecordStore port, counting what reaches the store. A `get` of k keys is k HTTP requests
    (the Table adapter sends one point read per key, in parallel) but one wave of waiting."""

    def __init__(self, inner):
        self.inner = inner
        self.reset()

    def reset(self) -> None:
        self.get_calls = self.get_keys = self.scans = self.commits = 0
        self.spent = {"get": 0.0, "scan": 0.0, "commit": 0.0}

    def snapshot(self) -> dict[str, float]:
        return {"get_calls": self.get_calls, "get_keys": self.get_keys, "scans": self.scans,
                "commits": self.commits, "requests": self.get_keys + self.scans + self.commits,
                "waves": self.get_calls + self.scans + self.commits,
                **{f"ms_{k}": ms(v) for k, v in self.spent.items()}}

    def _timed(self, what: str, fn: Callable[[], Any]) -> Any:
        t = time.perf_counter()
        try:
            return fn()
        finally:
            self.spent[what] += time.perf_counter() - t

    def get(self, *, keys):
        self.get_calls += 1
        self.get_keys += len(keys)
        return self._timed("get", lambda: self.inner.get(keys=keys))

    def scan(self, **kw):
        self.scans += 1
        return self._timed("scan", lambda: self.inner.scan(**kw))

    def commit(self, *, ops):
        self.commits += 1
        return self._timed("commit", lambda: self.inner.commit(ops=ops))


@dataclass
class Row:
    name: str
    ms: float
    p95: float | None = None
    base_name: str = ""
    base_ms: float | None = None
    target: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        return None if not self.base_ms else self.ms / self.base_ms

    @property
    def verdict(self) -> str:
        if self.target is None or self.ratio is None:
            return ""
        return "ok" if self.ratio <= self.target else "MISSED"


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    trips: list[tuple[str, dict[str, float], str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def new_store(az: Azurite, table: str) -> TableRecordStore:
    return TableRecordStore.from_settings(connection_string=az.connection_string, endpoint="", table_name=table)


def runbook():
    return bootstrap.load_runbook(bootstrap.settings().runbook_file)


def median_trips(samples: list[dict[str, float]]) -> dict[str, float]:
    """Counts are the same in every call of one benchmark; times are noisy: the median of each."""
    return {k: median([s[k] for s in samples]) for k in samples[0]}


# ---- 1. intake -------------------------------------------------------------------------------

def bench_baseline(az: Azurite, res: Results) -> tuple[float, float]:
    """One raw create_entity + one get_entity (separately timed), on a fresh table."""
    client = TableClient.from_connection_string(az.connection_string, "benchraw")
    client.create_table()
    entity = lambda i: {"PartitionKey": PARTITION, "RowKey": f"raw|{i:06d}",  # noqa: E731
                        "incident_id": f"INC-20261127-{i:04d}", "severity": "SEV-2"}
    for i in range(10):  # warm-up: connection, first request
        client.create_entity(entity(-i - 1))
        client.get_entity(PARTITION, f"raw|{-i - 1:06d}")
    ins, get, both = [], [], []
    for i in range(N_BASELINE):
        a, _ = timed(lambda: client.create_entity(entity(i)))
        b, _ = timed(lambda: client.get_entity(PARTITION, f"raw|{i:06d}"))
        ins.append(a), get.append(b), both.append(a + b)
    client.close()
    res.rows.append(Row("raw create_entity (baseline)", ms(median(ins)), ms(p95(ins))))
    res.rows.append(Row("raw get_entity (baseline)", ms(median(get)), ms(p95(get))))
    res.rows.append(Row("raw insert + point read (baseline)", ms(median(both)), ms(p95(both))))
    return ms(median(both)), ms(median(get))


def bench_intake(az: Azurite, res: Results, base_pair: float, base_get: float) -> None:
    store = CountingStore(new_store(az, "benchintake"))
    rb, clock = runbook(), FixedClock(T0)
    store.inner.get(keys=["warm|a", "warm|b"])  # warm the connection and the read pool, writes nothing
    store.inner.scan(start="warm|", end="warm}")
    payloads = [metric_alert(f"bench-{i:04d}", target=OTHER_ID, rule=f"bench-rule-{i:04d}", severity="Sev1")
                for i in range(N_ALERTS)]

    def run(expect: str) -> tuple[list[float], list[dict[str, int]]]:
        times, trips = [], []
        for p in payloads:
            store.reset()
            t, r = timed(lambda: ingest_alert(p, store=store, clock=clock, runbook=rb, core=CORE))
            if r.outcome != expect:
                raise AssertionError(f"expected {expect}, got {r}")
            times.append(t), trips.append(store.snapshot())
        return times, trips

    new_t, new_trips = run("created")
    dup_t, dup_trips = run("duplicate")
    res.rows.append(Row(f"new alert, ingest_alert (N={N_ALERTS})", ms(median(new_t)), ms(p95(new_t)),
                        "insert + point read", base_pair, 2.0))
    res.rows.append(Row(f"duplicate alert, ingest_alert (N={N_ALERTS})", ms(median(dup_t)), ms(p95(dup_t)),
                        "point read", base_get))
    first, last = ms(median(new_t[:50])), ms(median(new_t[-50:]))
    res.notes.append(f"Intake drift: median of the first 50 new alerts {first:.1f} ms, of the last 50 "
                     f"{last:.1f} ms ({last / first:.2f}x) as the table fills.")
    res.trips.append(("new alert", median_trips(new_trips), "docstring: 3 round trips"))
    res.trips.append(("duplicate alert", median_trips(dup_trips), "docstring: 1 round trip"))


# ---- 2. sweep --------------------------------------------------------------------------------

def incident_ops(repo: IncidentRepository, n: int, at: datetime, rb) -> list[Op]:
    """A new incident written exactly as _fired writes one: incident, timeline, due rows, index rows."""
    alert = parse_alert(metric_alert(f"sweep-{n:05d}", target=OTHER_ID, rule=f"sweep-rule-{n:05d}",
                                     severity="Sev1", fired=iso(at)))
    c = classify(alert, rb.rules, CORE)
    inc = Incident.from_alert(f"INC-{at:%Y%m%d}-{n:04d}", alert, c, at, frozenset(CORE.values()))
    escalation.plan(inc, rb, at)
    ops = repo.save_ops(inc, None, schedule_for(inc, rb))
    return ops + [Op("insert", keys.alert_key(alert.alert_id, "F"), {"incident_id": inc.id, "severity": inc.severity}),
                  Op("upsert", keys.fingerprint_key(alert.fingerprint), {"incident_id": inc.id})]


def created_at(n: int, spread: bool) -> datetime:
    return T0 + timedelta(seconds=n) if spread else T0  # spread: one incident a second from T0


def write_incidents(store: TableRecordStore, numbers: range, spread: bool, rb) -> int:
    """Incidents `numbers`, whole incidents packed into batches of at most 100 ops, committed in
    order. Returns the rows written. The day's counter is the caller's (see set_counter)."""
    batches, cur, repo = [], [], IncidentRepository(store)
    for n in numbers:
        ops = incident_ops(repo, n, created_at(n, spread), rb)
        if len(cur) + len(ops) > 100:
            batches.append(cur)
            cur = []
        cur += ops
    if cur:
        batches.append(cur)
    for b in batches:
        store.commit(ops=b)
    return sum(len(b) for b in batches)


def _write_worker(args: tuple[str, str, int, int, bool]) -> int:
    conn, table, start, stop, spread = args
    store = TableRecordStore(TableClient.from_connection_string(conn, table))
    return write_incidents(store, range(start, stop), spread, runbook())


def write_many(az: Azurite, table: str, numbers: range, spread: bool, procs: int = 2) -> int:
    """write_incidents split over `procs` processes: the client side of a batch (building the
    multipart request, parsing the multipart answer) costs about as much CPU as Azurite's side."""
    step = -(-len(numbers) // procs)
    parts = [(az.connection_string, table, a, min(a + step, numbers.stop), spread)
             for a in range(numbers.start, numbers.stop, step)]
    with multiprocessing.get_context("fork").Pool(len(parts)) as pool:
        return sum(pool.map(_write_worker, parts))


def set_counter(store, numbers: range, spread: bool) -> None:
    day = created_at(numbers[-1], spread).strftime("%Y%m%d")
    store.commit(ops=[Op("upsert", keys.counter_key(day), {"n": numbers[-1]})])


def paging_for(store) -> Paging:
    return Paging(routable_roles=frozenset(ROLES), load_overrides=lambda: load_overrides(store))


def time_sweeps(store: CountingStore, clock: FixedClock, rb, runs: int) -> tuple[list[float], dict[str, float]]:
    for _ in range(3):  # warm-up
        sweep(store=store, clock=clock, runbook=rb, paging=paging_for(store))
    out, trips = [], []
    for _ in range(runs):
        store.reset()
        t, rep = timed(lambda: sweep(store=store, clock=clock, runbook=rb, paging=paging_for(store)))
        if rep.due or rep.applied:
            raise AssertionError(f"expected nothing due, got {rep}")
        out.append(t), trips.append(store.snapshot())
    return out, median_trips(trips)


def time_raw_query(az: Azurite, table: str, clock: FixedClock) -> list[float]:
    """The sweep's due-range query alone, on a raw TableClient: what the store itself costs."""
    client = TableClient.from_connection_string(az.connection_string, table)
    query = "PartitionKey eq @pk and RowKey ge @start and RowKey lt @end"
    params = {"pk": PARTITION, "start": "due|", "end": f"due|{iso(clock.now())}~"}
    out = []
    for i in range(SWEEP_RUNS + 3):
        t, rows = timed(lambda: list(client.query_entities(query, parameters=params, results_per_page=500)))
        if rows:
            raise AssertionError("expected an empty range")
        if i >= 3:
            out.append(t)
    client.close()
    return out


def bench_sweep(az: Azurite, res: Results) -> None:
    rb = runbook()
    before = FixedClock(T0 - timedelta(minutes=1))  # every due row (the earliest is T0) lies ahead
    store = CountingStore(new_store(az, "benchsweep"))

    write_incidents(store.inner, range(1, SWEEP_SMALL + 1), True, rb)
    set_counter(store.inner, range(1, SWEEP_SMALL + 1), True)
    small, small_trips = time_sweeps(store, before, rb, SWEEP_RUNS)
    raw_small = time_raw_query(az, "benchsweep", before)
    more = range(SWEEP_SMALL + 1, SWEEP_LARGE + 1)
    t, rows = timed(lambda: write_many(az, "benchsweep", more, True))
    set_counter(store.inner, more, True)
    say(f"wrote {SWEEP_LARGE - SWEEP_SMALL} incidents ({rows} rows) in {t:.1f}s")
    due_rows = len(store.inner.scan(start="due|", end="due}").records)
    large, large_trips = time_sweeps(store, before, rb, SWEEP_RUNS)
    raw_large = time_raw_query(az, "benchsweep", before)
    res.rows.append(Row(f"sweep, nothing due, {SWEEP_SMALL} open (baseline)", ms(median(small)), ms(p95(small))))
    res.rows.append(Row(f"sweep, nothing due, {SWEEP_LARGE:,} open", ms(median(large)), ms(p95(large)),
                        f"sweep, {SWEEP_SMALL} open", ms(median(small)), 1.2,
                        note=f"{due_rows:,} future due rows"))
    res.rows.append(Row(f"raw due-range query (empty), {SWEEP_SMALL} open", ms(median(raw_small)), ms(p95(raw_small))))
    res.rows.append(Row(f"raw due-range query (empty), {SWEEP_LARGE:,} open", ms(median(raw_large)),
                        ms(p95(raw_large)), f"raw query, {SWEEP_SMALL} open", ms(median(raw_small)),
                        note=f"the store's own growth; table has {rows + SWEEP_SMALL * rows // len(more):,} rows"))
    res.trips.append((f"sweep, nothing due, {SWEEP_SMALL} open", small_trips, ""))
    res.trips.append((f"sweep, nothing due, {SWEEP_LARGE:,} open", large_trips, ""))

    # real work: each repetition opens 10 incidents at T0 whose first step (at 0 min) is due now
    store = CountingStore(new_store(az, "benchsweepdue"))
    clock = FixedClock(T0)
    sweep(store=store, clock=clock, runbook=rb, paging=paging_for(store))  # warm-up, nothing due
    times, trips = [], []
    for rep in range(DUE_REPS + 1):
        first = rep * DUE_PER_REP + 1
        write_incidents(store.inner, range(first, first + DUE_PER_REP), False, rb)
        set_counter(store.inner, range(first, first + DUE_PER_REP), False)
        store.reset()
        t, rep_out = timed(lambda: sweep(store=store, clock=clock, runbook=rb, paging=paging_for(store)))
        if len(rep_out.applied) != DUE_PER_REP:
            raise AssertionError(f"expected {DUE_PER_REP} steps applied, got {rep_out}")
        if rep:  # the first is a warm-up
            times.append(t), trips.append(store.snapshot())
    res.rows.append(Row(f"sweep, {DUE_PER_REP} steps due now (N={DUE_REPS})", ms(median(times)), ms(p95(times)),
                        f"sweep, nothing due, {SWEEP_SMALL} open", ms(median(small)),
                        note=f"{ms(median(times)) / DUE_PER_REP:.1f} ms per step"))
    res.trips.append((f"sweep, {DUE_PER_REP} steps due", median_trips(trips), ""))


# ---- 3. cold start ---------------------------------------------------------------------------

PROBE = """
import json, sys, time
t = time.perf_counter()
{body}
t = time.perf_counter() - t
print(json.dumps({{"s": t, "mgmt": sorted(m for m in sys.modules if m.startswith("azure.mgmt")),
                  "identity": "azure.identity" in sys.modules, "tables": "azure.data.tables" in sys.modules,
                  "requests": "requests" in sys.modules, "extra": {extra}}}))
"""
APP = PROBE.format(body="import function_app\nn = len(function_app.app.get_functions())", extra="n")
FIRST = PROBE.format(body="import function_app\nn = len(function_app.app.get_functions())\n"
                     "import shared.adapters.tables.store, shared.adapters.notify.pagerduty", extra="n")
SDKS = PROBE.format(body="import azure.functions, azure.data.tables, requests", extra="0")


def cold(code: str, cache: str) -> tuple[float, float, dict]:
    # Bytecode goes to a private prefix (nothing is written in the repo) and is warm after the first
    # run: both sides are measured as a worker whose disk already holds compiled modules.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPYCACHEPREFIX"] = cache
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120, check=True)
    wall = time.perf_counter() - t
    info = json.loads(out.stdout.strip().splitlines()[-1])
    return info["s"], wall, info


def bench_cold(res: Results) -> None:
    cache = tempfile.mkdtemp(prefix="bench-pycache-")
    try:
        cold(APP, cache), cold(SDKS, cache), cold(FIRST, cache)  # once each, untimed: compile into the cache, warm the page cache
        app, sdk, first, app_wall, sdk_wall, info = [], [], [], [], [], {}
        for _ in range(COLD_RUNS):  # interleaved, so drift hits both alike
            s, w, info = cold(APP, cache)
            app.append(s), app_wall.append(w)
            s, w, _ = cold(SDKS, cache)
            sdk.append(s), sdk_wall.append(w)
            first.append(cold(FIRST, cache)[0])
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    res.rows.append(Row(f"import azure.functions, azure.data.tables, requests (baseline, N={COLD_RUNS})",
                        ms(median(sdk)), note=f"process wall {ms(median(sdk_wall)):.0f} ms"))
    res.rows.append(Row(f"import function_app + get_functions() (N={COLD_RUNS})", ms(median(app)),
                        None, "SDK imports", ms(median(sdk)), 1.5,
                        note=f"process wall {ms(median(app_wall)):.0f} ms; {info['extra']} functions"))
    res.rows.append(Row(f"  + adapters the first alert imports (tables store, pagerduty) (N={COLD_RUNS})",
                        ms(median(first)), None, "SDK imports", ms(median(sdk)),
                        note="informational: what the first request adds"))
    mgmt = info["mgmt"]
    res.notes.append("azure.mgmt after importing function_app: " +
                     (f"LOADED ({len(mgmt)} modules, e.g. {', '.join(mgmt[:3])})" if mgmt else "none loaded (ok)") +
                     f"; azure.identity loaded: {info['identity']}; azure.data.tables loaded: {info['tables']}; "
                     f"requests loaded: {info['requests']}.")
    if mgmt:
        res.notes.append("FAIL: importing function_app pulls in azure.mgmt (it should load on first use).")


# ---- report ----------------------------------------------------------------------------------

def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "arch": platform.machine(),
            "nproc": str(os.cpu_count()), "cpu": cpu, "python": platform.python_version()}


def fmt(x: float | None, spec: str = ".1f") -> str:
    return "" if x is None else format(x, spec)


def table(res: Results) -> tuple[list[str], list[list[str]]]:
    head = ["benchmark", "median ms", "p95 ms", "baseline", "baseline ms", "ratio", "target", "", "note"]
    body = [[r.name, fmt(r.ms), fmt(r.p95), r.base_name, fmt(r.base_ms), fmt(r.ratio, ".2f") + ("x" if r.ratio else ""),
             f"<= {r.target}x" if r.target else "", r.verdict, r.note] for r in res.rows]
    return head, body


def trips_table(res: Results) -> tuple[list[str], list[list[str]]]:
    head = ["operation (median per call)", "get calls", "get keys", "scans", "commits", "HTTP requests",
            "sequential waits", "ms in get", "ms in scan", "ms in commit", "claimed"]
    body = [[name, *(fmt(t[k], "g") for k in ("get_calls", "get_keys", "scans", "commits", "requests", "waves")),
             *(fmt(t[k], ".1f") for k in ("ms_get", "ms_scan", "ms_commit")), claim] for name, t, claim in res.trips]
    return head, body


def text_table(head: list[str], body: list[list[str]]) -> str:
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([line(head), line(["-" * w for w in widths]), *map(line, body)])


def md_table(head: list[str], body: list[list[str]]) -> str:
    esc = lambda c: c.replace("|", "\\|")  # noqa: E731
    return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head),
                      *("| " + " | ".join(map(esc, row)) + " |" for row in body)])


def write_results(res: Results, m: dict[str, str], seconds: float) -> None:
    run = (f"{RUN_MARK.lstrip()}{m['date']}\n\n"
           f"Machine: {m['arch']}, {m['nproc']} CPUs ({m['cpu']}), Python {m['python']}; "
           f"Azurite in-memory on 127.0.0.1; whole run {seconds:.0f} s.\n\n"
           f"{md_table(*table(res))}\n\n"
           "Round trips, counted by a proxy around the store (a `get` of k keys is k point reads sent "
           "in parallel: k HTTP requests, one sequential wait):\n\n"
           f"{md_table(*trips_table(res))}\n\n" + "".join(f"- {n}\n" for n in res.notes))
    older = []
    if RESULTS.exists():
        older = RESULTS.read_text().split(RUN_MARK)[1:]
    header = ("# Benchmark results\n\nWritten by `make bench` (`python -m bench`); newest run first, "
              f"the last {KEEP_RUNS} kept. See bench/README.md for what each number means.\n")
    parts = [header, "\n" + run.rstrip("\n") + "\n", *(RUN_MARK + o.rstrip("\n") + "\n" for o in older[:KEEP_RUNS - 1])]
    RESULTS.write_text("".join(parts))


def main() -> int:
    started = time.perf_counter()
    res = Results()
    az = Azurite().start()
    try:
        say(f"azurite on 127.0.0.1:{az.port}; baseline")
        base_pair, base_get = bench_baseline(az, res)
        say("intake")
        bench_intake(az, res, base_pair, base_get)
        say("sweep")
        bench_sweep(az, res)
    finally:
        az.close()
    say("cold start")
    bench_cold(res)
    seconds = time.perf_counter() - started
    m = machine()
    print(f"\n{m['arch']}, {m['nproc']} CPUs ({m['cpu']}), Python {m['python']}, {m['date']}\n")
    print(text_table(*table(res)))
    print()
    print(text_table(*trips_table(res)))
    print()
    for n in res.notes:
        print(f"- {n}")
    write_results(res, m, seconds)
    print(f"\n{seconds:.0f} s; results in {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
