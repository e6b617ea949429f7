"""Fault injection: outages, failing receivers, racing workers and crashes between a claim and its effect."""
