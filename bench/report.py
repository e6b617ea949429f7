"""The tables: printed, and written to bench/RESULTS.md (newest run first, the last KEEP_RUNS kept)."""
from __future__ import annotations

import math
import os
import platform
from datetime import datetime, timezone
from pathlib import Path

from bench.common import ROOT, Results

RESULTS = ROOT / "bench" / "RESULTS.md"
KEEP_RUNS = 10
RUN_MARK = "\n## Run "


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
            "nproc": str(os.cpu_count()), "cpu": cpu, "python": platform.python_version(),
            "load": f"{os.getloadavg()[1]:.1f}"}


def fmt(x: float | None, spec: str = ".1f") -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def table(res: Results) -> tuple[list[str], list[list[str]]]:
    head = ["benchmark", "median ms", "p95 ms", "baseline", "baseline ms", "ratio", "target", "", "note"]
    body = [[r.name, fmt(r.ms), fmt(r.p95), r.base_name, fmt(r.base_ms), fmt(r.ratio, ".2f") + ("x" if r.ratio else ""),
             f"<= {r.target}x" if r.target else "", r.verdict, r.note] for r in res.rows]
    return head, body


def trips_table(res: Results) -> tuple[list[str], list[list[str]]]:
    head = ["operation (median per call)", "get calls", "get keys", "scans", "commits", "requests (calls)",
            "HTTP requests (wire)", "sequential waits", "ms in get", "ms in scan", "ms in commit", "target"]
    body = [[name, *(fmt(t[k], "g") for k in ("get_calls", "get_keys", "scans", "commits", "requests", "wire", "waves")),
             *(fmt(t[k], ".1f") for k in ("ms_get", "ms_scan", "ms_commit")), claim] for name, t, claim in res.trips]
    return head, body


def checks_table(res: Results) -> tuple[list[str], list[list[str]]]:
    head = ["figure", "measured", "target", "", "why / where it goes"]
    return head, [[c.figure, c.measured, c.target, c.verdict, c.why] for c in res.checks]


def text_table(head: list[str], body: list[list[str]]) -> str:
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([line(head), line(["-" * w for w in widths]), *map(line, body)])


def md_table(head: list[str], body: list[list[str]]) -> str:
    esc = lambda c: c.replace("|", "\\|")  # noqa: E731
    return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head),
                      *("| " + " | ".join(map(esc, row)) + " |" for row in body)])


def show(res: Results, m: dict[str, str]) -> None:
    print(f"\n{m['arch']}, {m['nproc']} CPUs ({m['cpu']}), Python {m['python']}, {m['date']}, 5-minute load "
          f"average {m['load_before']} before, {m['load']} after\n")
    print(text_table(*table(res)))
    print()
    print(text_table(*trips_table(res)))
    print()
    for c in res.checks:
        print(f"- [{c.verdict or '-'}] {c.figure}: {c.measured} (target {c.target}). {c.why}")
    print()
    for n in res.notes:
        print(f"- {n}")


def write_results(res: Results, m: dict[str, str], seconds: float) -> None:
    run = (f"{RUN_MARK.lstrip()}{m['date']}\n\n"
           f"Machine: {m['arch']}, {m['nproc']} CPUs ({m['cpu']}), Python {m['python']}; "
           f"Azurite in-memory on 127.0.0.1; whole run {seconds:.0f} s; 5-minute load average {m['load_before']} "
           f"before the run, {m['load']} after it (other work on the machine: compare ratios, not ms).\n\n"
           f"{md_table(*table(res))}\n\n"
           "Round trips, counted by a proxy around the store (a `get` of k keys is k point reads sent "
           "in parallel: k HTTP requests, one sequential wait) and at the wire (the Table client's "
           "request hook: every HTTP request sent, retries included):\n\n"
           f"{md_table(*trips_table(res))}\n\n"
           "Targets of the issue \"One unit of work and domain events\" (held or missed, and why):\n\n"
           f"{md_table(*checks_table(res))}\n\n" + "".join(f"- {n}\n" for n in res.notes))
    older = []
    if RESULTS.exists():
        older = RESULTS.read_text().split(RUN_MARK)[1:]
    header = ("# Benchmark results\n\nWritten by `make bench` (`python -m bench`); newest run first, "
              f"the last {KEEP_RUNS} kept. See bench/README.md for what each number means.\n")
    parts = [header, "\n" + run.rstrip("\n") + "\n", *(RUN_MARK + o.rstrip("\n") + "\n" for o in older[:KEEP_RUNS - 1])]
    RESULTS.write_text("".join(parts))
