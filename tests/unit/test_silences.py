"""Silences API: validation names the field, the index row, matching, deletion."""
from __future__ import annotations

import json

import pytest

from shared.domain.errors import InvalidInput, NotFound
from shared.services.silences import create_silence, delete_silence, list_silences
from tests.harness import RUNBOOK


def body(**kw):
    b = {"match": {"alert_rule": "api-5xx"}, "end": "2026-11-27T05:00:00Z", "reason": "deploy window"}
    b.update(kw)
    return b


@pytest.mark.parametrize("bad,path", [
    (dict(match={}), "$.match"), (dict(match={"colour": "red"}), "$.match.colour"),
    (dict(end="soon"), "$.end"), (dict(end="2026-11-27T02:00:00Z"), "$.end"),
    (dict(start="2026-11-27T06:00:00Z"), "$.end"), (dict(reason=""), "$.reason"),
])
def test_bad_silences_name_the_field(memory_store, clock, bad, path):
    with pytest.raises(InvalidInput) as e:
        create_silence(body(**bad), "ops", store=memory_store, clock=clock)
    assert e.value.path == path


def test_create_list_expire_delete(memory_store, clock):
    s1 = create_silence(body(), "ops", store=memory_store, clock=clock)
    s2 = create_silence(body(end="2026-11-27T04:00:00Z"), "ops", store=memory_store, clock=clock)
    assert [s["id"] for s in list_silences(store=memory_store, clock=clock)] == [s1["id"], s2["id"]]
    clock.advance(hours=1, minutes=30)
    assert [s["id"] for s in list_silences(store=memory_store, clock=clock)] == [s1["id"]]
    delete_silence(s1["id"], "ops", store=memory_store, clock=clock, runbook=RUNBOOK)
    assert list_silences(store=memory_store, clock=clock) == []
    with pytest.raises(NotFound):
        delete_silence(s1["id"], "ops", store=memory_store, clock=clock, runbook=RUNBOOK)


def test_the_index_holds_compact_entries_and_each_silence_its_own_row(memory_store, clock):
    from shared.storage import listrow
    from shared.services.silences import INDEX
    s = create_silence(body(reason="deploy window\n" + "x" * 400, match={"tenant": "Acme"}), "ops",
                       store=memory_store, clock=clock)
    entry, = listrow.entries(memory_store.get(keys=[INDEX])[INDEX])
    assert set(entry) == {"id", "m", "start", "end", "why", "d"} and len(entry["why"]) == 80
    assert "acme" not in json.dumps(entry)  # matched values are hashed: every entry has the same size
    assert memory_store.get(keys=[f"sil|{s['id']}"])  # the whole silence, in its own row
    assert list_silences(store=memory_store, clock=clock) == [s]
    delete_silence(s["id"], "ops", store=memory_store, clock=clock, runbook=RUNBOOK)
    assert memory_store.scan(start="sil|", end="sil|~").records[0].key == INDEX  # the row went with it


def test_ended_silences_leave_with_their_rows_on_the_next_write(memory_store, clock):
    for _ in range(3):
        create_silence(body(end="2026-11-27T04:00:00Z"), "ops", store=memory_store, clock=clock)
    clock.advance(hours=2)
    keep = create_silence(body(end="2026-11-27T09:00:00Z"), "ops", store=memory_store, clock=clock)
    assert [r.key for r in memory_store.scan(start="sil|", end="sil|~").records] == [f"sil|{keep['id']}",
                                                                                      "sil|index"]


def test_matching_compares_hashes_case_insensitively(memory_store, clock):
    from shared.domain.alerts import parse_alert
    from shared.services.silences import INDEX, active, matching
    from tests.payloads import API_ID, metric_alert
    create_silence(body(match={"target_resource_id": API_ID.upper(), "alert_rule": "API-5XX", "tenant": "Acme"}),
                   "ops", store=memory_store, clock=clock)
    entries = active(memory_store.get(keys=[INDEX])[INDEX])
    alert = parse_alert(metric_alert("a1", rule="api-5xx"))
    hit = matching(alert, ("acme",), entries, clock.now())
    assert hit and hit["reason"] == "deploy window"
    assert matching(alert, ("globex",), entries, clock.now()) is None
    assert matching(parse_alert(metric_alert("a2", rule="db-cpu")), ("acme",), entries, clock.now()) is None


def test_an_index_row_of_the_old_layout_is_read_then_moved_to_per_item_rows(memory_store, clock):
    """Rows written before per-item rows held whole silences in one `items` property."""
    from shared.domain.alerts import parse_alert
    from shared.ports import Op
    from shared.services.silences import INDEX, active, matching
    from tests.payloads import metric_alert
    old = [{"id": f"SIL-old{i}", "match": {"alert_rule": "api-5xx"}, "start": "2026-11-27T02:00:00.000000Z",
            "end": "2026-11-27T05:00:00.000000Z", "reason": f"old {i}", "created_by": "ops",
            "created_at": "2026-11-27T02:00:00.000000Z"} for i in range(2)]
    memory_store.commit(ops=[Op("insert", INDEX, {"items": json.dumps(old)})])
    hit = matching(parse_alert(metric_alert("a1")), (), active(memory_store.get(keys=[INDEX])[INDEX]), clock.now())
    assert hit["id"] in {"SIL-old0", "SIL-old1"} and hit["reason"].startswith("old")
    assert list_silences(store=memory_store, clock=clock) == old
    new = create_silence(body(), "ops", store=memory_store, clock=clock)  # the write moves them
    assert list_silences(store=memory_store, clock=clock) == [*old, new]
    assert "items" not in memory_store.get(keys=[INDEX])[INDEX].data
    delete_silence("SIL-old0", "ops", store=memory_store, clock=clock, runbook=RUNBOOK)
    assert [s["id"] for s in list_silences(store=memory_store, clock=clock)] == ["SIL-old1", new["id"]]


def test_the_101st_active_silence_is_a_conflict_that_says_what_to_do(memory_store, clock):
    from shared.domain.errors import Conflict
    ids = [create_silence(body(), "ops", store=memory_store, clock=clock)["id"] for _ in range(100)]
    with pytest.raises(Conflict, match="at most 100 silences may be active at once; end one first"):
        create_silence(body(), "ops", store=memory_store, clock=clock)
    delete_silence(ids[0], "ops", store=memory_store, clock=clock, runbook=RUNBOOK)
    create_silence(body(), "ops", store=memory_store, clock=clock)


@pytest.mark.parametrize("bad,path", [
    (dict(start=""), "$.start"), (dict(end="  "), "$.end"), (dict(end=None), "$.end"),
    (dict(match={"target_resource_id": "/subscriptions/" + "x" * 5000}), "$.match.target_resource_id"),
    (dict(match={"alert_rule": "r" * 1025}), "$.match.alert_rule"), (dict(match={"tenant": "t" * 201}), "$.match.tenant"),
    (dict(match={"a" * 500: "x"}), "$.match"),
])
def test_blank_times_and_oversized_matches_name_the_field(memory_store, clock, bad, path):
    with pytest.raises(InvalidInput) as e:
        create_silence(body(**bad), "ops", store=memory_store, clock=clock)
    assert e.value.path == path
    assert memory_store.scan(start="", end="~").records == []
