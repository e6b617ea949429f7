"""The public status rows, as the status page reads them.

    pub|<inv>    what the public status page shows of one incident (repository.public_key: written with
                 the incident, from the PublicStatusChanged event): public text only, newest first

Reading these never opens an `inc|` row, so no internal field can reach the page.
"""
from __future__ import annotations

from typing import Iterator

from shared.ports import Record, RecordStore

PREFIX = "pub|"
PAGE = 200                       # rows per store round trip while scanning the pub| range


def published(store: RecordStore) -> Iterator[Record]:
    """Every public status row, newest incident first, read a page at a time as the caller goes on (a
    caller that stops early reads no further page). Raises StoreUnavailable."""
    after = None
    while True:
        page = store.scan(start=PREFIX, end=PREFIX[:-1] + "}", limit=PAGE, after=after)
        yield from page.records
        if page.continuation is None:
            return
        after = page.continuation
