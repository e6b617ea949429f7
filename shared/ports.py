"""Ports: typing.Protocol for each outside thing. Keyword-only arguments throughout.

Adapters in shared/adapters implement these; test doubles are InMemory* / Recording*.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Mapping, Protocol, Sequence

from shared.domain.resources import (ArmResult, ContainerAppStatus, PostgresStatus, RedisStatus,
                                     Revision)


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, UTC, tz-aware."""


# ---- record store: a partition of ordered keys with atomic, ETag-conditional batches ----------

@dataclass(frozen=True)
class Record:
    key: str                      # the row key; ordering is by key
    data: Mapping[str, Any]       # flat: str, int, float, bool values only
    etag: str


@dataclass(frozen=True)
class Op:
    """One write in an atomic batch.

    kind: "insert" (fails if the key exists), "replace" (needs etag; fails if changed),
    "upsert" (unconditional), "delete" (needs etag, or etag "*" for unconditional).
    """
    kind: Literal["insert", "replace", "upsert", "delete"]
    key: str
    data: Mapping[str, Any] = field(default_factory=dict)
    etag: str | None = None


@dataclass(frozen=True)
class Filter:
    """A comparison on a data field, sent to the store as a parameterised query."""
    field: str
    op: Literal["eq", "ne", "ge", "gt", "le", "lt"]
    value: Any


@dataclass(frozen=True)
class Page:
    records: list[Record]
    continuation: str | None      # opaque; pass back as `after` for the next page


class RecordStore(Protocol):
    """One Table Storage partition seen as an ordered key space.

    Every method raises StoreUnavailable when the store cannot be reached; commit raises
    ConcurrencyConflict when a condition (insert of an existing key, stale etag) fails, in which
    case nothing of the batch was written.
    """

    def get(self, *, keys: Sequence[str]) -> dict[str, Record]:
        """The records that exist among `keys`, in one round trip."""

    def scan(self, *, start: str, end: str, filters: Sequence[Filter] = (), limit: int | None = None,
             after: str | None = None) -> Page:
        """Records with start <= key < end in key order, filtered in the store, one page of at most `limit`."""

    def commit(self, *, ops: Sequence[Op]) -> dict[str, str]:
        """Apply ops atomically (at most 100). Returns key -> new etag for written records."""


# ---- outbound notification -------------------------------------------------------------------

@dataclass(frozen=True)
class PagerEvent:
    action: Literal["trigger", "acknowledge", "resolve"]
    routing_key: str = field(repr=False)
    dedup_key: str
    summary: str = ""
    severity: Literal["critical", "error", "warning", "info"] = "error"
    source: str = ""
    custom_details: Mapping[str, Any] = field(default_factory=dict)
    links: Sequence[Mapping[str, str]] = ()


@dataclass(frozen=True)
class Delivery:
    """What happened to one outbound call: for the timeline."""
    ok: bool
    attempts: int
    status: int | None            # last HTTP status, None when no answer
    detail: str = ""              # never a secret
    history: tuple[str, ...] = () # what each attempt got, e.g. ("500", "202")
    retry_after: float | None = None  # seconds the receiver asked to wait before the next attempt


class Pager(Protocol):
    def send(self, *, event: PagerEvent) -> Delivery:
        """Send one event, with at most the adapter's bounded attempts (the timer's pager makes one:
        the outbox owns the retry schedule). Never raises for HTTP failures: the Delivery says what
        happened, with the receiver's Retry-After, so the caller records it and retries later."""


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

from typing import Iterator  # noqa: E402  (appended section: the header's imports stay untouched)

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


# ---- identity: the verified caller of an operator route or of the alert webhook -------------

import re  # noqa: E402  (appended section: the header's imports stay untouched)

_ACTOR_OID = re.compile(r" \(oid ([0-9A-Za-z-]{1,64})\)$")


@dataclass(frozen=True)
class Principal:
    """A caller whose Entra ID access token verified.

    `oid` is the immutable object id of the user or service principal; `name` is for display only
    (`name` or `preferred_username`, or the client's app id for an app-only token); `roles` are the
    app roles assigned to it on this app's registration (the token's `roles` claim).
    """
    oid: str
    name: str
    roles: frozenset[str] = frozenset()
    app_id: str = ""

    @property
    def actor(self) -> str:
        """Who acts, as the timeline shows it: "Alice Smith (oid 1234...)"."""
        return f"{self.name} (oid {self.oid})"


def actor_oid(actor: str) -> str:
    """The object id in an actor name that Principal.actor wrote; "" for any other name. Sound because
    a request body may never claim a name of that shape (functions/access.py, is_reserved)."""
    found = _ACTOR_OID.search(actor)
    return found.group(1) if found else ""


class TokenVerifier(Protocol):
    def verify(self, *, token: str) -> Principal:
        """The principal of an access token that the configured tenant issued for the configured
        audience, signed RS256 with one of the tenant's published keys, within its lifetime. Raises
        Unauthorized (saying what failed) for any other token, and DependencyFailed when the tenant's
        OpenID configuration or signing keys cannot be read (the caller may retry)."""


# ---- Azure Monitor and the API's own endpoints (runbook step 2's query, step 4's checks) -----

from datetime import timedelta  # noqa: E402  (appended section: the header's imports stay untouched)

from shared.domain.verification import RequestCount  # noqa: E402


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


# ---- communications: chat, tickets, status page (runbook sections 3 step 5 and 5) -------------
#
# Every adapter makes ONE attempt per call and never sleeps: the outbox owns the retry schedule
# (a 429's Retry-After and a 5xx come back in the Delivery). None raises for an HTTP failure or a
# network error. `detail` never holds a secret (token, API key, webhook URL).

@dataclass(frozen=True)
class Sent:
    """A Delivery and the receiver's reference for what it created or found: a Slack message
    ("<channel id>/<ts>"), a Jira issue key, a Statuspage incident id. `ref` is "" when nothing was
    created or found."""
    delivery: Delivery
    ref: str = ""


@dataclass(frozen=True)
class ChatPost:
    """One chat message, already rendered from the runbook's templates."""
    incident_id: str
    severity: str                  # "SEV-1".."SEV-4"
    subject: str                   # one line: a card's title, the notification preview
    text: str                      # the body, plain text (newlines kept)
    link: str = ""                 # the incident in this app, when PUBLIC_BASE_URL is set
    ticket: str = ""               # the Jira key, when the ticket exists
    facts: tuple[tuple[str, str], ...] = ()   # (name, value) pairs a card shows: Severity, Status, Lead


class Chat(Protocol):
    name: str                      # "slack" or "teams": for the timeline

    def post(self, *, post: ChatPost, thread: str = "") -> Sent:
        """Post `post`; as a reply in `thread` (a ref an earlier post returned) when the backend threads.
        ref: the new message's reference for replies and update ("" for a backend without them)."""

    def update(self, *, ref: str, post: ChatPost) -> Delivery:
        """Replace the message `ref` with `post` (the first message's STATUS line kept current). A
        backend that cannot edit answers Delivery(ok=True, attempts=0, status=None, detail="not supported")."""


@dataclass(frozen=True)
class Ticket:
    incident_id: str               # also a label: how a lost create is found again
    summary: str                   # "[SEV-1] INC-... title"
    description: str               # plain text; the adapter writes Atlassian Document Format
    severity: str                  # "SEV-1".."SEV-4": the priority
    labels: tuple[str, ...] = ()


class Tickets(Protocol):
    def find(self, *, incident_id: str) -> Sent:
        """The incident's ticket, looked up by its label (ref "" and ok when there is none). An action item's
        issue is found the same way, by its own label "<incident id>-<item id>"."""

    def create(self, *, ticket: Ticket) -> Sent:
        """Create the ticket. ref: its key."""

    def comment(self, *, key: str, text: str) -> Delivery: ...

    def transition(self, *, key: str, name: str) -> Delivery:
        """Apply the workflow transition named `name` (case-insensitive). 404 when the issue has no such
        transition now (already done, or another workflow): the detail names the ones it has."""

    def link(self, *, inward: str, outward: str, kind: str = "Relates") -> Delivery:
        """Link two issues with the link type named `kind`. Linking them again is harmless: Jira answers a
        link that already exists as created, and adds nothing (so a lost answer may simply be retried)."""

    def status(self, *, key: str) -> Sent:
        """The issue's workflow status. ref: its status category key ("new", "indeterminate", "done"), or the
        status name when the answer has no category; the detail names the status. 404 when the issue is gone."""


PublicPhase = Literal["investigating", "identified", "monitoring", "resolved"]


@dataclass(frozen=True)
class PublicUpdate:
    """One update of the public status page: no internal detail (no resource ids, people, tenants)."""
    incident_id: str               # for finding a lost create again (metadata); never shown
    name: str                      # the public incident's title
    status: PublicPhase
    body: str
    impact: Literal["none", "minor", "major", "critical"] = "major"
    # component id -> operational | degraded_performance | partial_outage | major_outage
    components: Mapping[str, str] = field(default_factory=dict)


class StatusPage(Protocol):
    def find(self, *, incident_id: str) -> Sent:
        """The page's unresolved incident created for `incident_id` (ref "" and ok when there is none)."""

    def create(self, *, update: PublicUpdate) -> Sent:
        """Open an incident on the page. ref: its id."""

    def update(self, *, ref: str, update: PublicUpdate) -> Delivery: ...
