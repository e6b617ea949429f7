"""The runbook's communication templates, rendered for an incident: for the messages the app sends, and
for responders who read a draft (GET incidents/{id}/communications/{template})."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

from shared.domain.communication import Rendered, context
from shared.domain.errors import InvalidInput, NotFound
from shared.domain.incident import Incident
from shared.domain.policy import Runbook
from shared.ports import Clock, RecordStore
from shared.storage.repository import IncidentRepository

# What a responder may read through the route: the runbook's own texts (section 3 step 1, section 5).
# The chat updates are the app's own messages, rendered when it sends them.
READABLE = ("slack-initial", "status-investigating", "status-identified", "status-monitoring", "status-resolved",
            "customer-email")
# The responder's words a draft may carry, from the query string (e.g. ?message=...&estimate=1%20hour).
WORDS = ("message", "estimate", "workaround")
MAX_WORDS = 2000


def render(inc: Incident, name: str, runbook: Runbook, now: datetime, *, core: Mapping[str, str] | None = None,
           **extra: Any) -> Rendered:
    """Template `name` for `inc` (the runbook's loaded templates, else the shipped ones). Raises NotFound
    (no such template), PolicyError (the template failed), TypeError (an extra no template knows)."""
    from shared.templates import shipped  # Jinja2 is imported when a message is first rendered
    templates = runbook.templates if runbook.templates is not None else shipped()
    return templates.render(name, context(inc, runbook.comms, now, core=core or {}, **extra))


def communication(incident_id: str, template: str, *, store: RecordStore, clock: Clock, runbook: Runbook,
                  core: Mapping[str, str], params: Mapping[str, str] | None = None) -> dict[str, Any]:
    """One of the runbook's texts for an incident, as a draft to read: {template, subject, text}.
    customer-email addresses the first affected tenant's customer (runbook [customers]), or "Customer".
    `params` may carry the responder's words (message, estimate, workaround). Raises NotFound (unknown
    template or incident), InvalidInput (a word over MAX_WORDS characters)."""
    if template not in READABLE:
        raise NotFound(f"no communication template {template!r}; known: {', '.join(READABLE)}")
    words = {k: v.strip() for k, v in (params or {}).items() if k in WORDS}
    for k, v in words.items():
        if len(v) > MAX_WORDS:
            raise InvalidInput(k, f"must be at most {MAX_WORDS} characters")
    inc, _ = IncidentRepository(store).load(incident_id)
    out = render(inc, template, runbook, clock.now(), core=core, **words)
    return {"template": out.template, "subject": out.subject, "text": out.text}
