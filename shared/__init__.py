"""The incident-response app's own package: domain core, use cases, ports and adapters."""
