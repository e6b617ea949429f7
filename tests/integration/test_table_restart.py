"""An abrupt restart of the Table service (SIGKILL, then a restart on the same data folder) with the
day's counter row behind the incident rows, as a lost write or a restore leaves it: the next alert
is created, through the real trigger, instead of 503 on every retry for the rest of the day."""
from __future__ import annotations

import os
import signal
import tempfile

from devhost.azurite import Azurite
from shared import bootstrap
from shared.adapters.tables.store import TableRecordStore
from shared.config import Settings
from shared.ports import Op
from shared.storage import repository as keys
from tests.functions.conftest import App
from tests.payloads import CORE_SETTINGS, OTHER_ID, metric_alert


def post(alert: dict) -> tuple[int, dict]:
    return App().call("post_alert", body=alert)


def test_after_an_abrupt_restart_with_the_counter_behind_the_next_alert_is_created(clock):
    folder = tempfile.mkdtemp(prefix="azurite-data-")
    server = Azurite(location=folder).start()
    try:
        def connect():
            bootstrap.reset()
            store = TableRecordStore.from_settings(connection_string=server.connection_string, endpoint="",
                                                   table_name="restart")
            bootstrap.override(store=store, clock=clock,
                               settings=Settings.from_env({**CORE_SETTINGS, "PAGERDUTY_ROUTING_KEYS": "{}"}))
            return store
        connect()
        first = [post(metric_alert(f"a{i}", target=OTHER_ID, rule=f"r{i}")) for i in range(3)]
        assert [c for c, _ in first] == [202] * 3
        os.killpg(server.proc.pid, signal.SIGKILL)      # abruptly: no shutdown, no flush
        server.proc.wait(10)
        server.start()
        store = connect()
        status, body = post(metric_alert("after", target=OTHER_ID, rule="after-restart"))
        assert status == 202 and body["outcome"] == "created", body
        ckey = keys.counter_key(clock.now().strftime("%Y%m%d"))
        counter = store.get(keys=[ckey])[ckey]
        store.commit(ops=[Op("replace", ckey, {"n": 0}, counter.etag)])   # the counter came back behind
        store = connect()                      # and another worker, with no ids in hand, takes the next alert
        status, again = post(metric_alert("next", target=OTHER_ID, rule="next-rule"))
        assert status == 202 and again["outcome"] == "created", again
        assert again["incident_id"] > body["incident_id"]
        assert post(metric_alert("next2", target=OTHER_ID, rule="r-next"))[1]["outcome"] == "created"
    finally:
        server.close()
