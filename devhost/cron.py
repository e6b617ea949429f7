"""Six-field NCRONTAB schedules (`{second} {minute} {hour} {day} {month} {day-of-week}`), as the
Azure Functions timer trigger reads them, and the scheduler's time math (pure: give it a clock)."""
from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Mapping

log = logging.getLogger(__name__)

MONTHS = "JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split()
DAYS = "SUN MON TUE WED THU FRI SAT".split()
# name, lowest, highest, names for lowest.. (day-of-week also takes 7 for Sunday)
FIELDS = (("second", 0, 59, None), ("minute", 0, 59, None), ("hour", 0, 23, None),
          ("day", 1, 31, None), ("month", 1, 12, MONTHS), ("day-of-week", 0, 7, DAYS))
_SETTING = re.compile(r"%([^%\s]+)%")
_HORIZON = timedelta(days=366 * 30)  # Feb 29 on a given weekday comes back every 28 years


def resolve(expression: str, environ: Mapping[str, str]) -> str:
    """Replace `%NAME%` with the setting NAME; ValueError naming a setting that is not set."""
    def value(m: re.Match) -> str:
        if not environ.get(m.group(1)):
            raise ValueError(f"schedule setting {m.group(1)} is not set")
        return environ[m.group(1)]
    return _SETTING.sub(value, expression)


def _number(token: str, name: str, lo: int, hi: int, names) -> int:
    if names and token.upper() in names:
        return names.index(token.upper()) + lo
    if not token.isdigit() or not lo <= int(token) <= hi:
        raise ValueError(f"{name} field: {token!r} is not a number in {lo}-{hi}")
    return int(token)


def _field(text: str, name: str, lo: int, hi: int, names) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        span, slash, step_text = part.partition("/")
        if slash and not (step_text.isdigit() and int(step_text) > 0):
            raise ValueError(f"{name} field: step {step_text!r} in {part!r} is not a positive number")
        step = int(step_text) if slash else 1
        if span == "*":
            first, last = lo, hi
        elif "-" in span:
            first, last = (_number(t, name, lo, hi, names) for t in span.split("-", 1))
            if first > last:
                raise ValueError(f"{name} field: range {span!r} runs backwards")
        else:
            first = _number(span, name, lo, hi, names)
            last = hi if slash else first
        values.update(range(first, last + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class Cron:
    expression: str
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday

    @classmethod
    def parse(cls, expression: str) -> "Cron":
        """Parse six NCRONTAB fields; ValueError naming the offending field."""
        texts = expression.split()
        if len(texts) != 6:
            raise ValueError(f"schedule {expression!r} has {len(texts)} fields, expected six "
                             "({second} {minute} {hour} {day} {month} {day-of-week})")
        sets = [_field(t, *spec) for t, spec in zip(texts, FIELDS)]
        sets[5] = frozenset(d % 7 for d in sets[5])
        return cls(expression, *sets)

    def next_after(self, after: datetime) -> datetime | None:
        """The first occurrence strictly after `after` (UTC), or None if there is none."""
        t = after.astimezone(timezone.utc).replace(microsecond=0) + timedelta(seconds=1)
        limit = t + _HORIZON
        while t < limit:
            if t.month not in self.months:
                t = (t.replace(day=1, hour=0, minute=0, second=0) + timedelta(days=32)).replace(day=1)
            elif t.day not in self.days or t.isoweekday() % 7 not in self.weekdays:
                t = t.replace(hour=0, minute=0, second=0) + timedelta(days=1)
            elif t.hour not in self.hours:
                t = t.replace(minute=0, second=0) + timedelta(hours=1)
            elif t.minute not in self.minutes:
                t = t.replace(second=0) + timedelta(minutes=1)
            elif t.second not in self.seconds:
                t += timedelta(seconds=1)
            else:
                return t
        return None


@dataclass(frozen=True)
class Plan:
    fire: bool  # the pending occurrence is due: invoke now
    past_due: bool  # ... and at least one later occurrence has passed too (we are late)
    due_at: datetime | None  # the occurrence being fired, if any
    pending: datetime | None  # the occurrence to wait for next; None: the schedule never fires again
    wait: float | None  # real seconds to sleep before asking again


def plan(cron: Cron, clock, scale: float, pending: datetime | None = None) -> Plan:
    """The scheduler's next move at clock.now(), for a clock that runs `scale` times real time.

    Start with pending=None, then feed back the returned `pending` after each wait."""
    now = clock.now()
    fire = pending is not None and now >= pending
    due_at = pending if fire else None
    if pending is None or fire:
        pending = cron.next_after(now)
    later = cron.next_after(due_at) if due_at is not None else None  # set exactly when it fires
    past_due = later is not None and later <= now
    wait = None if pending is None else max(0.0, (pending - now).total_seconds() / scale)
    return Plan(fire, past_due, due_at, pending, wait)


def run_schedule(cron: Cron, clock, scale: float, stop: threading.Event,
                 fire: Callable[[bool, datetime, datetime | None], None],
                 run_on_startup: bool = False) -> None:
    """Call fire(past_due, due_at, next_at) at each occurrence on `clock` until `stop` is set."""
    if run_on_startup:
        fire(False, clock.now(), cron.next_after(clock.now()))
    pending = None
    while True:
        p = plan(cron, clock, scale, pending)
        if p.fire:
            assert p.due_at is not None  # a plan that fires carries its occurrence
            fire(p.past_due, p.due_at, p.pending)
        if (pending := p.pending) is None:
            log.warning("schedule %r has no further occurrence", cron.expression)
            return
        if stop.wait(p.wait):  # real seconds; returns at once on shutdown
            return
