"""One contract suite for the unit of work, run on the in-memory store (the service tests' store) and on
a real Azurite: what a commit writes, that it is all or nothing, that a stale ETag loses, and that the
one retry policy makes concurrent changes of one incident serialize without a lost update."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from shared.domain import classification
from shared.domain.errors import ConcurrencyConflict, NotFound
from shared.domain.events import MessageQueued, PublicStatusChanged, RemediationAudited, ReviewIndexed
from shared.domain.incident import Incident
from shared.storage.uow import UnitOfWork

NOW = datetime(2026, 11, 27, 3, 0, tzinfo=timezone.utc)
ID = "INC-20261127-0007"


@pytest.fixture(params=["memory", "table"])
def store(request):
    return request.getfixturevalue(f"{request.param}_store")


def _incident(incident_id: str = ID) -> Incident:
    c = classification.declared(actor="alice", severity="SEV-2", impact=None, scope=None)
    return Incident.declare(incident_id, title="checkout slow", c=c, actor="alice", now=NOW)


def _page(inc: Incident, role: str = "primary") -> MessageQueued:
    return MessageQueued(NOW, "pagerduty", inc.severity, f"m-{role}", {"incident_id": inc.id, "role": role,
                                                                       "channel": "pagerduty"})


def _derive(inc: Incident):
    """A schedule of one step and one follow-up message, like the service layer's hook."""
    return {"esc:secondary": inc.created_at + timedelta(minutes=10)}, [_page(inc, "follow")]


def _keys(store, prefix: str) -> list[str]:
    return [r.key for r in store.scan(start=prefix, end=prefix + "~").records]


def test_a_commit_writes_the_incident_its_timeline_schedule_and_every_event_together(store):
    uow = UnitOfWork(store, _derive)
    inc = _incident()
    uow.create(inc)
    uow.add(_page(inc), RemediationAudited(NOW, "r1", 3, {"incident_id": ID, "event": "plan"}),
            ReviewIndexed(ID, {"incident_id": ID, "status": "pending"}),
            PublicStatusChanged(ID, {"title": "Checkout", "phase": "investigating"}))
    uow.commit()

    got = UnitOfWork(store).load(ID)
    assert got.title == "checkout slow" and got.scheduled == {"esc:secondary": "2026-11-27T03:10:00.000000Z"}
    assert [e["kind"] for e in UnitOfWork(store).incidents.timeline(ID)[0]] == ["created", "classified"]
    assert len(_keys(store, "due|")) == 1 and _keys(store, "due|")[0].startswith("due|2026-11-27T03:10:00.000000Z|")
    assert sorted(k.rsplit("|", 1)[1] for k in _keys(store, "out|p2|")) == ["m-follow", "m-primary"]
    assert _keys(store, "aud|") == ["aud|2026-11-27T03:00:00.000000Z|r1|000003"]
    assert len(_keys(store, "rev|")) == 1 and len(_keys(store, "pub|")) == 1


def test_a_stale_etag_loses_and_writes_nothing_of_its_batch(store):
    first = UnitOfWork(store)
    first.create(_incident())
    first.commit()

    a, b = UnitOfWork(store), UnitOfWork(store)
    inc_a, inc_b = a.load(ID), b.load(ID)
    inc_a.note("from a", "alice", NOW)
    a.save(inc_a)
    a.add(_page(inc_a, "a"))
    a.commit()
    inc_b.note("from b", "bob", NOW)
    b.save(inc_b)
    b.add(_page(inc_b, "b"))
    with pytest.raises(ConcurrencyConflict):
        b.commit()
    assert [k.rsplit("|", 1)[1] for k in _keys(store, "out|")] == ["m-a"]   # b's message was not written
    texts = [e["text"] for e in UnitOfWork(store).incidents.timeline(ID)[0]]
    assert "from a" in texts and "from b" not in texts


def test_creating_an_incident_whose_id_is_taken_conflicts(store):
    uow = UnitOfWork(store)
    uow.create(_incident())
    uow.commit()
    again = UnitOfWork(store)
    again.create(_incident())
    again.add(_page(_incident(), "dup"))
    with pytest.raises(ConcurrencyConflict):
        again.commit()
    assert _keys(store, "out|") == []


def test_saving_an_incident_not_loaded_in_the_unit_is_refused(store):
    with pytest.raises(KeyError):
        UnitOfWork(store).save(_incident())
    with pytest.raises(NotFound):
        UnitOfWork(store).load("INC-20261127-0999")


def test_an_empty_unit_commits_without_a_request(store):
    calls = []

    class Counting:
        def __getattr__(self, name):
            calls.append(name)
            return getattr(store, name)
    assert UnitOfWork(Counting()).commit() == {}
    assert calls == []


def test_concurrent_changes_of_one_incident_serialize_through_the_retry_policy(store):
    setup = UnitOfWork(store)
    setup.create(_incident())
    setup.commit()
    errors: list[BaseException] = []

    def change(n: int) -> None:
        def attempt(uow: UnitOfWork) -> None:
            inc = uow.load(ID)
            inc.note(f"note {n}", "alice", NOW)
            uow.add(_page(inc, f"w{n}"))
            uow.save(inc)
            uow.commit()
        try:
            UnitOfWork.run(store, attempt, "note", incident=ID)
        except BaseException as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)
    threads = [threading.Thread(target=change, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    texts = [e["text"] for e in UnitOfWork(store).incidents.timeline(ID)[0]]
    assert sorted(t for t in texts if t.startswith("note ")) == [f"note {n}" for n in range(8)]   # no lost update
    assert sorted(k.rsplit("|", 1)[1] for k in _keys(store, "out|")) == sorted(f"m-w{n}" for n in range(8))
