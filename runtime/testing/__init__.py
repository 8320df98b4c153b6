"""Test seams shipped with the package, like ``httpx.MockTransport`` and ``structlog.testing``.

The fake Modal server lives here: it speaks the real Modal gRPC protocol on a unix socket, so the
real ``modal`` SDK runs unchanged against it.
"""
