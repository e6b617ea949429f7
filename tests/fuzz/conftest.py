"""The hostile-input run: a world to send requests into, and a tally printed at the end of the session.

`HOSTILE_TALLY=1` records what each case got instead of failing at the first 5xx (to count the 5xx
of a tree, e.g. the code before a fix)."""
from __future__ import annotations

import hashlib
import json
import os
import re
import time
import traceback
from collections import Counter
from datetime import datetime, timezone
from typing import Any, Callable

import pytest

from shared import bootstrap
from shared.adapters.clock import FixedClock
from shared.adapters.memory import InMemoryRecordStore
from shared.config import Settings
from shared.domain.errors import StoreUnavailable
from tests.fuzz.hostile import Case
from tests.payloads import CORE_SETTINGS, metric_alert

TALLY_ONLY = os.environ.get("HOSTILE_TALLY") == "1"
RUNBOOK = bootstrap.load_runbook(Settings().runbook_file)


class Tally:
    def __init__(self) -> None:
        self.cases = 0
        self.statuses: Counter[int] = Counter()
        self.problems: Counter[str] = Counter()
        self.examples: dict[str, str] = {}
        self.seconds = 0.0
        self.digest = hashlib.sha256()  # of every request sent: the same on every run (derandomized)

    def problem(self, kind: str, example: str) -> None:
        self.problems[kind] += 1
        self.examples.setdefault(kind, example)


TALLY = Tally()


_KEY_CHARS = re.compile(r"[/\\#?\x00-\x1f\x7f-\x9f]")  # not allowed in a RowKey


def table_refusal(op: Any) -> str | None:
    """Why Table Storage would refuse to write `op` whatever the retries, or None: the service's limits
    (RowKey of at most 1 KiB without / \\ # ? or control characters; at most 255 properties; a string
    property of at most 64 KiB in UTF-16; an entity of at most 1 MiB by the documented size formula)."""
    if len(op.key) > 1024 or _KEY_CHARS.search(op.key):
        return "InvalidRowKey"
    if op.kind == "delete":
        return None
    if len(op.data) + 3 > 255:
        return "TooManyProperties"
    size = 4 + 2 * (len("p0") + len(op.key))
    for name, value in op.data.items():
        if isinstance(value, str):
            units = len(value.encode("utf-16-le", "surrogatepass")) // 2
            if units > 32 * 1024:
                return "PropertyValueTooLarge"
            size += 8 + 2 * len(name) + 4 + 2 * units
        else:
            size += 8 + 2 * len(name) + 8
    return "EntityTooLarge" if size > 1024 * 1024 else None


class CountingStore:
    """The RecordStore port around a real one, counting the writes that went through. Around the
    in-memory store it also enforces Table Storage's limits, as the Table adapter would report them
    (StoreUnavailable: a 503 that no retry can cure, which is what the hostile run looks for)."""

    def __init__(self, inner: Any, table_limits: bool = True):
        self.inner = inner
        self.writes = 0
        self.table_limits = table_limits

    def get(self, *, keys):
        return self.inner.get(keys=keys)

    def scan(self, **kw):
        return self.inner.scan(**kw)

    def commit(self, *, ops):
        refusals = [why for why in map(table_refusal, ops) if why] if self.table_limits else []
        if refusals:
            raise StoreUnavailable(f"Table Storage unavailable: {refusals[0]} (a limit of the service)")
        out = self.inner.commit(ops=ops)
        self.writes += len(ops)
        return out


class World:
    """The app's registered functions over a store seeded with live records (two incidents, a silence,
    an override), renewed every `renew` cases so that accepted commands do not wear the records out."""

    def __init__(self, make_store: Callable[[], Any], renew: int = 60, table_limits: bool = True):
        from tests.functions.conftest import App
        self.make_store, self.renew, self.sent, self.table_limits = make_store, renew, 0, table_limits
        self.clock = FixedClock(datetime(2026, 11, 27, 3, 0, tzinfo=timezone.utc))
        self.settings = Settings.from_env({**CORE_SETTINGS, "PAGERDUTY_ROUTING_KEYS": '{"primary": "k"}',
                                           "REMEDIATION_MODE": "approval"})
        self.app = App()
        self.known: dict[str, list[str]] = {}
        self.fresh()

    def fresh(self) -> None:
        self.store = CountingStore(self.make_store(), self.table_limits)
        bootstrap.override(store=self.store, clock=self.clock, settings=self.settings, runbook=RUNBOOK)
        first = self.app.call("post_alert", body=metric_alert("seed", severity="Sev1"))[1]["incident_id"]
        declared = self.app.call("declare_incident", body={"title": "Checkout failing", "severity": "SEV-2"})[1]
        sil = self.app.call("create_silence", body={"match": {"alert_rule": "api-5xx"},
                                                    "end": "2026-11-28T00:00:00Z", "reason": "deploy"})[1]
        ovr = self.app.call("add_override", body={"role": "primary", "person": "zoe", "start": "2026-11-27T00:00:00Z",
                                                  "end": "2026-11-28T00:00:00Z"})[1]
        rems = self.app.call("get_incident", method="GET", route={"id": first})[1]["remediations"]
        self.known.clear()  # in place: the strategies hold this dict
        self.known.update({"id": [first, declared["id"]], "sid": [sil["id"]], "oid": [ovr["id"]],
                           "rid": [r["id"] for r in rems] or ["REM-000000"]})

    def send(self, name: str, method: str, raw: bytes, route: dict | None = None, query: dict | None = None
             ) -> tuple[int, Any]:
        """Send one hostile request and check the answer: never a 5xx, every error a JSON
        {"error", "message"}, and a 4xx writes nothing."""
        self.sent += 1
        if self.sent % self.renew == 0:
            self.fresh()
        before = self.store.writes
        started = time.perf_counter()
        try:
            status, body = self.app.call(name, method=method, raw=raw, route=route, params=query)
        except Exception:  # what the Functions host would answer with a 500
            status, body = 500, {"error": "unhandled", "message": traceback.format_exc(limit=-3)}
        TALLY.seconds += time.perf_counter() - started
        TALLY.cases += 1
        TALLY.digest.update(repr((name, query, raw)).encode("utf-8", "surrogatepass"))  # ids vary
        TALLY.statuses[status] += 1
        wrote = self.store.writes - before
        shown = f"{name} {route or ''} {query or ''} {raw[:300]!r} -> {status} {json.dumps(body)[:600]}"
        problem = None
        if status >= 500:
            problem = f"{status} {name}"
        elif status >= 400 and wrote:
            problem = f"{status} after {wrote} writes: {name}"
        elif status >= 400 and not (isinstance(body, dict) and isinstance(body.get("error"), str)
                                    and isinstance(body.get("message"), str)):
            problem = f"{status} without an error body: {name}"
        if problem:
            TALLY.problem(problem, shown)
            if not TALLY_ONLY:
                raise AssertionError(f"{problem}\n{shown}")
        return status, body

    def case(self, case: Case) -> tuple[int, Any]:
        return self.send(case.route.name, case.route.method, case.raw, case.params, case.query)


@pytest.fixture
def memory_world():
    world = World(InMemoryRecordStore)
    yield world
    bootstrap.reset()


@pytest.fixture
def azurite_world(azurite):
    from shared.adapters.tables.store import TableRecordStore
    tables = iter(range(10 ** 6))

    def make():
        return TableRecordStore.from_settings(connection_string=azurite.connection_string, endpoint="",
                                              table_name=f"fuzz{next(tables)}x{os.getpid()}")
    world = World(make, renew=100, table_limits=False)  # Azurite enforces its own
    yield world
    bootstrap.reset()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not TALLY.cases:
        return
    fivexx = sum(n for s, n in TALLY.statuses.items() if s >= 500)
    terminalreporter.write_line(
        f"hostile input: {TALLY.cases} cases in {TALLY.seconds:.1f} s of requests; answers "
        f"{dict(sorted(TALLY.statuses.items()))}; 5xx: {fivexx}; requests digest {TALLY.digest.hexdigest()[:12]}")
    for kind, n in TALLY.problems.most_common():
        terminalreporter.write_line(f"  {n:5d} × {kind}\n        e.g. {TALLY.examples[kind][:700]}")
