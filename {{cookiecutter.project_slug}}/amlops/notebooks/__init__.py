"""`make notebooks`: executing notebooks in an experiment's environment."""
