"""Prefect flows that orchestrate regsim sweeps."""
