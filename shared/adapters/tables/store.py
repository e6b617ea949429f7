"""TableRecordStore: the RecordStore port on one Azure Table Storage partition (azure-data-tables).

Every record of the app lives in one partition so that a state change, its timeline events, its
index rows and its scheduled work commit in one entity-group transaction. Queries are always
parameterised and always bounded to a RowKey range; point reads run in parallel.
"""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Sequence, cast

from azure.core import MatchConditions
from azure.core.exceptions import (AzureError, HttpResponseError, ResourceExistsError,
                                   ResourceModifiedError, ResourceNotFoundError)
from azure.data.tables import TableClient, TableTransactionError, UpdateMode

from shared.domain.errors import ConcurrencyConflict, PolicyError, StoreRejected, StoreUnavailable
from shared.ports import Filter, Op, Page, Record

if TYPE_CHECKING:
    from azure.core.paging import PageIterator
    from azure.data.tables import TableEntity

log = logging.getLogger(__name__)

PARTITION = "p0"
_CONFLICT_CODES = {"EntityAlreadyExists", "UpdateConditionNotSatisfied", "ConditionNotMet",
                   "ResourceNotFound", "EntityNotFound"}
_SYSTEM = {"PartitionKey", "RowKey", "Timestamp", "etag"}
_CLIENT_OPTIONS: dict[str, Any] = dict(retry_total=2, retry_backoff_factor=0.2, retry_backoff_max=2,
                       connection_timeout=5, read_timeout=15)


# Table service error codes for a write that can never succeed as it is (learn.microsoft.com:
# "Table service error codes"): answered as StoreRejected, never retried as an outage.
_PERMANENT_CODES = {"PropertyValueTooLarge", "EntityTooLarge", "KeyValueTooLarge", "TooManyProperties",
                    "PropertyNameTooLong", "PropertyNameInvalid", "InvalidValueType", "InvalidInput",
                    "OutOfRangeInput", "InvalidDuplicateRow", "RequestBodyTooLarge"}


def _unavailable(e: Exception) -> StoreUnavailable | StoreRejected:
    code = str(getattr(e, "error_code", "") or "")
    if code in _PERMANENT_CODES:
        return StoreRejected(f"Table Storage refused the write: {code}")
    return StoreUnavailable(f"Table Storage unavailable: {type(e).__name__}")


def _unencodable(e: UnicodeEncodeError) -> StoreRejected:
    # A lone surrogate in a key or a query value: no request can carry it (URLs are UTF-8), so the
    # store refuses it like a malformed write, never as an outage that a retry could cure.
    return StoreRejected(f"Table Storage cannot take this text: a lone surrogate at character {e.start} "
                         "(keys and query values must be valid Unicode)")


class TableRecordStore:
    def __init__(self, client: TableClient, *, partition: str = PARTITION):
        self._client = client
        self._pk = partition
        self._pool: ThreadPoolExecutor | None = None

    @classmethod
    def from_settings(cls, *, connection_string: str, endpoint: str, table_name: str,
                      credential: Any = None, **client_options: Any) -> "TableRecordStore":
        """Connection string (Azurite, keys) or endpoint + token credential (managed identity).

        Creates the table if it is missing. Raises StoreUnavailable when storage cannot be reached.
        """
        if connection_string:
            client = TableClient.from_connection_string(connection_string, table_name,
                                                        **_CLIENT_OPTIONS, **client_options)
        elif endpoint:
            if credential is None:
                from azure.identity import DefaultAzureCredential  # only when identity-based
                credential = DefaultAzureCredential()
            client = TableClient(endpoint, table_name, credential=credential, **_CLIENT_OPTIONS, **client_options)
        else:
            raise PolicyError("set TABLES_CONNECTION_STRING or TABLES_ENDPOINT (no Table Storage configured)")
        try:
            client.create_table()
        except ResourceExistsError:
            pass
        except AzureError as e:
            raise _unavailable(e) from e
        return cls(client)

    # -- reads -----------------------------------------------------------------------------
    def _point(self, key: str) -> Record | None:
        try:
            ent = self._client.get_entity(self._pk, key)
        except ResourceNotFoundError:
            return None
        except AzureError as e:
            raise _unavailable(e) from e
        except UnicodeEncodeError as e:
            raise _unencodable(e) from e
        return self._record(ent)

    def get(self, *, keys: Sequence[str]) -> dict[str, Record]:
        if len(keys) <= 1:
            found = [self._point(k) for k in keys]
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="tables")
            found = list(self._pool.map(self._point, keys))
        return {r.key: r for r in found if r is not None}

    def scan(self, *, start: str, end: str, filters: Sequence[Filter] = (), limit: int | None = None,
             after: str | None = None) -> Page:
        clauses = ["PartitionKey eq @pk", "RowKey ge @start", "RowKey lt @end"]
        params: dict[str, Any] = {"pk": self._pk, "start": start, "end": end}
        if after is not None:
            clauses.append("RowKey gt @after")
            params["after"] = after
        for i, f in enumerate(filters):
            if not f.field.isidentifier():
                raise ValueError(f"bad field name {f.field!r}")
            clauses.append(f"{f.field} {f.op} @f{i}")
            params[f"f{i}"] = f.value
        query = " and ".join(clauses)
        out: list[Record] = []
        token = None
        try:
            while True:
                want = None if limit is None else limit - len(out)
                # by_page is typed as a plain iterator of pages; it is the SDK's PageIterator (continuation_token)
                pages = cast("PageIterator[TableEntity]", self._client.query_entities(
                    query, parameters=params, results_per_page=want).by_page(continuation_token=token))
                page = next(pages, None)
                for ent in page or ():
                    out.append(self._record(ent))
                token = pages.continuation_token
                if token is None:
                    return Page(out, None)
                if limit is not None and len(out) >= limit:
                    return Page(out, out[-1].key)
        except AzureError as e:
            raise _unavailable(e) from e
        except UnicodeEncodeError as e:
            raise _unencodable(e) from e

    # -- writes ----------------------------------------------------------------------------
    def commit(self, *, ops: Sequence[Op]) -> dict[str, str]:
        if not ops:
            return {}
        if len(ops) > 100:
            raise ValueError("a batch holds at most 100 operations")
        if len(ops) == 1 and ops[0].kind != "delete":  # a lone delete keeps the batch's not-found error
            return self._single(ops[0])
        batch = [self._operation(op) for op in ops]
        try:
            results = self._client.submit_transaction(batch)
        except TableTransactionError as e:
            code = str(getattr(e, "error_code", "") or "")
            if code in _CONFLICT_CODES or e.status_code in (404, 409, 412):
                raise ConcurrencyConflict(f"batch refused: {code}") from e
            raise _unavailable(e) from e
        except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError) as e:
            raise ConcurrencyConflict(f"batch refused: {type(e).__name__}") from e
        except HttpResponseError as e:
            if e.status_code in (409, 412):
                raise ConcurrencyConflict(f"batch refused: {e.status_code}") from e
            raise _unavailable(e) from e
        except AzureError as e:
            raise _unavailable(e) from e
        except UnicodeEncodeError as e:
            raise _unencodable(e) from e
        etags = {}
        for op, meta in zip(ops, results):
            if op.kind != "delete":
                etags[op.key] = meta.get("etag", "")
        return etags

    def _single(self, op: Op) -> dict[str, str]:
        """One write without the batch envelope: a third of the cost of a one-entry transaction."""
        kind, entity, *options = self._operation(op)
        kwargs = options[0] if options else {}
        call = {"create": self._client.create_entity, "upsert": self._client.upsert_entity,
                "update": self._client.update_entity}[kind]
        try:
            meta = call(entity, **kwargs)
        except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError) as e:
            raise ConcurrencyConflict(f"write refused: {type(e).__name__}") from e
        except HttpResponseError as e:
            if e.status_code in (404, 409, 412):
                raise ConcurrencyConflict(f"write refused: {e.status_code}") from e
            raise _unavailable(e) from e
        except AzureError as e:
            raise _unavailable(e) from e
        except UnicodeEncodeError as e:
            raise _unencodable(e) from e
        return {op.key: meta.get("etag", "")}

    def _operation(self, op: Op) -> tuple:
        entity = {"PartitionKey": self._pk, "RowKey": op.key, **op.data}
        if op.kind == "insert":
            return ("create", entity)
        if op.kind == "upsert":
            return ("upsert", entity, {"mode": UpdateMode.REPLACE})
        if op.kind == "replace":
            return ("update", entity, {"mode": UpdateMode.REPLACE, "etag": op.etag,
                                       "match_condition": MatchConditions.IfNotModified})
        if op.kind == "delete":
            if op.etag in (None, "*"):
                return ("delete", entity)
            return ("delete", entity, {"etag": op.etag, "match_condition": MatchConditions.IfNotModified})
        raise ValueError(f"unknown op {op.kind}")

    @staticmethod
    def _record(ent: TableEntity) -> Record:
        data = {k: v for k, v in ent.items() if k not in _SYSTEM}
        etag = ent.metadata["etag"]
        assert etag is not None  # the service answers every entity with its ETag
        return Record(ent["RowKey"], data, etag)
