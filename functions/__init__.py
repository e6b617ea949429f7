"""Triggers: thin shells that parse, call one use case and map the result."""
