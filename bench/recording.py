"""Counting what reaches the store, and replaying it raw: the baseline "the same requests, done
directly with the SDK".

CountingStore wraps the RecordStore port: it counts calls (a `get` of k keys is k HTTP requests sent
in parallel, one sequential wait), times them, and keeps the calls for RawReplay. RawReplay sends the
same requests through a bare TableClient: the same point reads (in parallel when the adapter sends
them in parallel), the same range queries, the same batches with the same entities. Writes go to keys
under REPLAY (after every key the app uses, so no app range ever sees them), with the rows a replace
or a delete needs put there first, untimed, and everything the replay wrote removed afterwards, so the
table keeps its size. What the replay leaves out is exactly the app's own Python.
"""
from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

import requests
from azure.core import MatchConditions
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from bench.common import Wire, ms
from shared.adapters.notify.pagerduty import PagerDutyPager, event_body
from shared.adapters.tables.store import PARTITION
from shared.domain.errors import ConcurrencyConflict
from shared.ports import Delivery, Op, PagerEvent

REPLAY = "~raw|"


class CountingStore:
    """The RecordStore port, counting (and keeping) what reaches the store."""

    def __init__(self, inner, *, wire: Wire | None = None, keep: bool = False,
                 on_scan: Callable[[str], None] | None = None):
        self.inner, self.wire, self.keep, self.on_scan = inner, wire, keep, on_scan
        self.reset()

    def reset(self) -> None:
        self.get_calls = self.get_keys = self.scans = self.commits = self.conflicts = self.scanned = 0
        self.empty_scans = 0
        self.spent = {"get": 0.0, "scan": 0.0, "commit": 0.0}
        self.calls: list[tuple[str, Any]] = []
        self._wire0 = self.wire.n if self.wire else 0

    def snapshot(self) -> dict[str, float]:
        return {"get_calls": self.get_calls, "get_keys": self.get_keys, "scans": self.scans,
                "commits": self.commits, "requests": self.get_keys + self.scans + self.commits,
                "waves": self.get_calls + self.scans + self.commits, "conflicts": self.conflicts,
                "rows_scanned": self.scanned, "empty_scans": self.empty_scans,
                "wire": self.wire.n - self._wire0 if self.wire else float("nan"),
                **{f"ms_{k}": ms(v) for k, v in self.spent.items()}}

    def _timed(self, what: str, fn: Callable[[], Any]) -> Any:
        t = time.perf_counter()
        try:
            return fn()
        finally:
            self.spent[what] += time.perf_counter() - t

    def get(self, *, keys):
        self.get_calls += 1
        self.get_keys += len(keys)
        if self.keep:
            self.calls.append(("get", list(keys)))
        return self._timed("get", lambda: self.inner.get(keys=keys))

    def scan(self, **kw):
        self.scans += 1
        if self.keep:
            self.calls.append(("scan", dict(kw)))
        if self.on_scan is not None:
            self.on_scan(kw["start"])
        page = self._timed("scan", lambda: self.inner.scan(**kw))
        self.scanned += len(page.records)
        self.empty_scans += not page.records
        return page

    def commit(self, *, ops):
        self.commits += 1
        if self.keep:
            self.calls.append(("commit", list(ops)))
        try:
            return self._timed("commit", lambda: self.inner.commit(ops=ops))
        except ConcurrencyConflict:
            self.conflicts += 1
            raise


class RecordingPager:
    """PagerDutyPager, keeping the body of each event it sends (for the raw replay)."""

    def __init__(self, pager: PagerDutyPager):
        self.pager, self.bodies = pager, []

    def send(self, *, event: PagerEvent) -> Delivery:
        self.bodies.append(event_body(event))
        return self.pager.send(event=event)


class RawReplay:
    """The recorded calls again, through a bare TableClient on the same table (and PagerDuty calls
    through a bare requests.Session)."""

    def __init__(self, connection_string: str, table: str, wire: Wire, pd_url: str = ""):
        self.client = TableClient.from_connection_string(connection_string, table, raw_request_hook=wire.hook)
        self.pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="raw")
        self.session, self.pd_url = requests.Session(), pd_url
        self.etags: dict[str, str] = {}
        self.written: set[str] = set()

    def close(self) -> None:
        self.pool.shutdown()
        self.session.close()
        self.client.close()

    def prepare(self, calls: Sequence[tuple[str, Any]]) -> None:
        """Untimed: the rows the replayed replaces and deletes act on (the app found them there)."""
        made: set[str] = set()
        for kind, ops in calls:
            if kind != "commit":
                continue
            for op in ops:
                key = REPLAY + op.key
                if op.kind in ("replace", "delete") and key not in made:
                    meta = self.client.upsert_entity({"PartitionKey": PARTITION, "RowKey": key, **op.data})
                    self.etags[key] = meta["etag"]
                    self.written.add(key)
                made.add(key)

    def run(self, calls: Sequence[tuple[str, Any]], pd_bodies: Sequence[dict] = ()) -> float:
        """Timed: every call in order; returns the seconds it took."""
        t = time.perf_counter()
        for kind, arg in calls:
            if kind == "get":
                self._get(arg)
            elif kind == "scan":
                self._scan(**arg)
            else:
                self._commit(arg)
        for body in pd_bodies:  # the PagerDuty call, same body, its own dedup key
            self.session.post(self.pd_url, data=json.dumps({**body, "dedup_key": body["dedup_key"] + "-raw"}),
                              headers={"Content-Type": "application/json", "Accept": "application/json"}, timeout=5)
        return time.perf_counter() - t

    def cleanup(self) -> None:
        """Untimed: remove what the replay wrote, so the table keeps its size."""
        keys = sorted(self.written)
        for i in range(0, len(keys), 100):
            self.client.submit_transaction([("delete", {"PartitionKey": PARTITION, "RowKey": k})
                                            for k in keys[i:i + 100]])
        self.written.clear()
        self.etags.clear()

    # -- the requests ------------------------------------------------------------------------------
    def _point(self, key: str) -> Any:
        try:
            return self.client.get_entity(PARTITION, key)
        except ResourceNotFoundError:
            return None

    def _get(self, keys: list[str]) -> None:
        if len(keys) <= 1:  # as the adapter: one key in the caller's thread, more in parallel
            [self._point(k) for k in keys]
        else:
            list(self.pool.map(self._point, keys))

    def _scan(self, *, start: str, end: str, filters=(), limit: int | None = None, after: str | None = None) -> None:
        clauses = ["PartitionKey eq @pk", "RowKey ge @start", "RowKey lt @end"]
        params: dict[str, Any] = {"pk": PARTITION, "start": start, "end": end}
        if after is not None:
            clauses.append("RowKey gt @after")
            params["after"] = after
        for i, f in enumerate(filters):
            clauses.append(f"{f.field} {f.op} @f{i}")
            params[f"f{i}"] = f.value
        got, token = 0, None
        while True:
            want = None if limit is None else limit - got
            pages = self.client.query_entities(" and ".join(clauses), parameters=params,
                                               results_per_page=want).by_page(continuation_token=token)
            got += len(list(next(pages, None) or ()))
            token = pages.continuation_token
            if token is None or (limit is not None and got >= limit):
                return

    def _entity(self, op: Op) -> dict[str, Any]:
        return {"PartitionKey": PARTITION, "RowKey": REPLAY + op.key, **op.data}

    def _etag(self, op: Op) -> dict[str, Any]:
        if op.kind == "delete" and op.etag in (None, "*"):
            return {}
        return {"etag": self.etags[REPLAY + op.key], "match_condition": MatchConditions.IfNotModified}

    def _commit(self, ops: list[Op]) -> None:
        if len(ops) == 1 and ops[0].kind != "delete":  # as the adapter: one write without the batch envelope
            op = ops[0]
            if op.kind == "insert":
                meta = self.client.create_entity(self._entity(op))
            elif op.kind == "upsert":
                meta = self.client.upsert_entity(self._entity(op), mode=UpdateMode.REPLACE)
            else:
                meta = self.client.update_entity(self._entity(op), mode=UpdateMode.REPLACE, **self._etag(op))
            self._wrote(op, meta)
            return
        batch = []
        for op in ops:
            if op.kind == "insert":
                batch.append(("create", self._entity(op)))
            elif op.kind == "upsert":
                batch.append(("upsert", self._entity(op), {"mode": UpdateMode.REPLACE}))
            elif op.kind == "replace":
                batch.append(("update", self._entity(op), {"mode": UpdateMode.REPLACE, **self._etag(op)}))
            else:
                batch.append(("delete", self._entity(op), self._etag(op)))
        for op, meta in zip(ops, self.client.submit_transaction(batch)):
            self._wrote(op, meta)

    def _wrote(self, op: Op, meta: Any) -> None:
        key = REPLAY + op.key
        if op.kind == "delete":
            self.written.discard(key)
            self.etags.pop(key, None)
        else:
            self.written.add(key)
            self.etags[key] = meta.get("etag", "")
