"""One contract suite for the RecordStore port, run against the in-memory store and a real Azurite."""
from __future__ import annotations

import pytest

from shared.domain.errors import ConcurrencyConflict
from shared.ports import Filter, Op


@pytest.fixture(params=["memory", "table"])
def store(request):
    return request.getfixturevalue(f"{request.param}_store")


def test_insert_then_get_round_trips_values(store):
    store.commit(ops=[Op("insert", "a|1", {"s": "x", "n": 3, "b": True, "f": 1.5})])
    got = store.get(keys=["a|1", "a|2"])
    assert list(got) == ["a|1"]
    assert got["a|1"].data == {"s": "x", "n": 3, "b": True, "f": 1.5}
    assert got["a|1"].etag


def test_insert_of_existing_key_conflicts_and_writes_nothing_of_the_batch(store):
    store.commit(ops=[Op("insert", "k1", {"v": "1"})])
    with pytest.raises(ConcurrencyConflict):
        store.commit(ops=[Op("insert", "k2", {"v": "2"}), Op("insert", "k1", {"v": "again"})])
    assert set(store.get(keys=["k1", "k2"])) == {"k1"}
    assert store.get(keys=["k1"])["k1"].data["v"] == "1"


def test_replace_needs_the_current_etag(store):
    etag = store.commit(ops=[Op("insert", "k", {"v": "1"})])["k"]
    new = store.commit(ops=[Op("replace", "k", {"v": "2"}, etag)])["k"]
    assert new != etag
    with pytest.raises(ConcurrencyConflict):
        store.commit(ops=[Op("replace", "k", {"v": "3"}, etag)])
    assert store.get(keys=["k"])["k"].data["v"] == "2"


def test_delete_with_etag_and_upsert(store):
    etag = store.commit(ops=[Op("upsert", "k", {"v": "1"})])["k"]
    store.commit(ops=[Op("upsert", "k", {"v": "2"})])
    with pytest.raises(ConcurrencyConflict):
        store.commit(ops=[Op("delete", "k", etag=etag)])
    current = store.get(keys=["k"])["k"].etag
    store.commit(ops=[Op("delete", "k", etag=current)])
    assert store.get(keys=["k"]) == {}


def test_scan_is_ordered_bounded_filtered_and_paged(store):
    store.commit(ops=[Op("insert", f"r|{i:03d}", {"even": i % 2 == 0, "i": i}) for i in range(30)]
                 + [Op("insert", "s|000", {"even": True, "i": 99})])
    page = store.scan(start="r|", end="r}", filters=[Filter("even", "eq", True)], limit=4)
    assert [r.data["i"] for r in page.records] == [0, 2, 4, 6]
    assert page.continuation == "r|006"
    nxt = store.scan(start="r|", end="r}", filters=[Filter("even", "eq", True)], limit=20,
                     after=page.continuation)
    assert [r.data["i"] for r in nxt.records] == list(range(8, 30, 2))
    assert nxt.continuation is None
    assert [r.key for r in store.scan(start="r|010", end="r|013").records] == ["r|010", "r|011", "r|012"]
    ge = store.scan(start="r|", end="r}", filters=[Filter("i", "ge", 27)])
    assert [r.data["i"] for r in ge.records] == [27, 28, 29]


def test_a_lone_write_keeps_the_conditions(store):
    store.commit(ops=[Op("insert", "k", {"v": "1"})])
    with pytest.raises(ConcurrencyConflict):
        store.commit(ops=[Op("insert", "k", {"v": "again"})])
    with pytest.raises(ConcurrencyConflict):
        store.commit(ops=[Op("delete", "missing", etag="*")])
    assert store.get(keys=["k"])["k"].data == {"v": "1"}
