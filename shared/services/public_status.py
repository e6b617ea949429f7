"""The public status page's data: what was published (the public status rows), never the incidents.

A public status row (shared/storage/public_rows.py) holds only public text: title, phase, impact,
services (JSON list), started_at, resolved_at ("" while open), updated_at and updates (JSON list of
{"at", "phase", "title", "text"}, oldest first). Reading never opens an incident, so no internal
field (resource ids, tenants, people, alert rules, errors) can reach the page.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Mapping

from shared.domain.timeutil import iso, parse_iso
from shared.ports import RecordStore
from shared.storage import public_rows

log = logging.getLogger(__name__)

PHASES = ("investigating", "identified", "monitoring", "resolved")
OUTAGE_IMPACTS = frozenset({"critical"})   # Statuspage's impact scale: none, minor, major, critical
MAX_TEXT = 5000                  # characters of one public text shown (a row is written by the app)
# Characters that XML 1.0 cannot carry (C0 controls other than tab and newlines, U+FFFE/U+FFFF) and
# lone surrogates, which no UTF-8 answer can encode: dropped or replaced once, for every renderer.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class Malformed(ValueError):
    """A public status row that cannot be shown (a field missing or of the wrong shape)."""


@dataclass(frozen=True)
class PublicUpdate:
    at: datetime
    phase: str
    title: str
    text: str


@dataclass(frozen=True)
class PublicIncident:
    """One published incident. `updates` are newest first; `resolved_at` is None while open.
    `public_id` is an opaque short hash of the row key (for feed and page anchors), never the INC id."""
    title: str
    phase: str
    impact: str
    services: tuple[str, ...]
    started_at: datetime
    resolved_at: datetime | None
    updated_at: datetime
    updates: tuple[PublicUpdate, ...]
    public_id: str = ""

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


def read(store: RecordStore, now: datetime, *, days: int = 14, limit: int = 50) -> list[PublicIncident]:
    """The published incidents to show at `now`, newest first: every open one, and those resolved
    within `days`; at most `limit`. One range scan of the public status rows (paged); a malformed row is
    skipped with a log line. Raises StoreUnavailable when the store cannot be reached."""
    cutoff = now - timedelta(days=days)
    shown: list[PublicIncident] = []
    if limit <= 0:
        return shown
    for rec in public_rows.published(store):
        try:
            inc = parse_row(rec.key, rec.data)
        except Malformed as e:
            log.warning("public status row %s skipped: %s", rec.key[:40], e)
            continue
        if inc.is_open or (inc.resolved_at is not None and inc.resolved_at >= cutoff):
            shown.append(inc)
            if len(shown) >= limit:
                break
    return shown


def public_id(key: str) -> str:
    """An opaque, stable id for a public status row: feeds and anchors link entries without naming the incident."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def parse_row(key: str, data: Mapping[str, Any]) -> PublicIncident:
    """A public status row as a PublicIncident. Raises Malformed. An update that cannot be read is left out
    (the incident still shows); a row without a title, phase or start time is Malformed."""
    title, phase = _text(data, "title", required=True), _text(data, "phase", required=True).lower()
    if phase not in PHASES:
        raise Malformed(f"phase {phase[:20]!r} is not one of {', '.join(PHASES)}")
    started = _required_time(data, "started_at")
    resolved = _time(data, "resolved_at")
    if resolved is None and phase == "resolved":  # resolved without its time: the last update stands in
        resolved = _time(data, "updated_at") or started
    services = _json_list(data, "services")
    if not all(isinstance(s, str) for s in services):
        raise Malformed("services must be a JSON list of strings")
    updates = []
    for u in _json_list(data, "updates"):
        try:
            updates.append(_update(u))
        except Malformed as e:
            log.warning("public status row %s: an update left out: %s", key[:40], e)
    updates.sort(key=lambda u: u.at, reverse=True)
    updated = _time(data, "updated_at") or (updates[0].at if updates else started)
    return PublicIncident(title=title, phase=phase, impact=_text(data, "impact").lower() or "none",
                          services=tuple(clean(s) for s in services if s.strip()), started_at=started,
                          resolved_at=resolved, updated_at=updated, updates=tuple(updates), public_id=public_id(key))


def _update(u: Any) -> PublicUpdate:
    if not isinstance(u, dict):
        raise Malformed("an update is not an object")
    phase = _text(u, "phase", required=True).lower()
    if phase not in PHASES:
        raise Malformed(f"update phase {phase[:20]!r} is unknown")
    return PublicUpdate(at=_required_time(u, "at"), phase=phase, title=_text(u, "title"), text=_text(u, "text"))


def _text(data: Mapping[str, Any], name: str, *, required: bool = False) -> str:
    value = data.get(name, "")
    if not isinstance(value, str):
        raise Malformed(f"{name} is not a string")
    if required and not value.strip():
        raise Malformed(f"{name} is missing")
    return clean(value.strip())


def _required_time(data: Mapping[str, Any], name: str) -> datetime:
    value = _time(data, name)
    if value is None:
        raise Malformed(f"{name} is missing")
    return value


def _time(data: Mapping[str, Any], name: str) -> datetime | None:
    value = data.get(name, "")
    if not isinstance(value, str):
        raise Malformed(f"{name} is not a string")
    try:
        return parse_iso(value) if value else None
    except (ValueError, OverflowError):
        raise Malformed(f"{name} is not an ISO-8601 time") from None


def _json_list(data: Mapping[str, Any], name: str) -> list[Any]:
    raw = data.get(name) or "[]"
    try:
        value = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        raise Malformed(f"{name} is not JSON") from None
    if not isinstance(value, list):
        raise Malformed(f"{name} is not a JSON list")
    return value


def clean(text: str) -> str:
    """Public text made safe to carry in JSON, HTML and XML alike (never trusted for markup: the
    renderers escape it)."""
    text = _SURROGATE.sub("\ufffd", _NOT_XML.sub("", text))
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "…"


def overall(incidents: list[PublicIncident]) -> str:
    """operational (nothing open), outage (an open incident of critical impact) or degraded."""
    open_ = [i for i in incidents if i.is_open]
    if not open_:
        return "operational"
    return "outage" if any(i.impact in OUTAGE_IMPACTS for i in open_) else "degraded"


def last_change(incidents: list[PublicIncident], now: datetime) -> datetime:
    """When what the page shows last changed: the newest update, or now when nothing is shown."""
    return max((i.updated_at for i in incidents), default=now)


def as_json(incidents: list[PublicIncident], now: datetime) -> dict[str, Any]:
    """The JSON answer of GET status: the overall status and each incident's public fields only."""
    return {
        "status": overall(incidents),
        "updated_at": iso(last_change(incidents, now)),
        "incidents": [{
            "id": i.public_id, "title": i.title, "phase": i.phase, "impact": i.impact,
            "services": list(i.services), "started_at": iso(i.started_at), "resolved_at": iso(i.resolved_at),
            "updated_at": iso(i.updated_at),
            "updates": [{"at": iso(u.at), "phase": u.phase, "title": u.title, "text": u.text} for u in i.updates],
        } for i in incidents],
    }
