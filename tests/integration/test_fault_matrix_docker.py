"""The fault matrix (SPEC §16) for the ``docker`` adapter, and the ``modal`` column as Modal runs
it, on the real engine.

Every fixture processor (and the bundled ones) is built once per session into the local registry
and pinned (verified) in a temporary project root: the fixtures share one folder, so their
images differ only in labels and the builds after the first are cache hits. The cases and
invariants are those of the hermetic matrix (``tests/faults.py``); "nothing left behind" is the
label sweep here.

The modal column deploys the same pinned images to the one fake Modal server with its ``docker``
worker: every case runs in the pinned image under Modal's own container entrypoint, and must
settle with the same error code and exit code as through the local adapter (the case's one
expectation).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.faults import CASES, FaultCase, cases_on_fake_modal, exercise
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


@pytest.fixture(scope="module")
def docker_fake_modal(fault_images: Path,
                      tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Every case's pinned image deployed (dev) to the fake Modal server with its docker worker;
    yields the SDK settings that point a CLI at it."""
    with cases_on_fake_modal(tmp_path_factory.mktemp("fake-modal"), fault_images,
                             worker="docker") as environ:
        yield environ


def _params() -> list[object]:
    """Every adapter x case (``docker``, and ``modal`` in the pinned images), as a list."""
    return [pytest.param(adapter, case, id=f"{adapter}-{case.name}",
                         marks=[pytest.mark.modal] if adapter == "modal" else [])
            for adapter in ("docker", "modal") for case in CASES]


@pytest.mark.parametrize(("adapter", "case"), _params())
def test_fault_case_settles_cleanly(adapter: str, case: FaultCase, fault_images: Path,
                                    request: pytest.FixtureRequest, tmp_path: Path) -> None:
    env = cli_env(PROCESSOR_RUNTIME_ROOT=str(fault_images))
    if adapter == "modal":
        env.update(request.getfixturevalue("docker_fake_modal"))
    exercise(case, adapter, root=fault_images, env=env, workdir=tmp_path,
             leftovers=_no_containers)
