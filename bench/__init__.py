"""Benchmarks of the incident-response app against a real (local) Azurite: `make bench`."""
