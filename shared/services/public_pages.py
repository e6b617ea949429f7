"""The public status page as HTML (Jinja2, autoescaped) and as an Atom feed (RFC 4287, ElementTree).

Both render PublicIncidents (shared/services/public_status.py): only what was published. Text is
escaped by the renderers (Jinja2 autoescape, ElementTree), never trusted as markup.
"""
from __future__ import annotations

import functools
import uuid
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path
from typing import Any

from shared.domain.timeutil import iso
from shared.services.public_status import PublicIncident, PublicUpdate, last_change, overall

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "public"
ATOM = "http://www.w3.org/2005/Atom"
FEED_ENTRIES = 100           # the newest updates in the feed; readers keep what they have seen
PAGE_TITLE = "Service status"
PHASES = {"investigating": "Investigating", "identified": "Identified", "monitoring": "Monitoring",
          "resolved": "Resolved"}
IMPACTS = {"none": "No impact", "minor": "Minor impact", "major": "Major impact", "critical": "Critical impact"}
OVERALL = {"operational": "All systems operational", "degraded": "Some services are degraded",
           "outage": "Major outage"}


@functools.cache
def _environment() -> Any:
    """Built on the first page, not at import (cold start)."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                       trim_blocks=True, lstrip_blocks=True)


def phase_label(phase: str) -> str:
    return PHASES.get(phase, phase.capitalize())


def _time(t: datetime) -> dict[str, str]:
    return {"iso": iso(t) or "", "text": t.strftime("%d %b %Y, %H:%M UTC")}


def _view(inc: PublicIncident) -> dict[str, Any]:
    return {"id": inc.public_id, "title": inc.title, "phase": inc.phase, "phase_label": phase_label(inc.phase),
            "impact_label": IMPACTS.get(inc.impact, inc.impact.capitalize()), "services": list(inc.services),
            "started": _time(inc.started_at), "resolved": _time(inc.resolved_at) if inc.resolved_at else None,
            "updates": [{"phase": u.phase, "phase_label": phase_label(u.phase), "at": _time(u.at), "text": u.text}
                        for u in inc.updates]}


def render_html(incidents: list[PublicIncident], now: datetime, *, feed_url: str, days: int = 14) -> str:
    """The status page: current incidents (or "All systems operational"), then those resolved within
    `days`, each with its updates newest first. No script; the phase is always written out in words."""
    status = overall(incidents)
    return str(_environment().get_template("status.html").render(
        page_title=PAGE_TITLE, status=status, status_label=OVERALL[status], feed_url=feed_url, days=days,
        current=[_view(i) for i in incidents if i.is_open],
        recent=[_view(i) for i in incidents if not i.is_open],
        updated=_time(last_change(incidents, now))))


def _entries(incidents: list[PublicIncident]) -> list[tuple[PublicIncident, PublicUpdate]]:
    """Every update of every incident, newest first; an incident published without updates stands
    as one entry of its current phase."""
    pairs = [(i, u) for i in incidents
             for u in (i.updates or (PublicUpdate(at=i.updated_at, phase=i.phase, title=i.title, text=""),))]
    pairs.sort(key=lambda p: p[1].at, reverse=True)
    return pairs[:FEED_ENTRIES]


def _add(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)  # in the Atom namespace, declared once on <feed>
    element.text = text
    return element


def render_atom(incidents: list[PublicIncident], now: datetime, *, self_url: str, html_url: str) -> bytes:
    """The Atom feed (RFC 4287): one entry per public update. Ids are urn:uuid (UUIDv5) derived from
    the feed's URL, the incident's opaque public id and the update, so they are stable across reads."""
    feed = ET.Element("feed", xmlns=ATOM)
    feed_id = uuid.uuid5(uuid.NAMESPACE_URL, self_url)
    _add(feed, "id", feed_id.urn)
    _add(feed, "title", PAGE_TITLE, type="text")
    _add(feed, "updated", iso(last_change(incidents, now)))
    _add(feed, "link", rel="self", type="application/atom+xml", href=self_url)
    _add(feed, "link", rel="alternate", type="text/html", href=html_url)
    _add(_add(feed, "author"), "name", PAGE_TITLE)
    for inc, update in _entries(incidents):
        entry = _add(feed, "entry")
        name = f"{inc.public_id}|{iso(update.at)}|{update.phase}|{update.text}"
        _add(entry, "id", uuid.uuid5(feed_id, name).urn)
        _add(entry, "title", f"{inc.title} — {phase_label(update.phase)}", type="text")
        _add(entry, "updated", iso(update.at))
        _add(entry, "link", rel="alternate", type="text/html", href=f"{html_url}#incident-{inc.public_id}")
        for service in inc.services:
            _add(entry, "category", term=service)
        _add(entry, "content", update.text or phase_label(update.phase), type="text")
    return bytes(ET.tostring(feed, encoding="utf-8", xml_declaration=True))
