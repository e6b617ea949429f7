"""Write-combining (group commit) for changes to one record, per process.

Every change to an incident rewrites it under its ETag, so updates to one incident serialize. When many
request threads of one worker want to change the SAME incident at once (a storm of alerts joining it),
letting each read, decide and write on its own makes all but one lose the race and start over. Here they
queue instead, per (store, key):

    result = queue.submit(store, incident_id, item)

The first thread to find no group running becomes the *leader*: it takes its own item and up to `cap - 1`
others waiting (in arrival order) and calls `run(key, items)` once, outside any lock; `run` loads the
record once, applies every item and commits them together (intake: one ETag-conditional batch). While it
runs, newcomers queue up; when it finishes, one of them leads the next group. A thread alone does its own
work at once: no waiting, nothing added to its cost.

`run` returns one outcome per item: a result (returned to that item's thread), an exception (raised in
that thread), or `LATER` (the item did not fit this group: it waits for the next one; never the first). When `run` itself
raises, the leader gets that error and every follower `LeaderFailed`: a follower then does its work on
its own. A follower waits at most `wait_s`; after that it also gets `LeaderFailed` (its item may still be
committed by the group: callers must make a repeat harmless, as intake's de-duplication row does).

No sleeps, no timers: threads wait on a Condition of their lane, woken when a group ends.
"""
from __future__ import annotations

import itertools
import threading
import time
from typing import Callable, Generic, Sequence, TypeVar, Union

T = TypeVar("T")
R = TypeVar("R")
CAP = 20          # items per group (intake: 20 joins stay well under the batch limit of 100 rows)
# a follower's longest wait for its group before it does its work on its own: well inside the 10 seconds an
# action group waits for the webhook's answer before it calls again (Learn, "Action groups", webhook retry rules)
WAIT_S = 5.0


class Later:
    def __repr__(self) -> str:
        return "LATER"


LATER = Later()   # an outcome: the item did not fit this group, it goes into the next


class LeaderFailed(Exception):
    """The group this item was queued in did not settle it (its run failed as a whole, or the wait ran out):
    the caller does its own work."""


class _Ticket(Generic[T]):
    __slots__ = ("item", "seq", "taken", "settled", "value", "error")

    def __init__(self, item: T, seq: int):
        self.item, self.seq = item, seq
        self.taken = False        # in a running group
        self.settled = False
        self.value: object = None
        self.error: BaseException | None = None

    def settle(self, value: object = None, error: BaseException | None = None) -> None:
        self.settled, self.value, self.error = True, value, error


class _Lane:
    """The queue of one (store, key): the items waiting, and whether a group is running."""

    def __init__(self, lock: threading.Lock):
        self.cond = threading.Condition(lock)
        self.waiting: list[_Ticket] = []
        self.leading = False


Outcome = Union[R, BaseException, Later]


class JoinQueue(Generic[T, R]):
    """Per process, thread-safe: combines the items submitted for one (store, key) at the same time."""

    def __init__(self, run: Callable[[str, Sequence[T]], Sequence[Outcome[R]]], *, cap: int = CAP,
                 wait_s: float = WAIT_S):
        self._run, self._cap, self._wait_s = run, cap, wait_s
        self._lock = threading.Lock()
        self._lanes: dict[tuple[int, str], _Lane] = {}   # removed when idle (so an id is never reused under one)
        self._seq = itertools.count()

    def submit(self, store: object, key: str, item: T) -> R:
        """`item`'s outcome of the group it ends up in (see the module). Raises what `run` gave for the item,
        what `run` raised when this thread led the group, LeaderFailed when another thread led it and failed
        (or the wait ran out)."""
        lane_key = (id(store), key)
        with self._lock:
            me: _Ticket[T] = _Ticket(item, next(self._seq))
            lane = self._lanes.get(lane_key)
            if lane is None:
                lane = self._lanes[lane_key] = _Lane(self._lock)
            lane.waiting.append(me)
        while True:
            group = self._await(lane_key, lane, me)
            if group is None:
                break
            self._lead(lane_key, lane, group, me)
        if me.error is not None:
            raise me.error
        return me.value  # type: ignore[return-value]

    def _await(self, lane_key: tuple[int, str], lane: _Lane, me: _Ticket[T]) -> list[_Ticket[T]] | None:
        """The group this thread is to lead now, or None once its item is settled."""
        deadline = time.monotonic() + self._wait_s
        with self._lock:
            while not me.settled:
                if not lane.leading and not me.taken:
                    others = [t for t in lane.waiting if t is not me][:self._cap - 1]
                    group = sorted([me, *others], key=lambda t: t.seq)
                    for t in group:
                        t.taken = True
                        lane.waiting.remove(t)
                    lane.leading = True
                    return group
                left = deadline - time.monotonic()
                if left <= 0:   # the group in front of it is stuck (a store call hanging): go alone
                    if not me.taken:
                        lane.waiting.remove(me)
                        self._drop_if_idle(lane_key, lane)
                    me.settle(error=LeaderFailed(f"no group settled {lane_key[1]} within {self._wait_s:g} s"))
                    break
                lane.cond.wait(left)
        return None

    def _lead(self, lane_key: tuple[int, str], lane: _Lane, group: list[_Ticket[T]], me: _Ticket[T]) -> None:
        failure: BaseException | None = None
        outcomes: Sequence[Outcome[R]] = ()
        try:
            outcomes = self._run(lane_key[1], [t.item for t in group])
            if len(outcomes) != len(group) or outcomes[0] is LATER:   # the first must be settled: progress
                raise RuntimeError(f"{len(outcomes)} outcomes for a group of {len(group)}, the first {outcomes[:1]}")
        except BaseException as e:   # re-raised in this thread below; every follower told to go alone
            failure = e
        with self._lock:
            later = []
            for t, outcome in itertools.zip_longest(group, outcomes[:len(group)]):
                t.taken = False
                if t.settled:   # its thread stopped waiting
                    continue
                if failure is not None:
                    t.settle(error=failure if t is me else LeaderFailed(f"the group failed: {failure!r}"))
                elif outcome is LATER:
                    later.append(t)
                elif isinstance(outcome, BaseException):
                    t.settle(error=outcome)
                else:
                    t.settle(value=outcome)
            lane.waiting[:0] = later   # first in the next group
            lane.leading = False
            self._drop_if_idle(lane_key, lane)
            lane.cond.notify_all()

    def _drop_if_idle(self, lane_key: tuple[int, str], lane: _Lane) -> None:
        if not lane.waiting and not lane.leading and self._lanes.get(lane_key) is lane:
            del self._lanes[lane_key]

    def waiting(self, store: object, key: str) -> int:
        """How many items of (store, key) wait for a group (tests, diagnostics)."""
        with self._lock:
            lane = self._lanes.get((id(store), key))
            return len(lane.waiting) if lane else 0

    def lanes(self) -> int:
        """How many (store, key) lanes are in use (tests: none is left behind)."""
        with self._lock:
            return len(self._lanes)
