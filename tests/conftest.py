"""Lane markers applied by folder, the hermetic guard of the PR lanes, the docker fixtures.

Folder = lane = marker (SPEC §14). In the PR lanes (unit, integration, contracts, acceptance/pr,
property) every test runs with sockets disabled (unix sockets stay allowed for local IPC).
Exception: a PR-lane test marked ``requires_docker`` talks to the local engine (a unix socket)
and the local registry, which is TCP on 127.0.0.1 — so for those tests connections are allowed
to 127.0.0.1 only (``pytest_socket.socket_allow_hosts``); every other host still raises. The same
holds for tests marked ``modal``: the fake Modal server serves volume blocks on 127.0.0.1.

Docker fixtures (session): :func:`docker_infra` reuses or starts the engine + registry with
``runtime.devinfra.services.up()`` and builds the base image; it stops only what it started itself, and at
session end it fails the run if any container created by the runtime was left behind.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_socket

TESTS_ROOT = Path(__file__).resolve().parent
LANES = {
    "unit": "unit",
    "integration": "integration",
    "contracts": "contracts",
    "acceptance/pr": "acceptance_pr",
    "acceptance/pinned": "acceptance_pinned",
    "property": "property",
    "smoke": "smoke",
}
HERMETIC_LANES = {"unit", "integration", "contracts", "acceptance_pr", "property"}


def pytest_addoption(parser: pytest.Parser) -> None:
    """Smoke-lane targets: which adapter/env/project the post-deploy checks run against."""
    group = parser.getgroup("smoke", "post-deploy smoke lane (tests/smoke)")
    group.addoption("--smoke-adapter", default="local", help="adapter the smoke runs use")
    group.addoption("--smoke-env", default="dev", help="env (dev|staging|main) of the smoke runs")
    group.addoption("--smoke-root", default="", help="project root to smoke (default: checkout)")
    group.addoption("--smoke-ref", default="", help="smoke only this ref's fixtures")
    group.addoption("--smoke-branch", default="", help="env=dev: the branch in the app name")
    group.addoption("--smoke-user", default="", help="env=dev: the user in the app name")


def lane_of(path: Path) -> str | None:
    """The lane marker for a test file, from its folder under ``tests/``."""
    rel = path.resolve().relative_to(TESTS_ROOT).as_posix()
    for folder in sorted(LANES, key=len, reverse=True):
        if rel.startswith(folder + "/"):
            return LANES[folder]
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        lane = lane_of(Path(str(item.fspath)))
        if lane is None:
            continue
        item.add_marker(getattr(pytest.mark, lane))
        if lane in HERMETIC_LANES:
            item.add_marker(pytest.mark.hermetic)


@pytest.fixture(autouse=True)
def _hermetic_guard(request: pytest.FixtureRequest) -> Iterator[None]:
    """Disable network sockets for hermetic tests; a connect attempt raises at once."""
    if request.node.get_closest_marker("hermetic") is None:
        yield
        return
    if (request.node.get_closest_marker("requires_docker") is not None
            or request.node.get_closest_marker("modal") is not None):
        # Engine on a unix socket, registry on 127.0.0.1; the fake Modal server's blob store
        # (volume reads) on 127.0.0.1: loopback only, nothing else.
        pytest_socket.socket_allow_hosts(["127.0.0.1"], allow_unix_socket=True)
        try:
            yield
        finally:
            pytest_socket._remove_restrictions()
        return
    pytest_socket.disable_socket(allow_unix_socket=True)
    try:
        yield
    finally:
        pytest_socket.enable_socket()


@pytest.fixture(scope="session")
def fixture_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project root whose registry lists the fixture processors (and the bundled ones)."""
    from tests.fixtures.project import build_fixture_root

    return build_fixture_root(tmp_path_factory.mktemp("fixture-root"))


DOCKER_BINARIES = ("dockerd", "docker-registry", "mmdebstrap")


@pytest.fixture(scope="session")
def docker_infra() -> Iterator[dict[str, Any]]:
    """The local engine + registry + base image; skips (fails with ``CI=true``) without docker."""
    from runtime.adapters.docker import sweep_containers
    from runtime.devinfra import services as infra
    from runtime.guards import ci_enabled
    from runtime.images.base import build_base_image
    from runtime.images.engine import engine_session

    try:
        for binary in DOCKER_BINARIES:
            infra.require_binary(binary)
    except infra.InfraError as exc:
        if ci_enabled():
            pytest.fail(f"CI=true needs the docker lanes: {exc}")
        pytest.skip(f"docker tests skipped: {exc}")
    before = infra.status()
    already_up = before.engine_reachable and before.registry_healthy
    status = infra.up()
    with engine_session() as client:
        base = build_base_image(client=client)
    yield {"status": status, "base": base}
    leftovers = sweep_containers()
    if not already_up:
        infra.down()
    assert not leftovers, f"containers left behind by the tests: {leftovers}"


@pytest.fixture
def project_root() -> Path:
    """The checkout under test."""
    return TESTS_ROOT.parent


@pytest.fixture(autouse=True)
def _no_ambient_secret_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests opt into ambient secrets explicitly; a developer's shell must not leak in."""
    monkeypatch.delenv("ALLOW_ENV_SECRETS", raising=False)
    if os.environ.get("PROCESSOR_RUNTIME_ROOT"):
        monkeypatch.delenv("PROCESSOR_RUNTIME_ROOT")




@pytest.fixture(scope="session")
def released_project(docker_infra: dict[str, Any],
                     tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A temporary project whose bundled processors are built, pushed and pinned (verified).

    The committed registry YAML is checked byte-identical at the end of the session.
    """
    from tests.dockerlane import REGISTRY_YAML, make_project, release
    from tests.helpers import BUNDLED_REFS

    committed = (TESTS_ROOT.parent / REGISTRY_YAML).read_bytes()
    root = make_project(tmp_path_factory.mktemp("released"), docker_infra["base"])
    releases = {ref: release(root, ref) for ref in BUNDLED_REFS}
    yield {"root": root, "releases": releases}
    assert (TESTS_ROOT.parent / REGISTRY_YAML).read_bytes() == committed, \
        "the committed registry/processors.yaml was modified by the tests"
