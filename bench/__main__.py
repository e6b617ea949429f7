"""`python -m bench` (make bench): the app's performance against its own Azurite, with baselines.

Starts one Azurite (in-memory, 127.0.0.1, a free port), runs each benchmark on a fresh table, prints
the tables and rewrites bench/RESULTS.md with this run on top (older runs are kept below it). Every
timing is shown raw (ms) and as a ratio against a baseline measured in the same run, so numbers
from different machines can be compared by their ratios.

    intake   ingest_alert: new alerts and redeliveries vs the same requests sent raw   (bench/intake.py)
    step     one due escalation step applied and its page delivered, vs raw            (bench/step.py)
    queue    a SEV-1 page behind 600 queued tickets and chats, on real 10 s ticks       (bench/queue.py)
    http     the local host over HTTP: 8 senders of new alerts vs GET health; a storm   (bench/http_load.py)
    sweep    sweep() with nothing due, 10 vs 10,000 open incidents; and with 10 due     (bench/sweep.py)
    cold     import function_app + get_functions() vs importing the bare SDKs           (bench/cold.py)

    python -m bench [--only NAME ...] [--no-write]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

from bench.common import Results, say  # noqa: F401  (first: puts the repo on sys.path)
from bench import cold, http_load, intake, queue, report, step, sweep
from devhost.azurite import Azurite

NAMES = ("intake", "step", "queue", "http", "sweep", "cold")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--only", nargs="+", choices=NAMES, default=list(NAMES), help="run only these benchmarks")
    p.add_argument("--no-write", action="store_true", help="print the tables, leave bench/RESULTS.md alone")
    args = p.parse_args(argv)
    started, load_before = time.perf_counter(), f"{os.getloadavg()[1]:.1f}"
    res = Results()
    az = Azurite().start()
    try:
        say(f"azurite on 127.0.0.1:{az.port}")
        if "intake" in args.only:
            say("intake: baseline, then 300 new alerts and 300 redeliveries")
            base_pair, base_get = intake.bench_baseline(az, res)
            intake.bench_intake(az, res, base_pair, base_get)
        if "step" in args.only:
            say("one due step and its page")
            step.bench_step(az, res)
        if "queue" in args.only:
            say("a page behind a queue")
            queue.bench_queue(az, res)
        if "http" in args.only:
            say("the local host over HTTP")
            http_load.bench_http(az, res)
        if "sweep" in args.only:
            say("sweep")
            sweep.bench_sweep(az, res)
    finally:
        az.close()
    if "cold" in args.only:
        say("cold start")
        cold.bench_cold(res)
    seconds = time.perf_counter() - started
    m = {**report.machine(), "load_before": load_before}
    report.show(res, m)
    if not args.no_write:
        report.write_results(res, m, seconds)
        print(f"\n{seconds:.0f} s; results in {report.RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
