"""The docker adapter reads a finished container's two streams from one ``logs`` request and
splits the Engine API's frames itself: against the real engine, every byte reaches its stream."""

from __future__ import annotations

from typing import Any

import pytest

from runtime.adapters.docker import MANAGED_LABEL, _read_logs

pytestmark = pytest.mark.requires_docker

# Interleaved writes, and a stdout line larger than the engine's frames. ASCII: the json-file log
# driver cuts long lines at 16 KiB and replaces what is no UTF-8 (a character cut in two
# included) with U+FFFD, for docker-py's own ``logs`` too.
_WRITER = r"""
import sys
out, err = sys.stdout.buffer, sys.stderr.buffer
for i in range(200):
    out.write(b"out %d\n" % i); out.flush()
    err.write(b"err %d\n" % i); err.flush()
out.write(b"0123456789" * 20000 + b"\n"); out.flush()
err.write(b"last\n")
"""


def _expected() -> tuple[bytes, bytes]:
    out = b"".join(b"out %d\n" % i for i in range(200)) + b"0123456789" * 20000 + b"\n"
    err = b"".join(b"err %d\n" % i for i in range(200)) + b"last\n"
    return out, err


def test_both_streams_arrive_whole_and_apart(docker_infra: dict[str, Any]) -> None:
    from runtime.images.engine import engine_session

    with engine_session() as client:
        created = client.api.create_container(
            image=docker_infra["base"]["image_id"], command=["python3", "-c", _WRITER],
            labels={MANAGED_LABEL: "1"}, host_config=client.api.create_host_config(
                network_mode="none"))
        container_id = created["Id"]
        try:
            client.api.start(container_id)
            assert client.api.wait(container_id, timeout=60)["StatusCode"] == 0
            out: list[bytes] = []
            err: list[bytes] = []
            _read_logs(client, container_id, out.append, err.append)
        finally:
            client.api.remove_container(container_id, force=True)
    assert (b"".join(out), b"".join(err)) == _expected()
    assert max(map(len, out)) <= 64 * 1024  # handed on in bounded pieces


def test_logs_of_a_container_that_is_gone_is_the_engine_s_not_found(
        docker_infra: dict[str, Any]) -> None:
    import docker.errors

    from runtime.images.engine import engine_session

    with engine_session() as client, pytest.raises(docker.errors.NotFound):
        _read_logs(client, "0" * 64, lambda _: None, lambda _: None)
