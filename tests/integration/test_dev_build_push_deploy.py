"""The dev loop's orchestration without Docker: build and push are replaced by their results
(the docker lane runs them for real in tests/acceptance/pinned), deploy runs through the real SDK
on the one fake Modal server."""

from __future__ import annotations

import pytest

from runtime.errors import ImageUnavailableError
from runtime.images.build import BuildResult, PushResult
from runtime.modal.boundary import SdkBoundary
from runtime.modal.ops import dev_build_push_deploy, dev_identity
from runtime.modal.target import ModalTarget
from tests.modal_support import fake_modal_project

pytestmark = pytest.mark.modal

PUSHED = "sha256:" + "5e" * 32
REPO = "registry.example.invalid/processors/demo/echo"


@pytest.fixture
def world(tmp_path, monkeypatch, request):
    root, server = fake_modal_project(tmp_path, monkeypatch, request)
    steps: list[str] = []

    def build(ref, *, root=None, **_):
        steps.append(f"build {ref}")
        return BuildResult(ref=ref, image_id="sha256:" + "1" * 64, tag="t", source_sha256="s",
                           base_image="b", git_revision="unknown", cached=False, elapsed_ms=1)

    def push(ref, *, root=None, **_):
        steps.append(f"push {ref}")
        return PushResult(ref=ref, image_id="sha256:" + "1" * 64, repository=REPO, tag="v1",
                          digest=PUSHED, reference=f"{REPO}@{PUSHED}", elapsed_ms=1)

    monkeypatch.setattr("runtime.images.build.build_processor", build)
    monkeypatch.setattr("runtime.images.build.push_processor", push)
    return root, server, steps


def test_build_push_then_deploy_the_dev_app_with_the_pushed_digest(world):
    root, server, steps = world
    result = dev_build_push_deploy(ModalTarget("demo/echo@1", "dev", branch="feat-x", user="ana"), root=root)
    assert steps == ["build demo/echo@1", "push demo/echo@1"]
    assert result["app"] == "feat-x-ana-demo-echo-v1"
    assert result["image_digest"] == PUSHED
    assert result["modal_server"] == server.url
    status = SdkBoundary().app_status("feat-x-ana-demo-echo-v1", environment_name="dev")
    assert status.tags == {"image_sha256_1": PUSHED[7:39], "image_sha256_2": PUSHED[39:]}


def test_a_failed_push_deploys_nothing(world, monkeypatch):
    root, server, _ = world

    def broken(ref, **_):
        raise ImageUnavailableError("registry down")

    monkeypatch.setattr("runtime.images.build.push_processor", broken)
    with pytest.raises(ImageUnavailableError):
        dev_build_push_deploy(ModalTarget("demo/echo@1", "dev", branch="b", user="u"), root=root)
    assert "AppPublish" not in server.rpcs
    assert server.state.deployed_app_id("b-u-demo-echo-v1", environment_name="dev") is None


def test_dev_identity_defaults_to_user_env(monkeypatch, tmp_path):
    monkeypatch.setenv("USER", "dev-person")
    branch, user = dev_identity(None, None, tmp_path)  # not a git checkout: no branch
    assert (branch, user) == (None, "dev-person")
    assert dev_identity("b", "u", tmp_path) == ("b", "u")
