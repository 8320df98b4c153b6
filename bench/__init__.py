"""Benchmarks: every execution path measured against its floor, as ratios, in one run."""
