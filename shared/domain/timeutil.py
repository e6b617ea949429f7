"""ISO-8601 helpers shared by the domain. Every stored time is UTC with a trailing Z."""
from __future__ import annotations

from datetime import datetime, timezone


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
