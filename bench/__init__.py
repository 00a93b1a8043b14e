"""Benchmarks (scripts, not tests). Run `python -m bench <name> --help`."""
