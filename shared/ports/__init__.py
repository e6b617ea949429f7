"""Ports: typing.Protocol for each outside thing. Keyword-only arguments throughout.

Adapters in shared/adapters implement these; test doubles are InMemory* / Recording*. One module
per concern; every name is re-exported here, so callers import from `shared.ports`:

    clock.py     Clock
    store.py     the record store (Record, Op, Filter, Page, RecordStore)
    notify.py    outbound calls: Delivery, Sent; pager, chat, tickets, status page
    azure.py     ARM resources, Azure Monitor alerts, logs and metrics, HTTP probes, Observers
    identity.py  the verified caller: Principal, actor_oid, TokenVerifier
"""
from __future__ import annotations

from shared.ports.azure import (AlertState, AzureAlerts, CloudResources, HttpProbe, LogAnswer,
                                LogQueries, LogTable, Observers, ProbeAnswer, RequestMetrics,
                                observers_of)
from shared.ports.clock import Clock
from shared.ports.identity import Principal, TokenVerifier, actor_oid
from shared.ports.notify import (Chat, ChatPost, Delivery, Pager, PagerEvent, PublicPhase,
                                 PublicUpdate, Sent, StatusPage, Ticket, Tickets)
from shared.ports.store import Filter, Op, Page, Record, RecordStore

__all__ = [
    "AlertState", "AzureAlerts", "Chat", "ChatPost", "Clock", "CloudResources", "Delivery", "Filter",
    "HttpProbe", "LogAnswer", "LogQueries", "LogTable", "Observers", "Op", "Page", "Pager", "PagerEvent",
    "Principal", "ProbeAnswer", "PublicPhase", "PublicUpdate", "Record", "RecordStore", "RequestMetrics",
    "Sent", "StatusPage", "Ticket", "Tickets", "TokenVerifier", "actor_oid", "observers_of",
]
