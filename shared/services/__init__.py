"""Use cases as plain functions with named dependencies."""
