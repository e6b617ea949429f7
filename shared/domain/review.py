"""The post-incident review (runbook section 6): its deadlines, its status machine, its action items.

A Review is a value kept in `Incident.pir` (stored by `to_dict`, read back by `from_dict`). A change returns the new Review and the
timeline events it should record, as (kind, text) pairs; a change that raises returns nothing, so a body
is applied whole or not at all:

    review, events = Review.from_incident(inc, runbook).record(body, now=now, calendar=runbook.calendar)
    inc.pir = review
    for kind, text in events:
        inc.record(now, kind, actor, text)
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, Mapping

from shared.domain.calendar import BusinessCalendar, require_utc
from shared.domain.errors import Conflict, InvalidInput
from shared.domain.sla import SlaPolicy, Target
from shared.domain.timeutil import instant, parse_iso

if TYPE_CHECKING:
    from shared.domain.incident import Incident
    from shared.domain.policy import Runbook

NOT_REQUIRED = "not required"  # SEV-3/4 (no [sla] pir); a voluntary review may still be recorded
STATUSES = ("pending", "scheduled", "held", "report_published", "closed")
TRANSITIONS: Mapping[str, frozenset[str]] = MappingProxyType({
    NOT_REQUIRED: frozenset({"scheduled", "held"}), "pending": frozenset({"scheduled", "held"}),
    "scheduled": frozenset({"held"}), "held": frozenset({"report_published"}),
    "report_published": frozenset({"closed"}), "closed": frozenset()})
REPORT_AFTER_MEETING = Target.parse("5-business-days", "review.report")  # "within 5 business days of meeting"
ITEM_STATUSES = ("open", "done", "wont_fix")
ITEM_FIELDS = ("id", "text", "owner", "due", "status", "link", "ticket")
BODY_FIELDS = ("meeting", "report_url", "root_cause", "action_items", "status")
MAX_ITEMS, MAX_ITEM_TEXT, MAX_NAME, MAX_ATTENDEES, MAX_URL, MAX_ROOT_CAUSE = 50, 500, 200, 50, 2048, 20_000
_JIRA = re.compile(r"^[A-Z][A-Z0-9_]{0,19}-[1-9][0-9]{0,9}$")
_URL = re.compile(r"^https?://[^\s/]+\S*$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ITEM_ID = re.compile(r"^A([1-9][0-9]{0,3})$")

Event = tuple[str, str]  # (timeline kind, text)


def _z(t: datetime | None) -> str | None:
    return None if t is None else t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _second(t: datetime) -> datetime:
    return require_utc(t, "t").replace(microsecond=0)


@dataclass(frozen=True)
class ActionItem:
    id: str
    text: str
    owner: str
    due: str | None = None      # YYYY-MM-DD
    status: str = "open"        # open | done | wont_fix
    link: str | None = None
    ticket: str | None = None   # the Jira key, set once the ticket exists


@dataclass(frozen=True)
class Review:
    required: bool
    status: str
    due_at: datetime | None = None          # the meeting's deadline
    report_due_at: datetime | None = None
    report_due_provisional: bool = True     # counted from the meeting's deadline until it is held
    resolved_at: datetime | None = None
    meeting_at: datetime | None = None
    attendees: tuple[str, ...] = ()
    report_url: str | None = None
    root_cause: str = ""
    items: tuple[ActionItem, ...] = ()
    closed_at: datetime | None = None

    @classmethod
    def start(cls, severity: str, resolved_at: datetime, *, sla: SlaPolicy, calendar: BusinessCalendar) -> Review:
        """The review a resolution starts, as [sla] pir says (the runbook: SEV-1 meets within 48 h, SEV-2
        within 5 business days, the others need none). Raises PolicyError for an unknown severity."""
        resolved_at = _second(resolved_at)
        due = sla.pir_due(severity, resolved_at, calendar)
        if due is None:
            return cls(required=False, status=NOT_REQUIRED, resolved_at=resolved_at)
        return cls(required=True, status="pending", due_at=_second(due), resolved_at=resolved_at,
                   report_due_at=REPORT_AFTER_MEETING.due(_second(due), calendar))

    @classmethod
    def from_incident(cls, inc: Incident, runbook: Runbook) -> Review:
        """The incident's review, also from the first {"required", "due_at", "status"} shape. Raises
        Conflict while the incident is open: the review clock starts at resolution."""
        if inc.resolved_at is None:
            raise Conflict(f"incident {inc.id} is not resolved: its review starts at resolution")
        if inc.pir is None:
            return cls.start(inc.severity, inc.resolved_at, sla=runbook.sla, calendar=runbook.calendar)
        r = inc.pir
        if r.report_due_at is None and r.due_at is not None:
            r = replace(r, report_due_at=REPORT_AFTER_MEETING.due(r.due_at, runbook.calendar))
        return r if r.resolved_at else replace(r, resolved_at=_second(inc.resolved_at))

    def to_dict(self) -> dict[str, Any]:
        meeting = None if self.meeting_at is None else {"at": _z(self.meeting_at), "attendees": list(self.attendees)}
        return {"required": self.required, "due_at": _z(self.due_at), "status": self.status,
                "report_due_at": _z(self.report_due_at), "report_due_provisional": self.report_due_provisional,
                "resolved_at": _z(self.resolved_at), "meeting": meeting, "report_url": self.report_url,
                "root_cause": self.root_cause, "action_items": [asdict(i) for i in self.items],
                "closed_at": _z(self.closed_at)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Review:
        """A stored review (our own shape; absent keys take their defaults)."""
        meeting = d.get("meeting") or {}
        return cls(required=bool(d.get("required")), status=str(d.get("status") or NOT_REQUIRED),
                   due_at=parse_iso(d.get("due_at")), report_due_at=parse_iso(d.get("report_due_at")),
                   report_due_provisional=bool(d.get("report_due_provisional", True)),
                   resolved_at=parse_iso(d.get("resolved_at")), meeting_at=parse_iso(meeting.get("at")),
                   attendees=tuple(meeting.get("attendees") or ()), report_url=d.get("report_url"),
                   root_cause=str(d.get("root_cause") or ""), closed_at=parse_iso(d.get("closed_at")),
                   items=tuple(ActionItem(**{k: i[k] for k in ITEM_FIELDS if k in i})
                               for i in d.get("action_items") or ()))

    def overdue(self, now: datetime) -> tuple[str, ...]:
        """The deadlines missed as of `now`: "meeting" and/or "report" (exactly at a deadline is in time)."""
        now = require_utc(now, "now")
        meeting = self.status in ("pending", "scheduled") and self.due_at is not None and now > self.due_at
        report = self.status in ("pending", "scheduled", "held") and self.report_due_at is not None \
            and now > self.report_due_at
        return tuple(name for name, missed in (("meeting", meeting), ("report", report)) if missed)

    def _check(self, to: str, hint: str = "") -> None:
        if to not in TRANSITIONS[self.status]:
            allowed = " or ".join(sorted(TRANSITIONS[self.status])) or "nothing, it is final"
            raise Conflict(f"the review is {self.status}: it cannot become {to} (next: {allowed}){hint}")

    # -- changes -----------------------------------------------------------------------------
    def record(self, body: Any, *, now: datetime, calendar: BusinessCalendar) -> tuple[Review, list[Event]]:
        """Apply a POST pir body {"meeting": {"at", "attendees"}, "report_url", "root_cause", "action_items",
        "status": "closed"}: items first, then the meeting (at or before `now`: held, else scheduled), the
        report (published), the root cause, and closing last. Repeating a body changes nothing. Raises
        InvalidInput naming the JSON path, Conflict for a transition the status forbids."""
        body = _fields(body, "$", BODY_FIELDS, "a review")
        if not body:
            raise InvalidInput("$", f"nothing to record: give one of {', '.join(BODY_FIELDS)}")
        if "status" in body and body["status"] != "closed":
            raise InvalidInput("$.status", "only 'closed' can be set: the others follow from meeting and report_url")
        now = require_utc(now, "now")
        review, events = self.upsert_items(body["action_items"]) if "action_items" in body else (self, [])
        if "meeting" in body:
            review = review._with_meeting(*_meeting(body["meeting"], "$.meeting"), now, calendar, events)
        if "report_url" in body:
            review = review._with_report(_url(body["report_url"], "$.report_url"), events)
        if "root_cause" in body:
            cause = _text(body["root_cause"], "$.root_cause", MAX_ROOT_CAUSE, blank=True)
            review = review._with_root_cause(cause, events)
        return (review._closed(now, events) if "status" in body else review), events

    def _with_meeting(self, at: datetime, attendees: tuple[str, ...], now: datetime, calendar: BusinessCalendar,
                      events: list[Event]) -> Review:
        if self.resolved_at is not None and at < self.resolved_at:
            raise InvalidInput("$.meeting.at", f"is before the incident was resolved ({_z(self.resolved_at)})")
        to = "held" if at <= now else "scheduled"
        done = self.status in ("report_published", "closed")
        if (at, attendees) == (self.meeting_at, self.attendees) and (self.status == to or done):
            return self
        if done:
            raise Conflict(f"the review is {self.status}: its meeting can no longer change")
        if self.status == "held" and to == "scheduled":
            raise Conflict(f"the review meeting was held at {_z(self.meeting_at)}: it cannot be scheduled again")
        if self.status != to:
            self._check(to)
        who, again = (f" with {', '.join(attendees)}" if attendees else ""), self.status == to
        if to == "scheduled":
            late = f" (after its deadline {_z(self.due_at)})" if self.due_at and at > self.due_at else ""
            events.append(("review", f"Post-incident review meeting {'moved to' if again else 'scheduled for'} "
                                     f"{_z(at)}{who}{late}"))
            return replace(self, status=to, meeting_at=at, attendees=attendees)
        report_due = REPORT_AFTER_MEETING.due(at, calendar)
        events.append(("review", f"Post-incident review meeting {'corrected: held' if again else 'held'} at "
                                 f"{_z(at)}{who}; written report due by {_z(report_due)}"))
        return replace(self, status=to, meeting_at=at, attendees=attendees, report_due_at=report_due,
                       report_due_provisional=False)

    def _with_report(self, url: str, events: list[Event]) -> Review:
        if url == self.report_url:
            return self
        if not (moved := self.status == "report_published"):
            self._check("report_published", "; the written report follows the meeting: record it as held first"
                        if self.status in ("pending", "scheduled", NOT_REQUIRED) else "")
        events.append(("review", f"Post-incident report {'moved to' if moved else 'published:'} {url}"))
        return replace(self, status="report_published", report_url=url)

    def _with_root_cause(self, text: str, events: list[Event]) -> Review:
        if text == self.root_cause:
            return self
        if self.status == "closed":
            raise Conflict("the review is closed: its root cause can no longer change")
        short = " ".join((text if len(text) <= 200 else text[:199] + "…").split())
        events.append(("review", f"Root cause recorded: {short}" if text else "Root cause cleared"))
        return replace(self, root_cause=text)

    def _closed(self, now: datetime, events: list[Event]) -> Review:
        if self.status == "closed":
            return self
        self._check("closed", "; close it once the report is published")
        still = [i.id for i in self.items if i.status == "open"]
        if still:
            raise Conflict(f"action items {', '.join(still)} are still open: mark each done or wont_fix "
                           "before closing the review")
        done = sum(i.status == "done" for i in self.items)
        events.append(("review", f"Post-incident review closed: {done} action item(s) done, "
                                 f"{len(self.items) - done} won't fix"))
        return replace(self, status="closed", closed_at=_second(now))

    def upsert_items(self, items: Any, path: str = "$.action_items") -> tuple[Review, list[Event]]:
        """Add or update action items. An item with an id updates that item (the fields given only); one
        without updates the item with the same text and owner, else is added as A1, A2, ... Repeating a
        list changes nothing. Raises InvalidInput naming the path (at most MAX_ITEMS items, text up to
        MAX_ITEM_TEXT characters), Conflict when a closed review would change."""
        if not isinstance(items, list) or len(items) > MAX_ITEMS:
            raise InvalidInput(path, f"must be a list of at most {MAX_ITEMS} action items")
        current, events = list(self.items), list[Event]()
        for n, raw in enumerate(items):
            p = f"{path}[{n}]"
            fields = _item(raw, p)
            at = _find(current, fields, p)
            if at is None:
                if missing := next((k for k in ("text", "owner") if k not in fields), None):
                    raise InvalidInput(f"{p}.{missing}", "is required for a new action item")
                if len(current) >= MAX_ITEMS:
                    raise InvalidInput(p, f"at most {MAX_ITEMS} action items per review")
                current.append(new := ActionItem(id=_next_id(current), **fields))
                events.append(("review", f"Action item {new.id} added: {new.text} (owner {new.owner}, "
                                         f"due {new.due or 'not set'})"))
                continue
            # Matched by text and owner, those stay as first written; by id, everything may change.
            keep = ("id",) if "id" in fields else ("id", "text", "owner")
            old, new = current[at], replace(current[at], **{k: v for k, v in fields.items() if k not in keep})
            if new != old:
                current[at] = new
                changed = ", ".join(f"{k} {getattr(old, k) or '-'} → {getattr(new, k) or '-'}"
                                    for k in ITEM_FIELDS if getattr(old, k) != getattr(new, k))
                events.append(("review", f"Action item {new.id} updated: {changed}"))
        if events and self.status == "closed":
            raise Conflict("the review is closed: its action items can no longer change")
        return replace(self, items=tuple(current)), events


# -- validation: InvalidInput names the JSON path -------------------------------------------------
def _fields(raw: Any, path: str, known: tuple[str, ...], what: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise InvalidInput(path, f"must be an object ({', '.join(known)})")
    unknown = sorted(str(k) for k in raw if k not in known)
    if unknown:
        raise InvalidInput(f"{path}.{unknown[0]}", f"is not {what} field (expected {', '.join(known)})")
    return raw


def _text(value: Any, path: str, limit: int, *, blank: bool = False) -> str:
    text = value.strip() if isinstance(value, str) else None
    if text is None or (not text and not blank) or len(text) > limit:
        raise InvalidInput(path, f"must be a {'' if blank else 'non-blank '}string of at most {limit} characters")
    return text


def _matching(pattern: re.Pattern[str], limit: int, message: str) -> Callable[[Any, str], str]:
    def check(value: Any, path: str) -> str:
        if not pattern.match(text := _text(value, path, limit)):
            raise InvalidInput(path, message)
        return text
    return check


def _due(value: Any, path: str) -> str:
    day = _matching(_DAY, 10, "must be a date YYYY-MM-DD")(value, path)
    try:
        return date.fromisoformat(day).isoformat()
    except ValueError:
        raise InvalidInput(path, f"{day} is not a date") from None


_url = _matching(_URL, MAX_URL, "must be an http(s) URL")
_ITEM_CHECKS: Mapping[str, Callable[[Any, str], str]] = MappingProxyType({
    "id": lambda v, p: _text(v, p, 20), "text": lambda v, p: _text(v, p, MAX_ITEM_TEXT),
    "owner": lambda v, p: _text(v, p, MAX_NAME), "due": _due, "link": _url,
    "status": _matching(re.compile(f"^({'|'.join(ITEM_STATUSES)})$"), 10, f"must be one of {', '.join(ITEM_STATUSES)}"),
    "ticket": _matching(_JIRA, 40, "must be a Jira issue key such as OPS-123")})


def _item(raw: Any, path: str) -> dict[str, Any]:
    """The fields given for one action item, validated; due, link and ticket may be cleared with null."""
    return {k: None if v is None and k in ("due", "link", "ticket") else _ITEM_CHECKS[k](v, f"{path}.{k}")
            for k, v in _fields(raw, path, ITEM_FIELDS, "an action item").items()}


def _meeting(raw: Any, path: str) -> tuple[datetime, tuple[str, ...]]:
    raw = _fields(raw, path, ("at", "attendees"), "a meeting")
    if "at" not in raw:
        raise InvalidInput(f"{path}.at", "is required")
    people = raw.get("attendees", [])
    if not isinstance(people, list) or len(people) > MAX_ATTENDEES:
        raise InvalidInput(f"{path}.attendees", f"must be a list of at most {MAX_ATTENDEES} names")
    names = (_text(p, f"{path}.attendees[{i}]", MAX_NAME) for i, p in enumerate(people))
    return _second(instant(raw["at"], f"{path}.at")), tuple(dict.fromkeys(names))


def _find(items: list[ActionItem], fields: Mapping[str, Any], path: str) -> int | None:
    if "id" in fields:
        found = next((n for n, i in enumerate(items) if i.id == fields["id"]), None)
        if found is None:
            raise InvalidInput(f"{path}.id", f"no action item {fields['id']!r} (leave id out to add an item)")
        return found
    key = (str(fields.get("text", "")).casefold(), str(fields.get("owner", "")).casefold())
    return next((n for n, i in enumerate(items) if (i.text.casefold(), i.owner.casefold()) == key), None)


def _next_id(items: list[ActionItem]) -> str:
    return f"A{max((int(m[1]) for i in items if (m := _ITEM_ID.match(i.id))), default=0) + 1}"
