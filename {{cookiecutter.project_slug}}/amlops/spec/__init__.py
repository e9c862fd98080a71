"""Readers and checkers of every Azure ML file kind (jobs, pipelines, endpoints, parallel...)."""
