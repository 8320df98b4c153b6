"""The Engine API's log frames as the docker adapter splits them (the real engine's side is in
tests/integration/test_docker_logs.py): short reads, a frame cut by EOF, a stream id we do not
know, and an HTTP error become what they must."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
import requests

from runtime.adapters.docker import _read_logs


def _frame(stream: int, data: bytes) -> bytes:
    return bytes([stream, 0, 0, 0]) + len(data).to_bytes(4, "big") + data


class _Trickle(io.BytesIO):
    """A body that returns at most 3 bytes per read, as a slow socket may."""

    def read(self, size: int | None = -1) -> bytes:
        return super().read(min(3, size) if size is not None and size >= 0 else 3)


class _Response:
    def __init__(self, body: bytes, status: int = 200) -> None:
        self.raw = _Trickle(body)
        self.body = body
        self.status_code = status
        self.closed = False

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise requests.exceptions.HTTPError(f"{self.status_code} Client Error",
                                                response=self)

    def json(self) -> Any:
        return json.loads(self.body)

    def close(self) -> None:
        self.closed = True


class _Api:
    base_url, api_version, timeout = "http+docker://localhost", "1.43", 60

    def __init__(self, response: _Response) -> None:
        self.response = response
        self.asked: list[tuple[str, dict[str, Any]]] = []

    def get(self, url: str, **kwargs: Any) -> _Response:
        self.asked.append((url, kwargs))
        return self.response


class _Client:
    def __init__(self, response: _Response) -> None:
        self.api = _Api(response)


def _read(body: bytes) -> tuple[bytes, bytes, _Client]:
    client = _Client(_Response(body))
    out: list[bytes] = []
    err: list[bytes] = []
    _read_logs(client, "abc", out.append, err.append)
    return b"".join(out), b"".join(err), client


def test_frames_go_to_their_stream_whatever_the_read_sizes() -> None:
    body = _frame(1, b"hello ") + _frame(2, b"log line\n") + _frame(1, b"world\n")
    out, err, client = _read(body)
    assert (out, err) == (b"hello world\n", b"log line\n")
    url, kwargs = client.api.asked[0]
    assert url == "http+docker://localhost/v1.43/containers/abc/logs"
    assert kwargs["params"]["stdout"] == kwargs["params"]["stderr"] == 1
    assert kwargs["params"]["follow"] == 0
    assert client.api.response.closed


def test_a_frame_cut_by_the_end_of_the_body_keeps_what_arrived() -> None:
    out, err, _ = _read(_frame(1, b"whole\n") + _frame(2, b"cut short")[:-4])
    assert (out, err) == (b"whole\n", b"cut s")


def test_a_header_cut_by_the_end_of_the_body_ends_the_read() -> None:
    out, err, _ = _read(_frame(1, b"one\n") + b"\x02\x00\x00")
    assert (out, err) == (b"one\n", b"")


def test_a_stream_id_other_than_stdout_and_stderr_is_dropped() -> None:
    out, err, _ = _read(_frame(0, b"stdin?") + _frame(3, b"system") + _frame(1, b"ok\n"))
    assert (out, err) == (b"ok\n", b"")


def test_an_http_error_is_the_engine_s_api_error_and_the_response_is_closed() -> None:
    import docker.errors

    response = _Response(b'{"message": "No such container: abc"}', status=404)
    client = _Client(response)
    with pytest.raises(docker.errors.NotFound):
        _read_logs(client, "abc", lambda _: None, lambda _: None)
    assert response.closed
