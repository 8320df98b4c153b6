"""Modal, exactly as Modal runs it (docker lane): the pinned image runs Modal's own container
entrypoint against the one fake Modal server.

Each bundled processor is built, pushed and pinned into the local registry, deployed through the
SDK to a fake whose worker is ``docker``: every input starts the pinned image (``network=none``)
with the task's socket, the artifacts volume and the modal client (``/pkg``, read-only) mounted,
and ``python -m modal._container_entrypoint`` imports ``runtime.modal.app.modal_function`` by
module and qualname from the image itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runtime.modal.target import ModalTarget
from runtime.testing.fake_server import FakeModalServer
from tests.helpers import ROOT
from tests.modal_support import SECRETS

pytestmark = [pytest.mark.requires_docker, pytest.mark.modal]


def _registry_refs() -> list[str]:
    """What the committed registry lists (the bundled processors), latest version of each."""
    from runtime.registry.load import Registry

    return sorted(str(ref) for ref in Registry.load(ROOT).refs())


def _golden_inputs(root: Path, ref: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The first golden fixture of ``ref`` that must succeed: its inputs and expected hashes."""
    from runtime.authoring.golden import discover_fixtures

    for fixture in discover_fixtures(root, ref):
        if fixture.kind == "outputs" and fixture.outputs is not None:
            return fixture.inputs, fixture.outputs
    pytest.fail(f"{ref} has no golden fixture that succeeds")


@pytest.fixture(scope="module")
def docker_modal(docker_infra: dict[str, Any],
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, FakeModalServer]]:
    """Every registry ref released (build → push → pin) and deployed to a docker-worker fake."""
    from runtime.modal.ops import deploy_modal
    from tests.dockerlane import make_project, release

    root = make_project(tmp_path_factory.mktemp("modal-docker"), docker_infra["base"])
    for ref in _registry_refs():
        release(root, ref)
    server = FakeModalServer(tmp_path_factory.mktemp("fake-modal"), source_root=root,
                             worker="docker").start()
    try:
        for name in SECRETS:
            server.state.create_secret(name, {name: "unused-in-mock"}, environment_name="dev")
        with pytest.MonkeyPatch.context() as patch:
            for key, value in server.environ().items():
                patch.setenv(key, value)
            for ref in _registry_refs():
                deploy_modal(ModalTarget(ref, "dev"), root=root)
        yield root, server
    finally:
        server.close()


@pytest.fixture
def modal_env(docker_modal: tuple[Path, FakeModalServer],
              monkeypatch: pytest.MonkeyPatch) -> tuple[Path, FakeModalServer]:
    root, server = docker_modal
    for key, value in server.environ().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PROCESSOR_RUNTIME_ROOT", str(root))
    return root, server


@pytest.mark.parametrize("ref", _registry_refs())
def test_the_pinned_image_runs_modals_entrypoint_with_the_local_output_hashes(
        ref: str, modal_env: tuple[Path, FakeModalServer], tmp_path: Path) -> None:
    from runtime.runner import run_processor
    from tests.dockerlane import managed_containers

    root, server = modal_env
    inputs, golden = _golden_inputs(root, ref)
    tasks_before = set(server.servicer.tasks)
    local = run_processor(ref, inputs=inputs, artifacts_root=tmp_path / "local", root=root)
    remote = run_processor(ref, inputs=inputs, adapter="modal", artifacts_root=tmp_path / "modal",
                           root=root)
    hashes = {item.path: item.sha256 for item in remote.outputs}
    assert hashes == {item.path: item.sha256 for item in local.outputs} == golden
    # It ran in a container of its own, through Modal's container protocol, and is gone.
    new = [task for task_id, task in server.servicer.tasks.items() if task_id not in tasks_before]
    assert len(new) == 1
    assert new[0].rpcs[:1] == ["ContainerHello"]
    assert {"FunctionGetInputs", "FunctionPutOutputs", "VolumeCommit"} <= set(new[0].rpcs)
    assert new[0].function_def.module_name == "runtime.modal.app"
    assert new[0].function_def.implementation_name == "modal_function"
    assert managed_containers() == []


def test_the_function_fails_canonically_when_the_image_lacks_a_module_it_imports(
        docker_infra: dict[str, Any], modal_env: tuple[Path, FakeModalServer],
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # An image built from a content list without runtime/modal/naming.py (which
    # runtime.modal.app imports at module level): Modal's entrypoint cannot import the deployed
    # function, the task reports it (TaskResult) and the run fails with a canonical error, not
    # a success and not a hang.
    from runtime.errors import ModalInvocationError
    from runtime.images import content
    from runtime.modal.ops import deploy_modal
    from runtime.runner import run_processor
    from tests.dockerlane import add_processor, make_project, managed_containers, release

    _, server = modal_env
    project = make_project(tmp_path / "project", docker_infra["base"])
    ref = add_processor(project, "probe", "noimport", (ROOT / "processors" / "demo" / "echo" /
                                                       "main.py").read_text())
    monkeypatch.setattr(content, "IMAGE_TOP_FILES", tuple(
        path for path in content.IMAGE_TOP_FILES if path != "runtime/modal/naming.py"))
    release(project, ref)
    monkeypatch.undo()
    for key, value in server.environ().items():
        monkeypatch.setenv(key, value)
    deploy_modal(ModalTarget(ref, "dev"), root=project)
    with pytest.raises(ModalInvocationError) as failed:
        run_processor(ref, inputs={"message": "x"}, adapter="modal",
                      artifacts_root=tmp_path / "art", root=project)
    assert "No module named 'runtime.modal.naming'" in failed.value.message
    assert managed_containers() == []
    task = list(server.servicer.tasks.values())[-1]
    assert "TaskResult" in task.rpcs
    assert "FunctionGetInputs" not in task.rpcs


def test_every_golden_fixture_replays_in_the_pinned_image_through_modal(
        modal_env: tuple[Path, FakeModalServer]) -> None:
    # The Modal smoke in the docker lane: every golden fixture (outputs and expected errors)
    # of every registered processor, through Modal's entrypoint in the pinned image.
    from runtime.authoring.golden import run_golden

    root, server = modal_env
    tasks_before = len(server.servicer.tasks)
    report = run_golden(root, adapter="modal")
    assert report.ok, report.to_text()
    assert len(server.servicer.tasks) > tasks_before  # (inputs the runner refuses never reach it)
