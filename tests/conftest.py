"""Shared fixtures: a real Azurite for the session, a fresh table per test, loopback fakes.

`--shift-clock=INSTANT` (ISO-8601 with an offset, e.g. 2027-02-28T23:58:00Z) runs the whole session
with this process's wall clock starting at INSTANT and ticking on (time-machine, tick=True): every
`datetime.now()`, `date.today()` and `time.time()` in the tests and the app sees the shifted time,
so a test that passes only on the day it was written fails here (`make test-shifted`). Monotonic
clocks and other processes (Azurite, whose Table Timestamps stay real) are not shifted.
"""
from __future__ import annotations

import itertools
from datetime import datetime, timezone

import pytest

from shared import bootstrap
from shared.adapters.clock import FixedClock
from shared.adapters.memory import InMemoryRecordStore
from devhost.azurite import Azurite

_tables = itertools.count(1)


def pytest_addoption(parser):
    parser.addoption("--shift-clock", metavar="INSTANT", default=None,
                     help="run the session with the wall clock starting at INSTANT (ISO-8601 with an "
                          "offset, e.g. 2027-02-28T23:58:00Z) and ticking on; see tests/conftest.py")


def pytest_configure(config):
    # A hook rather than a fixture: the shift also covers collection (import-time clock reads).
    instant = config.getoption("--shift-clock")
    if not instant:
        return
    try:
        when = datetime.fromisoformat(instant)
    except ValueError as e:
        raise pytest.UsageError(f"--shift-clock: {e}") from e
    if when.tzinfo is None:
        raise pytest.UsageError("--shift-clock needs an offset (Z or +hh:mm)")
    import time_machine
    traveller = time_machine.travel(when, tick=True)
    traveller.start()
    config.add_cleanup(traveller.stop)


def pytest_report_header(config):
    instant = config.getoption("--shift-clock")
    return f"wall clock shifted to {instant} (time-machine, ticking)" if instant else None


@pytest.fixture(scope="session")
def azurite():
    server = Azurite().start()
    yield server
    server.close()


@pytest.fixture
def table_store(azurite):
    from shared.adapters.tables.store import TableRecordStore
    return TableRecordStore.from_settings(connection_string=azurite.connection_string, endpoint="",
                                          table_name=f"t{next(_tables)}x{id(azurite) % 10000}")


@pytest.fixture
def memory_store():
    return InMemoryRecordStore()


@pytest.fixture
def clock():
    return FixedClock(datetime(2026, 11, 27, 3, 0, tzinfo=timezone.utc))


@pytest.fixture(autouse=True)
def _reset_container():
    bootstrap.reset()
    yield
    bootstrap.reset()
