"""The local host over HTTP: the real function_app served by devhost (bench/hostproc.py, a process of its
own, timers off) on this run's Azurite. 8 senders post distinct new alerts for ~20 s, against the same
8 senders reading GET health (the baseline: a trivial route through the same host). Then a storm: 50
distinct alerts at once on the API container app (one core resource, within the correlation window).
CPU is read per process (the host, Azurite, the senders) to show where the two cores go."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timezone

import requests

from bench.common import ROOT, Check, Results, Row, median, pct, say
from tests.payloads import API_ID, CORE_SETTINGS, OTHER_ID, metric_alert

SENDERS, ALERT_S, HEALTH_S, STORM = 8, 20.0, 8.0, 50
KEY = "bench-key"
TABLE = "benchhttp"


class Host:
    """bench.hostproc in a subprocess: `call(cmd)` sends a command and returns its JSON answer."""

    def __init__(self, az):
        env = {**os.environ, "TABLES_CONNECTION_STRING": az.connection_string, "TABLES_ENDPOINT": "",
               "TABLE_NAME": TABLE, "FUNCTIONS_KEY": KEY, **CORE_SETTINGS}
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.hostproc"], cwd=ROOT, env=env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.port = json.loads(self.proc.stdout.readline())["port"]
        self.api = f"http://127.0.0.1:{self.port}/api"

    def call(self, cmd: str) -> dict:
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
            self.proc.wait(15)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(5)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def load(url: str, senders: int, seconds: float, body=None) -> dict:
    """`senders` threads, each on its own keep-alive connection, sending for `seconds` after a common
    start: GET when `body` is None, else POST body(sender, n). Latency per request, status counts."""
    out: list[list[tuple[float, int]]] = [[] for _ in range(senders)]
    box: dict[str, float] = {}
    barrier = threading.Barrier(senders, action=lambda: box.update(t0=time.perf_counter()))

    def run(i: int) -> None:
        s = requests.Session()
        s.headers.update({"x-functions-key": KEY, "content-type": "application/json"})
        s.get(f"{url.rsplit('/api/', 1)[0]}/api/health", timeout=30)   # the connection, before the clock starts
        barrier.wait()
        n, stop = 0, box["t0"] + seconds
        while time.perf_counter() < stop:
            data = None if body is None else json.dumps(body(i, n))
            t = time.perf_counter()
            try:
                code = (s.post(url, data=data, timeout=30) if data else s.get(url, timeout=30)).status_code
            except requests.RequestException:   # no answer (a timeout, a reset): counted as status 0
                code = 0
            out[i].append((time.perf_counter() - t, code))
            n += 1
        box[f"end{i}"] = time.perf_counter()

    cpu = time.process_time()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = max(v for k, v in box.items() if k.startswith("end")) - box["t0"]
    lat = [x for o in out for x, _ in o]
    codes = Counter(c for o in out for _, c in o)
    return {"n": len(lat), "rate": len(lat) / wall, "p50": median(lat) * 1000, "p99": pct(lat, 99) * 1000,
            "codes": dict(codes), "wall": wall, "client_cpu": time.process_time() - cpu}


def alert_body(i: int, n: int) -> dict:
    return metric_alert(f"http-{i}-{n:05d}", target=f"{OTHER_ID}-http{i}-{n:05d}", rule=f"http-rule-{i}-{n:05d}",
                        severity="Sev1", fired=now_iso())


def busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (all cores; Linux /proc/stat)."""
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, f.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def phase(host: Host, az, url: str, seconds: float, body=None) -> tuple[dict, dict, dict]:
    """One load phase: the senders' view, the host's (that route only), and the cores each side used."""
    az0, busy0, host0 = cpu_seconds(az.proc.pid), busy_seconds(), cpu_seconds(host.proc.pid)
    client = load(url, SENDERS, seconds, body)
    used = {"azurite": cpu_seconds(az.proc.pid) - az0, "host": cpu_seconds(host.proc.pid) - host0}
    used["others"] = busy_seconds() - busy0 - used["azurite"] - used["host"] - client["client_cpu"]
    server = host.call(f"stats /api/{url.rsplit('/api/', 1)[1]}")
    return client, server, {k: v / client["wall"] for k, v in used.items()}


def bench_http(az, res: Results) -> None:
    host = Host(az)
    try:
        host.call("sweep")   # GET health answers 200 only after a recent sweep
        requests.post(f"{host.api}/alerts", json=alert_body(99, 0), headers={"x-functions-key": KEY}, timeout=30)
        host.call("stats")   # warm: the first alert builds the adapters; not counted
        say(f"GET health, {SENDERS} senders, {HEALTH_S:g} s")
        hc, hs, _ = phase(host, az, f"{host.api}/health", HEALTH_S)
        say(f"POST alerts, {SENDERS} senders, {ALERT_S:g} s")
        ac, as_, aaz = phase(host, az, f"{host.api}/alerts", ALERT_S, alert_body)
        say(f"storm: {STORM} alerts at once on the API container app")
        storm(host, az, res)
    finally:
        host.close()
    res.rows.append(Row(f"GET health over HTTP, {SENDERS} senders, {hc['n']} requests (baseline)", hc["p50"], None,
                        note=f"{hc['rate']:.0f}/s, p99 {hc['p99']:.0f} ms, answers {hc['codes']}"))
    res.rows.append(Row(f"POST alerts (new) over HTTP, {SENDERS} senders, {ac['n']} requests", ac["p50"], None,
                        "GET health, same load", hc["p50"],
                        note=f"{ac['rate']:.0f}/s, p99 {ac['p99']:.0f} ms, answers {ac['codes']}"))
    rate = ac["codes"].get(202, 0) / ac["wall"]
    bad = sum(v for k, v in ac["codes"].items() if k != 202)
    where = (f"server time per alert {as_['server_p50']:.0f} ms p50 ({as_['server_mean']:.0f} mean) = store calls "
             f"{as_['store_mean']:.0f} ms mean ({as_['keys_mean']:.1f} point reads in {as_['gets_mean']:.1f} waits, "
             f"{as_['commits_mean']:.2f} batches; the SDK's own Python included) + the app's Python "
             f"{as_['python_mean']:.0f} ms; GET health {hs['server_p50']:.0f} ms p50 (store {hs['store_mean']:.0f}, "
             f"Python {hs['python_mean']:.0f}). The host process burns {as_['cpu_per_request_ms']:.0f} ms of CPU per "
             f"alert (all its threads; GET health {hs['cpu_per_request_ms']:.0f} ms) and runs one thread at a time "
             f"(the GIL): at most ~{1000 / as_['cpu_per_request_ms']:.0f} alerts/s per process on a free core "
             f"({rate:.0f}/s x {as_['cpu_per_request_ms']:.0f} ms = {rate * as_['cpu_per_request_ms'] / 1000:.2f} "
             f"CPU-seconds a second: the host was saturated, its store calls mostly waiting for the GIL)"
             + (f"; in process (the intake benchmark) a new alert costs {res.facts['cpu_app_ms']:.0f} ms of CPU and "
                f"the same Table requests sent raw {res.facts['cpu_raw_ms']:.0f} ms: the Azure SDK's Python per "
                f"request, not the app's code, is most of it" if "cpu_app_ms" in res.facts else "") + ". "
             f"CPU in use of {os.cpu_count()} cores during the alerts: host {aaz['host']:.2f}, "
             f"Azurite {aaz['azurite']:.2f}, the senders {ac['client_cpu'] / ac['wall']:.2f}, other processes on the "
             f"machine {aaz['others']:.2f}. urllib3 dropped {as_['discarded']} connections for want of room in the "
             f"Table client's pool (10 connections, shared by the request threads and the 8 parallel-read threads), "
             f"so those requests paid a new TCP connection; commits refused by a condition {as_['conflicts']} "
             f"({as_['refused']}), retries after a lost race {as_['races']}")
    res.checks.append(Check(f"HTTP throughput, {SENDERS} senders of new alerts, {ac['wall']:.0f} s",
                            f"{rate:.0f} alerts/s (GET health {hc['rate']:.0f}/s)", ">= 100 alerts/s", rate >= 100,
                            where))
    res.checks.append(Check("HTTP new alert latency p50 / p99 (client)", f"{ac['p50']:.0f} / {ac['p99']:.0f} ms "
                            f"(GET health {hc['p50']:.0f} / {hc['p99']:.0f} ms)", "p99 < 250 ms", ac["p99"] < 250,
                            f"on the server p50 {as_['server_p50']:.0f} / p99 {as_['server_p99']:.0f} ms; with "
                            f"{SENDERS} requests in flight in one process each waits for the others' CPU time"))
    res.checks.append(Check("HTTP new alerts: answers other than 202", f"{bad} ({ac['codes']})", "0 (no 503)", bad == 0,
                            "503 is the app's answer to a store outage or to contention it gave up on"))


def storm(host: Host, az, res: Results) -> None:
    fired = now_iso()
    answers: list[tuple[float, int, dict]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(STORM)

    def one(i: int) -> None:
        s = requests.Session()
        s.headers.update({"x-functions-key": KEY})
        s.get(f"{host.api}/health", timeout=30)   # connected before the storm
        body = metric_alert(f"storm-{i:03d}", target=API_ID, rule=f"api-5xx-{i:03d}", severity="Sev1", fired=fired)
        barrier.wait()
        t = time.perf_counter()
        try:
            r = s.post(f"{host.api}/alerts", json=body, timeout=60)
            answer = (r.status_code, r.json() if r.headers.get("content-type", "").startswith("application/json")
                      else {})
        except requests.RequestException:   # no answer: status 0
            answer = (0, {})
        with lock:
            answers.append((time.perf_counter() - t, *answer))

    host.call("stats")
    threads = [threading.Thread(target=one, args=(i,)) for i in range(STORM)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    server = host.call("stats /api/alerts")
    lat = [a[0] * 1000 for a in answers]
    codes = Counter(a[1] for a in answers)
    incidents = {a[2].get("incident_id") for a in answers if a[1] == 202}
    outcomes = Counter(a[2].get("outcome") for a in answers if a[1] == 202)
    res.rows.append(Row(f"storm: {STORM} alerts at once on one core resource, over HTTP", median(lat), None,
                        note=f"p99 {pct(lat, 99):.0f} ms, max {max(lat):.0f} ms, answers {dict(codes)}"))
    created = sorted(a[2]["incident_id"] for a in answers if a[1] == 202 and a[2].get("outcome") == "created")
    ids = f"{created[0]} to {created[-1]}" if len(created) > 2 else ", ".join(created)
    first = ("the first wave's creators race on the `res|` row, which a new incident writes only if it is "
             "still as read: one wins, the others' batches fail and their retries join it" if len(incidents) == 1 else
             "more than one incident: the core-resource row did not serialize the creators")
    why = (f"{outcomes.get('created', 0)} created ({ids}), {outcomes.get('correlated', 0)} joined: {first}. "
           f"The joiners then contend for one incident row under its ETag (every join rewrites the incident): "
           f"{server.get('conflicts')} commits refused ({server.get('refused')}), {server.get('races')} retries "
           f"after a lost race (jittered pauses); per alert on the server {server.get('commits_mean', 0):.2f} batches, "
           f"{server.get('keys_mean', 0):.1f} point reads, {server.get('server_p50', 0):.0f} ms p50 / "
           f"{server.get('server_p99', 0):.0f} ms p99, {server.get('store_mean', 0):.0f} ms mean in store calls; "
           f"{server.get('discarded', 0)} Table connections dropped for want of room in the pool")
    res.checks.append(Check(f"storm of {STORM} on the API container app: incidents", f"{len(incidents)}", "1",
                            len(incidents) == 1, why))
    res.checks.append(Check(f"storm of {STORM}: answers", ", ".join(f"{v} x {k}" for k, v in sorted(codes.items())),
                            "every one 202 (no 503)", set(codes) == {202},
                            f"{codes.get(503, 0)} answered 503 (contention outlasting the retries, or the store)"))
    res.checks.append(Check(f"storm of {STORM}: latency p99 (client)", f"{pct(lat, 99):.0f} ms (p50 {median(lat):.0f})",
                            "< 1000 ms", pct(lat, 99) < 1000,
                            f"all {STORM} arrive at once on {os.cpu_count()} cores: each waits for the others' CPU, "
                            f"and a joiner that lost the incident's ETag reads, decides and writes again"))
