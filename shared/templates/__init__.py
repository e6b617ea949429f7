"""The runbook's communication templates (section 3 step 1, section 5), rendered from an incident."""
from __future__ import annotations

from shared.domain.incident import Incident


def initial_assessment(inc: Incident, diagnostics: list[str]) -> str:
    """Runbook section 3, step 1: the initial assessment, with the diagnostics of step 2."""
    c = inc.classification
    lead = inc.escalation.get("paged", {}).get("primary", {}).get("person", "tbd")
    head = (f"INCIDENT: {inc.title}\nSEVERITY: {inc.severity}\nIMPACT: {c.get('impact')} ({c.get('scope')})\n"
            f"STATUS: Investigating\nLEAD: {lead}")
    return head + ("\n\nDiagnostics:\n" + "\n".join(diagnostics) if diagnostics else "")
