"""`python -m bench.hostproc`: the local host (devhost.server.serve, the real function_app) in a process
of its own, with a store that measures each request's time in store calls (bench/http_load.py drives it).

Settings come from the environment, as the host reads them. It prints {"port": N} when it serves, then
answers commands on stdin, one JSON line each:

    sweep    run the escalation sweep once (so GET health finds a fresh sweep)
    stats [PATH]  what the requests since the last `stats` (to PATH only, when given) cost on the server,
             then start counting anew
    quit     stop serving

Per request (the host's access log line is written in the request's thread when it is answered): the
server's time, the time spent in store calls made by that thread (the SDK and Azurite, as the caller
waits for them), the thread's CPU time, and the store calls. Also counted: commits refused by a
concurrency condition and intake's "lost a race" retries.
"""
from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time

from bench.common import ROOT, Wire, median, pct  # noqa: F401  (puts the repo on sys.path)
from shared.domain.errors import ConcurrencyConflict

_local = threading.local()
refused: dict[str, int] = {}      # commits refused by a condition: the row, the write, the store's code
_refused_lock = threading.Lock()


def _acc() -> dict:
    if not hasattr(_local, "acc"):
        _local.acc = {"store_s": 0.0, "gets": 0, "keys": 0, "scans": 0, "commits": 0, "conflicts": 0,
                      "cpu0": time.thread_time()}
    return _local.acc


class MeteredStore:
    """The RecordStore port, adding each call's wait and kind to the calling thread's account."""

    def __init__(self, inner):
        self.inner = inner

    def _timed(self, fn, **count):
        acc, t = _acc(), time.perf_counter()
        for k, v in count.items():
            acc[k] += v
        try:
            return fn()
        except ConcurrencyConflict:
            acc["conflicts"] += 1
            raise
        finally:
            acc["store_s"] += time.perf_counter() - t

    def get(self, *, keys):
        return self._timed(lambda: self.inner.get(keys=keys), gets=1, keys=len(keys))

    def scan(self, **kw):
        return self._timed(lambda: self.inner.scan(**kw), scans=1)

    def commit(self, *, ops):
        try:
            return self._timed(lambda: self.inner.commit(ops=ops), commits=1)
        except ConcurrencyConflict as e:   # which row: the batch's failed operation (its index, when the store says)
            cause = e.__cause__
            index = getattr(cause, "index", 0) if 0 <= getattr(cause, "index", 0) < len(ops) else 0
            code = str(getattr(cause, "error_code", "") or type(cause).__name__)
            kind = f"{ops[index].key.split('|', 1)[0]}| {ops[index].kind}: {code}" if ops else "?"
            with _refused_lock:
                refused[kind] = refused.get(kind, 0) + 1
            raise


class Requests(logging.Handler):
    """The host's access log: one record per answered request, in the request's thread."""

    def __init__(self) -> None:
        super().__init__()
        self.samples: list[dict] = []
        self.taking = threading.Lock()   # not `lock`: logging.Handler holds that one around emit()

    def emit(self, record: logging.LogRecord) -> None:
        _method, path, status, server_ms = record.args
        acc = _acc()
        cpu = time.thread_time()
        sample = {"path": path.split("?")[0], "status": status, "server_ms": server_ms,
                  "store_ms": acc["store_s"] * 1000, "cpu_ms": (cpu - acc["cpu0"]) * 1000,
                  **{k: acc[k] for k in ("gets", "keys", "scans", "commits", "conflicts")}}
        _local.acc = {**{k: 0 for k in acc}, "store_s": 0.0, "cpu0": cpu}
        with self.taking:
            self.samples.append(sample)


class Tally(logging.Handler):
    """Counts log records: the app's retries after a lost race (shared/services/retry.py, or wherever a
    use case logs "lost a race"), and urllib3 dropping a connection its pool has no room for."""

    def __init__(self) -> None:
        super().__init__()
        self.races = self.discarded = 0

    def emit(self, record: logging.LogRecord) -> None:
        msg = str(record.msg)
        self.races += "lost a race" in msg
        self.discarded += "pool is full" in msg


def summary(samples: list[dict], races: int, discarded: int, cpu_s: float, wall_s: float, wire: int) -> dict:
    if not samples:
        return {"requests": 0}
    col = lambda k: [s[k] for s in samples]  # noqa: E731
    statuses: dict[str, int] = {}
    for s in samples:
        statuses[str(s["status"])] = statuses.get(str(s["status"]), 0) + 1
    python = [s["server_ms"] - s["store_ms"] for s in samples]
    return {"requests": len(samples), "statuses": statuses,
            "server_p50": median(col("server_ms")), "server_p99": pct(col("server_ms"), 99),
            "store_p50": median(col("store_ms")), "python_p50": median(python), "cpu_p50": median(col("cpu_ms")),
            "server_mean": sum(col("server_ms")) / len(samples), "store_mean": sum(col("store_ms")) / len(samples),
            "python_mean": sum(python) / len(samples), "cpu_mean": sum(col("cpu_ms")) / len(samples),
            **{f"{k}_mean": sum(col(k)) / len(samples) for k in ("gets", "keys", "scans", "commits")},
            "conflicts": sum(col("conflicts")), "refused": dict(refused), "races": races, "discarded": discarded,
            "process_cpu_s": cpu_s, "cpu_per_request_ms": cpu_s * 1000 / len(samples), "wall_s": wall_s, "wire": wire}


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    for h in logging.getLogger().handlers:
        h.setLevel(logging.WARNING)              # stderr: warnings only; the INFO below is for counting
    handler, tally = Requests(), Tally()
    access = logging.getLogger("devhost.access")
    access.setLevel(logging.INFO)
    access.addHandler(handler)
    access.propagate = False
    for name in ("shared", "urllib3.connectionpool"):
        logging.getLogger(name).setLevel(logging.INFO)
        logging.getLogger(name).addHandler(tally)
    logging.getLogger("urllib3.connectionpool").propagate = False   # counted, not printed
    os.chdir(ROOT)
    import function_app
    from devhost.server import serve
    from shared import bootstrap
    from shared.adapters.tables.store import TableRecordStore
    from shared.config import Settings
    from shared.services.sweep import sweep

    settings = Settings.from_env(os.environ)
    wire = Wire()
    store = MeteredStore(TableRecordStore.from_settings(connection_string=settings.tables_connection_string,
                                                        endpoint="", table_name=settings.table_name,
                                                        raw_request_hook=wire.hook))
    bootstrap.override(settings=settings, store=store)
    host = serve(function_app.app, port=0, time_scale=1.0, timers=False, key=os.environ["FUNCTIONS_KEY"],
                 environ={"ESCALATION_SCHEDULE": settings.escalation_schedule})
    print(json.dumps({"port": host.port}), flush=True)
    mark = (time.process_time(), time.perf_counter(), wire.n, tally.races, tally.discarded)
    try:
        for line in sys.stdin:
            cmd = line.strip()
            if cmd == "sweep":
                b = bootstrap
                rep = sweep(store=b.store(), clock=b.clock(), runbook=b.runbook(), paging=b.paging(), lane="esc")
                print(json.dumps({"due": rep.due}), flush=True)
            elif cmd.startswith("stats"):   # "stats [/api/path]": that route's requests only
                with handler.taking:
                    samples, handler.samples = handler.samples, []
                path = cmd[len("stats"):].strip()
                samples = [x for x in samples if not path or x["path"] == path]
                now = (time.process_time(), time.perf_counter(), wire.n, tally.races, tally.discarded)
                print(json.dumps(summary(samples, now[3] - mark[3], now[4] - mark[4], now[0] - mark[0],
                                         now[1] - mark[1], now[2] - mark[2])), flush=True)
                refused.clear()
                mark = now
            elif cmd == "quit":
                break
    finally:
        host.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
