"""Adapters: one backend per file, each implementing a port of shared/ports/."""
