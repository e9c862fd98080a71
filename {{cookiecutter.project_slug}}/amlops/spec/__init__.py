"""Readers and checkers of every Azure ML file kind (jobs, components, environments, endpoints)."""
