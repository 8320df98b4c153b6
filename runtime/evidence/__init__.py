"""Evidence of runs: record one run's envelope and events, package them, verify a package.
"""
