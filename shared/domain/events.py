"""Domain events that outlive the change raising them: what a change asks the world to do or remember.

A use case collects these (beside the incident's own timeline events) and hands them to the unit of
work, which turns each into its rows in the same atomic batch as the change: nothing here knows a key,
a row or a store.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Mapping, Union


@dataclass(frozen=True)
class MessageQueued:
    """An outbound message (a page, a chat post, a ticket action, a public update, an Azure alert
    state) for the outbox to deliver. `fields` are the message's flat values (str, int, float, bool);
    `severity` is the incident's when written (pages are delivered by severity, highest first)."""
    at: datetime
    channel: str
    severity: str
    msg_id: str
    fields: Mapping[str, Any] = field(default_factory=dict)

    @property
    def incident_id(self) -> str:
        return str(self.fields.get("incident_id", ""))

    @property
    def is_page(self) -> bool:
        return self.channel == "pagerduty"

    def with_fields(self, **more: Any) -> MessageQueued:
        return replace(self, fields={**self.fields, **more})


@dataclass(frozen=True)
class RemediationAudited:
    """One append-only audit record of a remediation (plan, approval, execution, verification).
    `seq` orders it with the timeline event it goes with."""
    at: datetime
    remediation_id: str
    seq: int
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReviewIndexed:
    """The state of an incident's required post-incident review (status, deadlines, open action items),
    kept where the review timer finds it without reading incidents."""
    incident_id: str
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PublicStatusChanged:
    """What the public status page shows of an incident now (public text only)."""
    incident_id: str
    fields: Mapping[str, Any] = field(default_factory=dict)


Event = Union[MessageQueued, RemediationAudited, ReviewIndexed, PublicStatusChanged]
