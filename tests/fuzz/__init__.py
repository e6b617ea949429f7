"""Hostile input: no request is ever answered with a 5xx (issue 8.5)."""
