"""Table Storage stopped in the middle of a stream of alerts, then started again on the same port and
the same data folder: while it is down every alert is answered 503 with Retry-After (so Azure Monitor
retries it), and once it is back every alert redelivered is accounted for exactly once: each alert
id belongs to exactly one incident, no alert opened two, and no incident is partial (each has its
timeline's "created" event, and every alert index row points at an incident that exists).

Azurite saves its data folder when it gets SIGINT and only then: on SIGTERM (Azurite.stop) it exits
at once, and what it took since its last autosave (LokiJS, every 5 s) is lost, the table itself
included when it is younger than that. A real Table Storage keeps what it answered, so the outage
here is a graceful stop (SIGINT, the database written, then the process ended), and what it
answered before it went down must still be there when it comes back.
"""
from __future__ import annotations

import json
import queue
import shutil
import tempfile
import threading
import time

import azure.functions as func
import pytest

from devhost.azurite import Azurite
from shared import bootstrap
from shared.adapters.tables.store import TableRecordStore
from shared.config import Settings
from shared.storage import repository as keys
from tests.faults.conftest import FAULTS
from tests.functions.conftest import App
from tests.payloads import CORE_SETTINGS, OTHER_ID, metric_alert

ALERTS = 36
WORKERS = 3


def stop_gracefully(server: Azurite) -> None:
    """Azurite.stop sends SIGINT first, the one signal on which Azurite writes its database."""
    server.stop()


class Stream:
    """Alerts posted by a few workers, as Azure Monitor's action group would, each answer kept."""

    def __init__(self, app: App, alerts: list[dict]):
        self.post = app.functions["post_alert"]
        self.alerts = alerts
        self.answers: dict[int, list[tuple[int, dict, str | None]]] = {i: [] for i in range(len(alerts))}
        self.lock = threading.Lock()
        self.done = 0

    def send(self, i: int) -> tuple[int, dict, str | None]:
        req = func.HttpRequest("POST", "http://localhost/api/alerts", body=json.dumps(self.alerts[i]).encode(),
                               headers={"content-type": "application/json"})
        resp = self.post(req)
        answer = (resp.status_code, json.loads(resp.get_body()), resp.headers.get("Retry-After"))
        with self.lock:
            self.answers[i].append(answer)
            self.done += 1
        return answer

    def run(self, work: queue.Queue) -> None:
        while True:
            try:
                i = work.get_nowait()
            except queue.Empty:
                return
            self.send(i)

    def count(self, status: int) -> int:
        with self.lock:
            return sum(1 for answers in self.answers.values() for s, _, _ in answers if s == status)


def wait_until(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.fixture
def server():
    folder = tempfile.mkdtemp(prefix="azurite-outage-")
    server = Azurite(location=folder).start()
    yield server
    server.close()
    shutil.rmtree(folder, ignore_errors=True)


def test_alerts_posted_through_a_table_outage_are_each_accounted_for_once(server, clock):
    store = TableRecordStore.from_settings(connection_string=server.connection_string, endpoint="",
                                           table_name="outage")
    bootstrap.override(store=store, clock=clock,
                       settings=Settings.from_env({**CORE_SETTINGS, "PAGERDUTY_ROUTING_KEYS": "{}"}))
    app = App()
    alerts = [metric_alert(f"out{i}", target=f"{OTHER_ID}-{i}", rule=f"rule-{i}", severity="Sev2")
              for i in range(ALERTS)]
    stream, work = Stream(app, alerts), queue.Queue()
    for i in range(ALERTS):
        work.put(i)
    workers = [threading.Thread(target=stream.run, args=(work,)) for _ in range(WORKERS)]
    for w in workers:
        w.start()
    try:
        wait_until(lambda: stream.done >= 10)
        stop_gracefully(server)                               # in the middle of the stream
        wait_until(lambda: stream.count(503) >= 6 or work.empty())
        server.start()                                        # the same port, the same data folder
    finally:
        for w in workers:
            w.join()
    refused = stream.count(503)
    FAULTS["requests refused while Table Storage was down"] += refused
    FAULTS["Table Storage stopped"] += 1
    assert refused >= 1
    for answers in stream.answers.values():
        for status, body, retry_after in answers:
            assert status in (202, 503), (status, body)
            if status == 503:
                assert body["error"] == "unavailable" and retry_after and int(retry_after) > 0, body

    # Azure Monitor retries what was refused; it may also deliver an accepted alert again.
    for i, answers in stream.answers.items():
        for _ in range(5):
            if answers[-1][0] == 202:
                break
            stream.send(i)
        stream.send(i)
    by_alert = {}
    for i, answers in stream.answers.items():
        accepted = [body["incident_id"] for status, body, _ in answers if status == 202]
        assert len(set(accepted)) == 1, (i, answers)          # every answer names the same incident
        assert answers[-1][0] == 202 and answers[-1][1]["outcome"] == "duplicate"
        by_alert[alerts[i]["data"]["essentials"]["alertId"]] = accepted[0]

    incidents = listed(app)
    assert len(incidents) == ALERTS                           # one incident per alert, none twice
    owners: dict[str, list[str]] = {}
    for summary in incidents:
        status, shown = app.call("get_incident", method="GET", route={"id": summary["id"]})
        assert status == 200
        assert [e["kind"] for e in shown["timeline"]].count("created") == 1, shown["id"]
        for alert_id in shown["alert_ids"]:
            owners.setdefault(alert_id, []).append(shown["id"])
    assert {a: o for a, o in owners.items()} == {a: [inc] for a, inc in by_alert.items()}

    rows = store.scan(start="", end="~").records
    incident_rows = {r.key for r in rows if r.key.startswith("inc|")}
    timelines = {r.key.split("|")[1] for r in rows if r.key.startswith("tl|")}
    assert {k.split("|")[1] for k in incident_rows} <= timelines
    for r in rows:
        if r.key.startswith("alert|"):
            assert keys.incident_key(r.data["incident_id"]) in incident_rows, r.key


def listed(app: App) -> list[dict]:
    out, params = [], {"limit": "200"}
    while True:
        status, page = app.call("list_incidents", method="GET", params=params)
        assert status == 200, page
        out += page["incidents"]
        if not page["continuation"]:
            return out
        params = {"limit": "200", "continuation": page["continuation"]}
