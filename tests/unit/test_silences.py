"""Silences API: validation names the field, the index row, matching, deletion."""
from __future__ import annotations

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
