"""ISO-8601 helpers shared by the domain. Every stored time is UTC with a trailing Z."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import overload

from shared.domain.errors import InvalidInput


@overload
def iso(t: datetime) -> str: ...
@overload
def iso(t: None) -> None: ...
@overload
def iso(t: datetime | None) -> str | None: ...
def iso(t: datetime | None) -> str | None:
    if t is None:
        return None
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(value: str | None) -> datetime | None:
    """Parse our own stored form (and any ISO-8601 with offset); naive means UTC."""
    if value is None or value == "":
        return None
    t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)


def parse_stored(value: str) -> datetime:
    """parse_iso of a time the app wrote itself and always sets (a due time, an expiry, a lock's end)."""
    parsed = parse_iso(value)
    assert parsed is not None, "a time the app always sets is blank"
    return parsed


MAX_INSTANT = 64  # characters: the longest ISO-8601 date-time worth reading, with room for spaces


def instant(value: object, path: str) -> datetime:
    """A caller's ISO-8601 date-time (Z or offset; naive means UTC) as UTC. Raises InvalidInput at `path`,
    also for a blank string (which parse_iso reads as "no time")."""
    try:
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_INSTANT:
            raise ValueError(value)
        parsed = parse_iso(value.strip())
        if parsed is None:
            raise ValueError(value)
        return parsed
    except (ValueError, OverflowError):
        raise InvalidInput(path, "must be an ISO-8601 date-time such as 2026-11-27T22:00:00Z") from None
