"""Cold start: a fresh process importing function_app and listing its functions, against one importing
the bare SDKs the app runs on."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from bench.common import ROOT, Check, Results, Row, median, ms

COLD_RUNS = 11
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


def import_split(cache: str) -> str:
    """-X importtime of the app's import, once: self time summed by top-level package, the largest first."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPYCACHEPREFIX"] = cache
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", APP], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120, check=True).stderr
    groups: dict[str, int] = {}
    for line in out.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[0].startswith("import time:") and parts[0].split(":")[1].strip().isdigit():
            top = parts[2].strip().split(".")[0]
            groups[top] = groups.get(top, 0) + int(parts[0].split(":")[1])
    total = sum(groups.values())
    top = sorted(groups.items(), key=lambda kv: -kv[1])[:5]
    return (f"-X importtime of the app's import (self time, instrumented, so larger than the timing above): "
            f"{total / 1000:.0f} ms, of which " + ", ".join(f"{k} {v / 1000:.0f} ms" for k, v in top))


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
        split = import_split(cache)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    res.rows.append(Row(f"import azure.functions, azure.data.tables, requests (baseline, N={COLD_RUNS})",
                        ms(median(sdk)), note=f"process wall {ms(median(sdk_wall)):.0f} ms"))
    res.rows.append(Row(f"import function_app + get_functions() (N={COLD_RUNS})", ms(median(app)),
                        None, "SDK imports", ms(median(sdk)), 1.0,
                        note=f"process wall {ms(median(app_wall)):.0f} ms; {info['extra']} functions"))
    res.rows.append(Row(f"  + adapters the first alert imports (tables store, pagerduty) (N={COLD_RUNS})",
                        ms(median(first)), None, "SDK imports", ms(median(sdk)),
                        note="informational: what the first request adds"))
    ratio = median(app) / median(sdk)
    mgmt = info["mgmt"]
    loaded = [name for name, key in (("azure.data.tables", "tables"), ("requests", "requests"),
                                     ("azure.identity", "identity")) if info[key]] + mgmt[:1]
    res.checks.append(Check("cold start: import function_app + get_functions() vs the bare SDK imports",
                            f"{ratio:.2f}x ({ms(median(app)):.0f} vs {ms(median(sdk)):.0f} ms)", "<= 1.0x",
                            ratio <= 1.0, "after importing the app: " + (", ".join(loaded) + " already loaded"
                            if loaded else "no Table SDK, requests, azure.identity or azure.mgmt loaded yet (they "
                            "load on first use)") + f"; {split}"))
    res.notes.append("azure.mgmt after importing function_app: " +
                     (f"LOADED ({len(mgmt)} modules, e.g. {', '.join(mgmt[:3])})" if mgmt else "none loaded (ok)") +
                     f"; azure.identity loaded: {info['identity']}; azure.data.tables loaded: {info['tables']}; "
                     f"requests loaded: {info['requests']}.")
    if mgmt:
        res.notes.append("FAIL: importing function_app pulls in azure.mgmt (it should load on first use).")
