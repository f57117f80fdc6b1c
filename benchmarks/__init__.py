"""Reproducible benchmarks: each prints its figures and writes JSON under benchmarks/results/."""
