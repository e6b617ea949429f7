"""A remediation world for the fault tests: a store, an injected clock, the real ARM adapter (azure-mgmt
clients) against the loopback FakeArm, and remediation in `auto` mode on its three core resources."""
from __future__ import annotations

from shared.adapters.arm import ArmResources
from shared.services.escalation import Paging
from shared.services.intake import ingest_alert
from shared.services.queries import get_incident
from shared.services.remediation import Remedy
from shared.services.sweep import sweep
from tests.fakes.arm import FakeArm
from tests.harness import KEYS, RUNBOOK
from tests.payloads import metric_alert

RETRIES = 3          # ArmResources' retry_total: four requests at most per write


class Env:
    def __init__(self, store, clock, arm: FakeArm):
        self.store, self.clock, self.arm = store, clock, arm
        self.client = ArmResources(endpoint=arm.url, subscription_id=arm.subscription_id, poll_interval_s=0.001,
                                   retry_backoff_s=0, retry_total=RETRIES)
        core = {"api": arm.app_id.lower(), "postgres": arm.server_id.lower(), "redis": arm.cache_id.lower()}
        self.remedy = Remedy(core=core, env_mode="auto", resources=lambda: self.client)

    def redis_alert(self) -> str:
        body = metric_alert("r1", target=self.arm.cache_id, rule="redis-errors", metric="errors", severity="Sev1",
                            fired="2026-11-27T03:00:00Z")
        return ingest_alert(body, store=self.store, clock=self.clock, runbook=RUNBOOK, core=self.remedy.core,
                            remedy=self.remedy).incident_id

    def tick(self, seconds: float = 0):
        self.clock.advance(seconds=seconds)
        return sweep(store=self.store, clock=self.clock, runbook=RUNBOOK, paging=Paging(routable_roles=frozenset(KEYS)),
                     remedy=self.remedy)

    def show(self, inc: str) -> dict:
        return get_incident(inc, store=self.store)

    def remediation(self, inc: str) -> dict:
        [rem] = [r for r in self.show(inc)["remediations"] if r["playbook"]]
        return rem

    def reboots(self) -> list:
        return [r for r in self.arm.requests if r.method == "POST" and r.path.lower().endswith("/forcereboot")]
