"""The types of the command line's arguments: severities, whole numbers, texts, times, action items.

Times are ISO-8601 (naive means UTC, as in the API) or relative to now: `now`, `+2h`, `30m`,
`1h30m`, `2d` (units s, m, h, d, w); a leading `-` means before now (write `--start=-10m`). The edges
of a metrics window look back instead: there `30d` means 30 days ago.
"""
from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_RELATIVE = re.compile(r"([+-]?)((?:\d+[smhdw])+)")


def severity(value: str) -> str:
    m = re.fullmatch(r"(?:sev-?)?([1-4])", value.strip(), re.IGNORECASE)
    if not m:
        raise argparse.ArgumentTypeError(f"{value!r} is not a severity (SEV-1 .. SEV-4)")
    return f"SEV-{m.group(1)}"


def iso(value: str) -> str:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an ISO-8601 time (e.g. 2026-11-27T03:00:00Z)") from None
    return value


def positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive whole number")
    return int(value)


def text(value: str) -> str:
    if not value.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return value.strip()


def instant(now: Callable[[], datetime]) -> Callable[[str], str]:
    """The argument type of a time: ISO-8601 or relative to `now()`, sent as UTC `...Z`."""
    def parse(value: str) -> str:
        v = value.strip().lower()
        if v == "now":
            return _z(now())
        m = _RELATIVE.fullmatch(v)
        if m:
            delta = sum((timedelta(**{_UNITS[u]: int(n)}) for n, u in re.findall(r"(\d+)([smhdw])", m.group(2))),
                        timedelta())
            return _z(now() - delta if m.group(1) == "-" else now() + delta)
        try:
            t = datetime.fromisoformat(value.strip().upper())
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{value!r} is not a time: give ISO-8601 (2026-11-27T22:00:00Z) or relative (+2h, 30m, 1d)") from None
        return _z(t.replace(tzinfo=UTC) if t.tzinfo is None else t)
    return parse


def past(now: Callable[[], datetime]) -> Callable[[str], str]:
    """The argument type of a window's edge: ISO-8601, `now`, or how long ago (`30d`, `12h`, `-1w`)."""
    at = instant(now)

    def parse(value: str) -> str:
        v = value.strip().lower()
        if v.startswith("+"):
            raise argparse.ArgumentTypeError(f"{value!r} is in the future: a window looks back (30d is 30 days ago)")
        return at("-" + v.lstrip("-") if re.fullmatch(r"-?(?:\d+[smhdw])+", v) else value)
    return parse


def action_item(value: str) -> dict[str, str]:
    """`OWNER:DUE:TEXT` (DUE is YYYY-MM-DD or empty; TEXT may hold colons) as a new action item."""
    parts = [part.strip() for part in value.split(":", 2)]
    if len(parts) != 3 or not parts[0] or not parts[2]:
        raise argparse.ArgumentTypeError(f"{value!r} is not an action item: give OWNER:DUE:TEXT "
                                         "(e.g. bo:2026-12-15:add a canary stage; DUE may be empty)")
    owner, due, what = parts
    if due:
        try:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", due):
                raise ValueError
            date.fromisoformat(due)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{due!r} in {value!r} is not a date YYYY-MM-DD") from None
    return {"text": what, "owner": owner, **({"due": due} if due else {})}


def _z(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def utcnow() -> datetime:
    return datetime.now(UTC)
