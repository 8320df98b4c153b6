"""Contract-lane fixtures: a CLI environment pointed at the fixture project root."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import CliResult, cli_env, run_cli

RunFixture = Callable[..., CliResult]


@pytest.fixture
def fixture_env(fixture_root: Path) -> dict[str, str]:
    """``cli_env`` with ``PROCESSOR_RUNTIME_ROOT`` at the fixture registry."""
    return cli_env(PROCESSOR_RUNTIME_ROOT=str(fixture_root))


@pytest.fixture
def run_fixture(fixture_env: dict[str, str], tmp_path: Path) -> RunFixture:
    """Run ``inv run-processor --json`` for a fixture ref with artifacts under ``tmp_path``."""

    def run(ref: str, *args: str, env: dict[str, str] | None = None) -> CliResult:
        return run_cli("run-processor", "--ref", ref, "--json", "--artifacts-root",
                       str(tmp_path / "artifacts"), *args, env=env or fixture_env)

    return run
