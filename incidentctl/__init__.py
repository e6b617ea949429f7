"""incidentctl: the operator CLI for the incident-response HTTP API (`python -m incidentctl`)."""
