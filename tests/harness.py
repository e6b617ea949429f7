"""A small driver over the use cases for escalation tests: one store, one injected clock, one pager."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from shared import bootstrap
from shared.domain.policy import Runbook
from shared.ports import Delivery, PagerEvent
from shared.services import commands
from shared.services.escalation import Paging
from shared.services.intake import ingest_alert
from shared.services.oncall import load_overrides
from shared.services.outbox import deliver
from shared.services.queries import get_incident
from shared.services.sweep import sweep
from tests.payloads import CORE

RUNBOOK = bootstrap.load_runbook(bootstrap.settings().runbook_file)
ROLES = ("primary", "secondary", "engineering_lead", "vp_engineering", "security_lead", "customer_success_lead", "cto")
KEYS = {role: f"{i:02d}" + "k" * 30 for i, role in enumerate(ROLES)}  # 32 characters, like PagerDuty's


@dataclass
class RecordingPager:
    """The Pager port, answering `ok` and recording every event (thread-safe)."""
    events: list[PagerEvent] = field(default_factory=list)
    ok: bool = True
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, *, event: PagerEvent) -> Delivery:
        with self.lock:
            self.events.append(event)
        return Delivery(self.ok, 1, 202 if self.ok else 503, "" if self.ok else "unavailable")

    def triggers(self) -> list[str]:
        return [e.dedup_key for e in self.events if e.action == "trigger"]


class Harness:
    def __init__(self, store, clock, pager=None, runbook: Runbook = RUNBOOK, keys: dict | None = None, alerts=None,
                 receivers=None):
        self.store, self.clock, self.runbook = store, clock, runbook
        self.receivers = receivers  # chat, Jira, Statuspage (comms_delivery.Receivers); None: recorded as not sent
        self.alerts = alerts  # the AzureAlerts port (Azure alert states); None: recorded as not sent
        self.pager = pager if pager is not None else RecordingPager()
        self.keys = KEYS if keys is None else keys

    def paging(self) -> Paging:
        return Paging(routable_roles=frozenset(self.keys), load_overrides=lambda: load_overrides(self.store))

    def alert(self, payload: dict[str, Any]) -> dict[str, Any]:
        return ingest_alert(payload, store=self.store, clock=self.clock, runbook=self.runbook, core=CORE,
                            paging=self.paging()).as_dict()

    def tick(self):
        report = sweep(store=self.store, clock=self.clock, runbook=self.runbook, paging=self.paging())
        deliver(store=self.store, clock=self.clock, pager=self.pager, routing_keys=self.keys, alerts=self.alerts,
                receivers=self.receivers)
        return report

    def run_for(self, minutes: float, tick_seconds: int = 10) -> None:
        for _ in range(int(minutes * 60 / tick_seconds)):
            self.clock.advance(seconds=tick_seconds)
            self.tick()

    def show(self, incident_id: str) -> dict[str, Any]:
        return get_incident(incident_id, store=self.store)

    def command(self, name: str, incident_id: str, body: dict | None = None, actor: str = "alice"):
        fn = getattr(commands, name)
        kwargs = {"paging": self.paging()} if name in ("acknowledge", "resolve", "set_status", "set_severity") else {}
        return fn(incident_id, body or {}, actor, store=self.store, clock=self.clock, runbook=self.runbook, **kwargs)
