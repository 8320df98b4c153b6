"""engine_client takes the API version from the engine's ``/_ping`` headers (no ``/version``)."""

from types import SimpleNamespace

import pytest

from runtime.images.engine import _ping_api_version


class _Response:
    def __init__(self, status: int, headers: dict[str, str]) -> None:
        self.status = status
        self.headers = headers

    def raise_for_status(self) -> None:
        if self.status >= 400:
            raise RuntimeError(f"HTTP {self.status}")


def _fake_docker(response: _Response, seen: list[str]) -> SimpleNamespace:
    class APIClient:
        base_url = "http+docker://localhost"

        def __init__(self, base_url: str, version: str, timeout: int) -> None:
            self.trust_env = True

        def get(self, url: str, timeout: float) -> _Response:
            seen.append(url)
            return response

        def close(self) -> None:
            seen.append("closed")

    return SimpleNamespace(APIClient=APIClient,
                           constants=SimpleNamespace(MINIMUM_DOCKER_API_VERSION="1.24"))


def test_api_version_comes_from_the_ping_header():
    seen: list[str] = []
    docker = _fake_docker(_Response(200, {"Api-Version": "1.41"}), seen)
    assert _ping_api_version(docker, "unix:///x.sock", 5) == "1.41"
    assert seen == ["http+docker://localhost/_ping", "closed"]


def test_api_version_falls_back_to_auto_without_the_header():
    docker = _fake_docker(_Response(200, {}), [])
    assert _ping_api_version(docker, "unix:///x.sock", 5) == "auto"


def test_failed_ping_raises_and_closes_the_probe():
    seen: list[str] = []
    docker = _fake_docker(_Response(500, {}), seen)
    with pytest.raises(RuntimeError):
        _ping_api_version(docker, "unix:///x.sock", 5)
    assert seen[-1] == "closed"
