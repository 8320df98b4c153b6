"""The release drill with real images: the local registry stands in for the remote one and the
one fake Modal server keeps what was deployed (the SDK reaches it through its own settings).

deploy pin A → drift clean → re-pin B (not deployed) → ERR_REGISTRY_MISMATCH naming both → deploy
→ clean → roll back to A the documented way (``pin-processor --rollback``) → mismatch → deploy →
clean. A loopback pin can never be a staging/main pin (Modal cannot pull it; that refusal is
tested in tests/integration/test_release_gates.py), so the drill deploys the dev app from the
pin; drift and rollback are the same code in every env. Then the dev flow end to end: build →
push → deploy the dev app → smoke (mock) → one real run with CI unset.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runtime.errors import RegistryMismatchError
from runtime.images.build import pin_processor
from runtime.modal.ops import deploy_modal, dev_build_push_deploy, drift_modal
from runtime.modal.target import ModalTarget
from runtime.runner import run_processor
from runtime.testing.fake_server import FakeModalServer
from tests.dockerlane import make_project, release
from tests.modal_support import start_fake_modal

pytestmark = [pytest.mark.requires_docker, pytest.mark.modal]

REF = "demo/echo@1"


def _git(repo: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
           "GIT_CONFIG_GLOBAL": "/dev/null"}
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


@pytest.fixture
def project(docker_infra: dict[str, Any], tmp_path: Path) -> Path:
    root = make_project(tmp_path / "project", docker_infra["base"])
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "base")
    return root


@pytest.fixture
def server(project: Path, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeModalServer]:
    """The one fake Modal server, which this process's SDK talks to (closed afterwards)."""
    started = start_fake_modal(tmp_path / "fake-modal", project, secrets=())
    for key, value in started.environ().items():
        monkeypatch.setenv(key, value)
    yield started
    started.close()


def _clean(root: Path) -> dict[str, Any]:
    result = drift_modal(ModalTarget(REF, "dev"), root=root)
    assert result["status"] == "clean"
    return result["apps"][0]


def _drifted(root: Path) -> RegistryMismatchError:
    with pytest.raises(RegistryMismatchError) as caught:
        drift_modal(ModalTarget(REF, "dev"), root=root)
    return caught.value


def test_deploy_drift_re_pin_deploy_and_roll_back(project: Path,
                                                  server: FakeModalServer) -> None:
    first = release(project, REF)
    _git(project, "commit", "-q", "-am", "pin A")
    deploy_modal(ModalTarget(REF, "dev"), root=project)
    assert _clean(project)["deployed"] == first.pin.digest

    main = project / "processors" / "demo" / "echo" / "main.py"
    main.write_text(main.read_text() + "\n# B: a second build\n")
    second = release(project, REF)  # re-pinned (the merged pin PR), not deployed yet
    _git(project, "commit", "-q", "-am", "pin B")
    assert second.pin.digest != first.pin.digest
    error = _drifted(project)
    assert first.pin.digest in error.message
    assert second.pin.digest in error.message

    deploy_modal(ModalTarget(REF, "dev"), root=project)
    assert _clean(project)["deployed"] == second.pin.digest

    rolled = pin_processor(REF, first.pin.digest, rollback=True, root=project)
    assert rolled.verified
    _drifted(project)
    deploy_modal(ModalTarget(REF, "dev"), root=project)
    assert _clean(project)["deployed"] == first.pin.digest


def test_dev_flow_build_push_deploy_smoke_and_one_real_run(
        project: Path, server: FakeModalServer, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    deployed = dev_build_push_deploy(ModalTarget(REF, "dev", branch="feat-x", user="ana"), root=project)
    assert deployed["app"] == "feat-x-ana-demo-echo-v1"
    assert deployed["modal_server"] == server.url
    options = {"branch": "feat-x", "user": "ana"}
    smoke = run_processor(REF, inputs={"message": "smoke"}, adapter="modal", env="dev",
                          root=project, artifacts_root=tmp_path / "smoke",
                          adapter_options=options)
    assert smoke.status == "success"
    monkeypatch.delenv("CI", raising=False)
    real = run_processor(REF, inputs={"message": "real"}, mode="real", adapter="modal",
                         env="dev", root=project, artifacts_root=tmp_path / "real",
                         adapter_options=options)
    assert real.meta["mode"] == "real"
    assert [c["op"] for c in server.state.calls()].count("call_function") == 2
