"""Azure: resources (diagnostics and remediation), Azure Monitor's alerts, logs and metrics, and
HTTP probes of the API's own endpoints (runbook step 2's query, step 4's checks)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterator, Literal, Mapping, Protocol, Sequence

from shared.domain.resources import (ArmResult, ContainerAppStatus, PostgresStatus, RedisStatus,
                                     Revision)
from shared.domain.verification import RequestCount
from shared.ports.notify import Delivery


# ---- Azure resources (diagnostics and remediation) --------------------------------------------

class CloudResources(Protocol):
    """Reads and writes on Azure Resource Manager for the platform's core resources.

    Reads raise DependencyFailed on failure after bounded retries. Writes wait on the long-running
    operation up to `timeout_s` and return an ArmResult whose status is "TimedOut" when it did not
    finish; they raise DependencyFailed when ARM refused the request.
    """

    def container_app(self, *, app_id: str) -> ContainerAppStatus: ...
    def revisions(self, *, app_id: str) -> list[Revision]:
        """Newest first."""
    def set_traffic(self, *, app_id: str, weights: Mapping[str, int], timeout_s: float) -> ArmResult: ...
    def activate_revision_template(self, *, app_id: str, revision_name: str, timeout_s: float) -> ArmResult:
        """Single-revision mode rollback: redeploy `revision_name`'s template as a new revision."""
    def scale(self, *, app_id: str, min_replicas: int, max_replicas: int, timeout_s: float) -> ArmResult: ...
    def postgres(self, *, server_id: str) -> PostgresStatus: ...
    def restart_postgres(self, *, server_id: str, failover: bool, timeout_s: float) -> ArmResult: ...
    def redis(self, *, cache_id: str) -> RedisStatus: ...
    def reboot_redis(self, *, cache_id: str, timeout_s: float) -> ArmResult: ...


# ---- Azure Monitor alerts (Alerts Management: reconciliation and two-way state) --------------

AlertState = Literal["New", "Acknowledged", "Closed"]


class AzureAlerts(Protocol):
    """Azure Monitor's own record of alert instances (Microsoft.AlertsManagement/alerts).

    Ids are the Common Alert Schema's `essentials.alertId`:
    /subscriptions/{subscription}/providers/Microsoft.AlertsManagement/alerts/{guid}.
    """

    def fired(self, *, subscription_id: str, since: datetime, until: datetime) -> Iterator[Mapping[str, Any]]:
        """Alerts of the subscription that are Fired and still New, started between `since` and
        `until`, newest first, every page followed lazily (stop iterating to stop reading). Each is
        a Common Alert Schema payload, as the action-group webhook would have posted it. Raises
        DependencyFailed when a page cannot be read."""

    def change_state(self, *, alert_id: str, new_state: AlertState) -> Delivery:
        """Set the alert's user state (one attempt: the outbox owns retries). Never raises for an
        HTTP failure: the Delivery says what happened (404 when Azure no longer has the alert)."""


# ---- Azure Monitor and the API's own endpoints (runbook step 2's query, step 4's checks) -----

@dataclass(frozen=True)
class LogTable:
    name: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]


@dataclass(frozen=True)
class LogAnswer:
    tables: tuple[LogTable, ...]
    partial_error: str = ""       # the service answered part of the result only, and why


class LogQueries(Protocol):
    def query(self, *, query: str, timespan: timedelta) -> LogAnswer:
        """Run a KQL query on the configured Log Analytics workspace over the last `timespan`, within
        the adapter's bounded timeout. A partial result is an answer (with partial_error). Raises
        DependencyFailed when the query fails or times out (the message says which)."""


class RequestMetrics(Protocol):
    def requests(self, *, resource_id: str, start: datetime, end: datetime) -> list[RequestCount]:
        """Azure Monitor's Requests metric of a container app, per minute and status class
        (statusCodeCategory), in [start, end). Minutes without data are absent. Raises
        DependencyFailed when the metrics cannot be read."""

    def maxima(self, *, resource_id: str, names: Sequence[str], start: datetime, end: datetime
               ) -> dict[str, list[tuple[datetime, float]]]:
        """Per-minute maxima of a resource's metrics (e.g. a cache's errors, serverLoad,
        connectedclients) in [start, end), by metric name. Raises DependencyFailed."""


@dataclass(frozen=True)
class ProbeAnswer:
    url: str
    status: int | None            # None: no answer (refused, timed out)
    elapsed_ms: int
    detail: str = ""              # why there was no answer; never a response body


class HttpProbe(Protocol):
    def get(self, *, url: str) -> ProbeAnswer:
        """One GET of `url`, redirects not followed, within the adapter's bounded timeout. Never raises."""


@dataclass(frozen=True)
class Observers:
    """What diagnostics and verification read besides ARM resources; None or empty when not configured.

    smoke_tests: (url, expected status) pairs. The sweep hands diagnostics and verification the
    CloudResources object only, so an adapter that implements CloudResources carries these as its
    `observers` attribute (observers_of)."""
    logs: LogQueries | None = None
    metrics: RequestMetrics | None = None
    http: HttpProbe | None = None
    health_url: str = ""
    smoke_tests: tuple[tuple[str, int], ...] = ()


def observers_of(resources: Any) -> Observers:
    """The Observers a CloudResources object carries; none configured when it carries none."""
    found = getattr(resources, "observers", None)
    return found if isinstance(found, Observers) else Observers()
