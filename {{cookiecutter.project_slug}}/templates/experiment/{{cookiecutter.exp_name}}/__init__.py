"""Experiment {{ cookiecutter.exp_name }}."""
