"""Benchmarks: ratios against a baseline measured in the same process, printed as a table."""
