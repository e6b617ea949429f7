"""The GDPR Article 33 clock of a security incident (runbook, Playbook: Security Breach, step 6).

A personal data breach is notified to the supervisory authority within 72 hours of becoming aware of
it. Until someone answers whether personal data is involved, a security incident asks once per UTC
day (`question_due`). Once the answer is yes, the clock runs from `aware_at`: reminders fall due 24,
48 and 66 hours in, and "overdue" at 72 hours (`reminders_due`; the caller records the ones it sent,
so each goes out once). Notifying the authority stops the clock; nothing is due after.

Pure: every instant is a parameter, all of them tz-aware and kept in UTC.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Collection, Mapping

from shared.domain.errors import Conflict, InvalidInput
from shared.domain.timeutil import instant, iso

WINDOW = timedelta(hours=72)
REMINDERS = (("24h", timedelta(hours=24)), ("48h", timedelta(hours=48)), ("66h", timedelta(hours=66)),
             ("overdue", WINDOW))
SKEW = timedelta(minutes=5)  # how far past `now` a given instant may lie (clocks of people and hosts differ)
MAX_TEXT = 200               # characters of the authority's name and of its reference


def _aware(t: Any, path: str) -> datetime:
    if not isinstance(t, datetime) or t.utcoffset() is None:
        raise InvalidInput(path, "must be a tz-aware date-time")
    return t.astimezone(UTC)


def _text(value: Any, path: str, *, required: bool) -> str:
    if not isinstance(value, str):
        raise InvalidInput(path, "must be a string")
    text: str = value.strip()
    if required and not text:
        raise InvalidInput(path, "is required")
    if len(text) > MAX_TEXT:
        raise InvalidInput(path, f"must be at most {MAX_TEXT} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise InvalidInput(path, "must not contain control characters")
    return text


def _not_future(t: datetime, now: datetime, path: str) -> None:
    if t > _aware(now, "$.now") + SKEW:
        raise InvalidInput(path, f"must not be in the future (now is {iso(now)})")


@dataclass(frozen=True)
class BreachClock:
    """The state kept on the incident. personal_data None means not answered yet.

    Invariants (InvalidInput at the JSON path otherwise): aware_at is set when personal_data is true;
    a notification needs personal_data true, is not before aware_at and names its authority; texts
    are at most MAX_TEXT characters without control characters.
    """

    personal_data: bool | None = None
    aware_at: datetime | None = None
    notified_at: datetime | None = None
    authority: str = ""
    reference: str = ""

    def __post_init__(self) -> None:
        if self.personal_data is not None and not isinstance(self.personal_data, bool):
            raise InvalidInput("$.personal_data", "must be true, false or null")
        for name in ("aware_at", "notified_at"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, _aware(getattr(self, name), f"$.{name}"))
        if self.personal_data and self.aware_at is None:
            raise InvalidInput("$.aware_at", "is required when personal_data is true")
        notified = self.notified_at is not None
        object.__setattr__(self, "authority", _text(self.authority, "$.authority", required=notified))
        object.__setattr__(self, "reference", _text(self.reference, "$.reference", required=False))
        if notified and not self.personal_data:
            raise InvalidInput("$.notified_at", "needs personal_data true")
        if self.notified_at is not None and self.aware_at is not None and self.notified_at < self.aware_at:
            raise InvalidInput("$.notified_at", "must not be before aware_at")

    # -- the clock ---------------------------------------------------------------------------
    @property
    def deadline(self) -> datetime | None:
        """aware_at + 72 h while personal data is involved; None otherwise."""
        return self.aware_at + WINDOW if self.personal_data and self.aware_at else None

    @property
    def running(self) -> bool:
        return self.deadline is not None and self.notified_at is None

    @property
    def notified_late(self) -> bool:
        """Notified after the deadline: Article 33(1) then asks for the reasons for the delay."""
        return self.deadline is not None and self.notified_at is not None and self.notified_at > self.deadline

    def reminders_due(self, now: datetime, sent: Collection[str]) -> list[str]:
        """Which of "24h", "48h", "66h" and "overdue" are due at `now` (at or after aware_at + 24, 48,
        66, 72 hours) and not in `sent`, in that order; none once notified or without personal data.
        A clock started late can owe several at once: the last is the most pressing."""
        now = _aware(now, "$.now")
        if not self.running or self.aware_at is None:
            return []
        return [name for name, after in REMINDERS if now >= self.aware_at + after and name not in sent]

    def question_due(self, now: datetime, last_asked: datetime | None) -> bool:
        """Whether to ask "does this breach involve personal data?" now: while unanswered, once per
        UTC day (the first time at once). The caller asks only on security incidents."""
        if self.personal_data is not None:
            return False
        day = _aware(now, "$.now").date()
        return last_asked is None or _aware(last_asked, "$.last_asked").date() < day

    # -- commands ----------------------------------------------------------------------------
    def answer(self, personal_data: bool, *, aware_at: datetime | None, now: datetime) -> BreachClock:
        """Record whether personal data is involved. Yes starts the clock at `aware_at` (default: the
        awareness already recorded, else `now`); a later answer may correct it. Raises InvalidInput
        ($.personal_data, $.aware_at in the future) and Conflict once the authority was notified."""
        if self.notified_at is not None:
            raise Conflict("the supervisory authority was notified: the answer is final")
        if not isinstance(personal_data, bool):
            raise InvalidInput("$.personal_data", "must be true or false")
        aware = _aware(aware_at, "$.aware_at") if aware_at is not None else self.aware_at
        if personal_data and aware is None:
            aware = _aware(now, "$.now")
        if aware is not None and aware_at is not None:
            _not_future(aware, now, "$.aware_at")
        return replace(self, personal_data=personal_data, aware_at=aware)

    def notify(self, notified_at: datetime, authority: str, reference: str, *, now: datetime) -> BreachClock:
        """The authority was notified: the clock stops. Raises InvalidInput naming the field
        (notified_at in the future or before aware_at, a blank or over-long authority, ...) and
        Conflict without personal data or when already notified."""
        if not self.personal_data:
            raise Conflict("no personal data breach to notify: answer personal_data first")
        if self.notified_at is not None:
            raise Conflict(f"the authority was already notified at {iso(self.notified_at)}")
        when = _aware(notified_at, "$.notified_at")
        _not_future(when, now, "$.notified_at")
        return replace(self, notified_at=when, authority=authority, reference=reference)

    # -- persistence shape -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The JSON kept on the incident; `deadline` is derived (from_dict ignores it)."""
        return {"personal_data": self.personal_data, "aware_at": iso(self.aware_at),
                "notified_at": iso(self.notified_at), "authority": self.authority,
                "reference": self.reference, "deadline": iso(self.deadline)}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any] | None, *, at: str = "$",
                  now: datetime | None = None) -> BreachClock:
        """Read `to_dict`'s JSON (None or {} is a fresh clock). Paths in errors start at `at` (e.g.
        "$.breach"). With `now`, instants past now + SKEW are refused too (input from a person).
        Unknown keys are ignored. Raises InvalidInput."""
        if doc is None:
            return cls()
        if not isinstance(doc, Mapping):
            raise InvalidInput(at, "must be an object")
        try:
            times = {k: None if doc.get(k) is None else instant(doc.get(k), f"$.{k}")
                     for k in ("aware_at", "notified_at")}
            clock = cls(doc.get("personal_data"), times["aware_at"], times["notified_at"],
                        doc.get("authority", ""), doc.get("reference", ""))
            for k, t in times.items():
                if now is not None and t is not None:
                    _not_future(t, now, f"$.{k}")
        except InvalidInput as e:
            raise InvalidInput(at + e.path[1:], e.message) from None
        return clock
