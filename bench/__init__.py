"""Benchmarks of evalbot: `python -m bench [name ...] [--quick]` (what `make bench` runs).

Each benchmark is a function in its own module that returns a `bench.common.Result`;
`bench.__main__` runs them, prints a short summary and rewrites docs/benchmarks.md.
"""
