"""Integrator tooling above the pipeline: running a mapping file's own test cases, explaining a conversion."""
