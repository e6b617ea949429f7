"""Outbound notification and communications: pager, chat, tickets, status page.

Every adapter makes ONE attempt per call and never sleeps: the outbox owns the retry schedule
(a 429's Retry-After and a 5xx come back in the Delivery). None raises for an HTTP failure or a
network error. `detail` never holds a secret (token, API key, webhook URL).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Protocol, Sequence


@dataclass(frozen=True)
class Delivery:
    """What happened to one outbound call: for the timeline."""
    ok: bool
    attempts: int
    status: int | None            # last HTTP status, None when no answer
    detail: str = ""              # never a secret
    history: tuple[str, ...] = () # what each attempt got, e.g. ("500", "202")
    retry_after: float | None = None  # seconds the receiver asked to wait before the next attempt


@dataclass(frozen=True)
class Sent:
    """A Delivery and the receiver's reference for what it created or found: a Slack message
    ("<channel id>/<ts>"), a Jira issue key, a Statuspage incident id. `ref` is "" when nothing was
    created or found."""
    delivery: Delivery
    ref: str = ""


# ---- pager -----------------------------------------------------------------------------------

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


class Pager(Protocol):
    def send(self, *, event: PagerEvent) -> Delivery:
        """Send one event, with at most the adapter's bounded attempts (the timer's pager makes one:
        the outbox owns the retry schedule). Never raises for HTTP failures: the Delivery says what
        happened, with the receiver's Retry-After, so the caller records it and retries later."""


# ---- chat (runbook sections 3 step 5 and 5) --------------------------------------------------

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


# ---- tickets ---------------------------------------------------------------------------------

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


# ---- public status page ----------------------------------------------------------------------

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
