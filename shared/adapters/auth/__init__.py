"""Caller identity adapters: one backend per file (Entra ID access tokens)."""
