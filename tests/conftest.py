"""Shared fixtures: a real Azurite for the session, a fresh table per test, loopback fakes."""
from __future__ import annotations

import itertools
from datetime import datetime, timezone

import pytest

from shared import bootstrap
from shared.adapters.clock import FixedClock
from shared.adapters.memory import InMemoryRecordStore
from devhost.azurite import Azurite

_tables = itertools.count(1)


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
