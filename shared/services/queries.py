"""Read use cases: one incident with its timeline, the filtered, paged list, and the metrics of a window."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

from shared.domain.classification import SEVERITIES, norm_severity
from shared.domain.errors import InvalidInput
from shared.domain.incident import STATES, Incident
from shared.domain.timeutil import instant, iso
from shared.ports import RecordStore
from shared.services import escalation
from shared.storage import metrics_store, tokens
from shared.storage.repository import IncidentRepository

MAX_LIMIT = 200


def incident_view(inc: Incident, timeline: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The incident as the API shows it (contract: "An incident as JSON")."""
    view = {
        "id": inc.id, "title": inc.title, "severity": inc.severity, "state": inc.state, "phase": inc.phase,
        "created_at": iso(inc.created_at), "acknowledged_at": iso(inc.acknowledged_at),
        "resolved_at": iso(inc.resolved_at), "source": inc.source,
        "classification": {"impact": inc.classification.impact_text, "scope": inc.classification.scope_text,
                           "reason": inc.classification.reason},
        "security": inc.classification.security,
        "alert_ids": list(inc.alerts), "alert_count": inc.alert_count, "alerts_firing": inc.firing,
        "tenants": inc.tenants, "core_resources": inc.core_targets,
        "monitoring_since": iso(inc.monitoring_since),
        "escalation": escalation.view(inc), "sla": inc.sla,
        "remediations": [r.to_doc() for r in inc.remediations], "pir": inc.pir.to_dict() if inc.pir is not None else {},
        "silence": inc.silence, "diagnostics": inc.diagnostics, "transient": inc.transient,
        "breach": inc.breach or None, "communications": _comms_view(inc),
    }
    if timeline is not None:
        view["timeline"] = timeline
    return view


def _comms_view(inc: Incident) -> dict[str, Any]:
    """What was told: chat and ticket queued, customer drafts, external impact, the public status."""
    public = inc.comms.get("public") or {}
    return {"chat_at": inc.comms.get("chat"), "ticket_at": inc.comms.get("ticket"),
            "drafts_at": inc.comms.get("drafts"), "external": bool(inc.comms.get("external")),
            "public": {k: public.get(k) for k in ("phase", "title", "published_at", "next_update_due")}
            if public else None}


TIMELINE_PAGE = 200      # events per answer: an incident with thousands of notes stays a small answer
TIMELINE_MAX = 1000


def get_incident(incident_id: str, *, store: RecordStore, params: Mapping[str, str] | None = None
                 ) -> dict[str, Any]:
    """The incident with a page of its timeline (oldest first; `timeline_limit`, and
    `timeline_continuation` from the previous answer for the next page). Raises NotFound, InvalidInput."""
    params = params or {}
    try:
        limit = int(params.get("timeline_limit") or TIMELINE_PAGE)
    except ValueError as e:
        raise InvalidInput("timeline_limit", "must be an integer") from e
    if not 1 <= limit <= TIMELINE_MAX:
        raise InvalidInput("timeline_limit", f"must be between 1 and {TIMELINE_MAX}")
    repo = IncidentRepository(store)
    inc, _ = repo.load(incident_id)
    after = params.get("timeline_continuation") or None
    if after is not None and not (after.isascii() and after.isdigit()):  # "²".isdigit(), but int("²") fails
        raise InvalidInput("timeline_continuation", "is not a token from a previous page")
    events, cont = repo.timeline(incident_id, limit=limit, after=after)
    view = incident_view(inc, events)
    view["timeline_continuation"] = cont
    return view


def list_incidents(params: Mapping[str, str], *, store: RecordStore) -> dict[str, Any]:
    """Newest first. Filters status, severity, since; limit (1..200, default 50); continuation.
    Raises InvalidInput naming the query parameter."""
    status = params.get("status") or None
    if status is not None and status not in STATES:
        raise InvalidInput("status", f"must be one of {', '.join(STATES)}")
    severity = params.get("severity") or None
    if severity is not None:
        severity = norm_severity(severity)
        if severity is None:
            raise InvalidInput("severity", f"must be one of {', '.join(SEVERITIES)}")
    since = instant(params["since"], "since") if params.get("since") else None
    try:
        limit = int(params.get("limit") or 50)
    except ValueError as e:
        raise InvalidInput("limit", "must be an integer") from e
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput("limit", f"must be between 1 and {MAX_LIMIT}")
    after = params.get("continuation") or None
    if after is not None and not tokens.is_incident_list_token(after):
        raise InvalidInput("continuation", "is not a continuation token from a previous page")
    items, cont = IncidentRepository(store).list(status=status, severity=severity, since=since,
                                                 limit=limit, after=after)
    return {"incidents": [incident_view(i) for i in items], "continuation": cont}


def metrics(params: Mapping[str, str], now: datetime, *, store: RecordStore) -> dict[str, Any]:
    """MTTA, MTTR (p50, p90), SLA breaches and review debt per severity over the window of `params`
    (ISO-8601 since and until; by default the 30 days up to `now`): {since, until, by_severity}.
    Raises InvalidInput naming the parameter, StoreUnavailable."""
    since, until = metrics_store.window(params, now)
    return {"since": iso(since), "until": iso(until), "by_severity": metrics_store.summary(store, since, until)}
