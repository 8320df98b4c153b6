"""Lane markers applied by folder, and the hermetic guard of the PR lanes.

Folder = lane = marker (SPEC §14). In the PR lanes (unit, integration, contracts, acceptance/pr,
property) every test runs with sockets disabled (unix sockets stay allowed for local IPC).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

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
