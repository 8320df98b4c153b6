"""The fault matrix (SPEC §16) for the ``docker`` adapter, on the real engine.

Every fixture processor (and the bundled ones) is built once per session into the local registry
and pinned (verified) in a temporary project root: the fixtures share one folder, so their
images differ only in labels and the builds after the first are cache hits. The cases and
invariants are those of the hermetic matrix (``tests/faults.py``); "nothing left behind" is the
label sweep here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.faults import CASES, FaultCase, exercise
from tests.helpers import cli_env

pytestmark = pytest.mark.requires_docker


@pytest.fixture(scope="module")
def fault_images(docker_infra: dict[str, Any],
                 tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A temp project root with every case's ref built, pushed and pinned."""
    from runtime.registry.edit import set_base_image
    from tests.dockerlane import REGISTRY_YAML, release
    from tests.fixtures.project import build_fixture_root

    root = build_fixture_root(tmp_path_factory.mktemp("fault-docker"), shared_folder=True)
    base = docker_infra["base"]
    set_base_image(root / REGISTRY_YAML, repository=base["repository"], digest=base["digest"])
    for ref in sorted({case.ref for case in CASES}):
        release(root, ref)
    return root


def _no_containers(_ref: str) -> list[str]:
    from tests.dockerlane import managed_containers

    return managed_containers()


@pytest.mark.parametrize("case", [pytest.param(case, id=f"docker-{case.name}") for case in CASES])
def test_fault_case_settles_cleanly(case: FaultCase, fault_images: Path, tmp_path: Path) -> None:
    env = cli_env(PROCESSOR_RUNTIME_ROOT=str(fault_images))
    exercise(case, "docker", root=fault_images, env=env, workdir=tmp_path,
             leftovers=_no_containers)
