"""Benchmarks (``make bench``): measured, never asserted in timed tests. Results are JSON in results/."""
