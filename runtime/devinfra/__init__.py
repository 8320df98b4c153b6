"""Local development infrastructure: a private dockerd and an OCI registry on 127.0.0.1.

Used by tasks and tests on this machine; nothing on the run path depends on it.
"""
