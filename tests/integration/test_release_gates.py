"""Staging/main deploy only pins Modal can pull and that were verified; nothing is published
otherwise. Pins cannot skip verification; secrets sync fails on a missing secret by default."""

from __future__ import annotations

import pytest
import yaml

from runtime.errors import ImageUnavailableError, ImageUnpinnedError, InputsError
from runtime.images.build import pin_processor
from runtime.modal.ops import deploy_modal
from runtime.modal.target import ModalTarget
from tests.helpers import run_cli
from tests.modal_support import DIGEST, fake_env, fake_modal_project

pytestmark = pytest.mark.modal


def _edit_pin(root, ref_key, **changes):
    path = root / "registry" / "processors.yaml"
    document = yaml.safe_load(path.read_text())
    image = document["processors"][ref_key]["versions"]["1"]["image"]
    image.update(changes)
    for key in [k for k, v in changes.items() if v is None]:
        image.pop(key)
    path.write_text(yaml.safe_dump(document))


@pytest.fixture
def world(tmp_path, monkeypatch, request):
    """A pinned project and the one fake Modal server this process's SDK talks to."""
    return fake_modal_project(tmp_path, monkeypatch, request)


def _published(server):
    """The deploys the server was asked to publish (``App.deploy`` ends in ``AppPublish``)."""
    return [rpc for rpc in server.rpcs if rpc == "AppPublish"]


def test_verified_remote_pin_deploys_to_staging(world):
    root, server = world
    result = deploy_modal(ModalTarget("demo/echo@1", "staging"), root=root)
    assert result["status"] == "deployed"
    assert len(_published(server)) == 1
    assert server.state.deployed_app_id("demo-echo-v1", environment_name="staging") is not None


@pytest.mark.parametrize(("env", "pin", "error", "match"), [
    ("staging", {"repository": "127.0.0.1:5000/processors/demo-echo"}, ImageUnavailableError,
     "cannot pull"),
    ("main", {"repository": "169.254.169.254/processors/demo-echo"}, ImageUnavailableError,
     "cannot pull"),
    ("staging", {"verified_at": None, "verified_by": None}, ImageUnpinnedError,
     "never verified"),
], ids=["staging-loopback", "main-link-local", "staging-unverified"])
def test_deploy_of_a_pin_modal_cannot_trust_is_refused_and_publishes_nothing(world, env, pin,
                                                                              error, match):
    root, server = world
    _edit_pin(root, "demo/echo", **pin)
    with pytest.raises(error, match=match) as caught:
        deploy_modal(ModalTarget("demo/echo@1", env), root=root)
    assert caught.value.code == error.code
    assert _published(server) == []
    assert server.state.deployed_app_id("demo-echo-v1", environment_name=env) is None


def test_dev_deploy_of_a_loopback_unverified_pin_is_allowed(world):
    root, server = world
    _edit_pin(root, "demo/echo", repository="127.0.0.1:5000/processors/demo-echo",
              verified_at=None, verified_by=None)
    assert deploy_modal(ModalTarget("demo/echo@1", "dev"), root=root)["status"] == "deployed"
    assert len(_published(server)) == 1


def test_pin_cannot_skip_verification_and_the_yaml_is_untouched(world):
    root, _ = world
    before = (root / "registry" / "processors.yaml").read_bytes()
    with pytest.raises(InputsError, match="always verified"):
        pin_processor("demo/echo@1", DIGEST, verify=False, root=root)
    assert (root / "registry" / "processors.yaml").read_bytes() == before


def test_cli_staging_deploy_of_a_loopback_pin_is_one_error_envelope(world):
    root, server = world
    _edit_pin(root, "demo/echo", repository="127.0.0.1:5000/processors/demo-echo")
    result = run_cli("deploy-modal", "--ref", "demo/echo@1", "--env", "staging", "--json",
                     env=fake_env(server, root))
    assert result.rc == 11
    assert result.envelope["error"]["code"] == "ERR_IMAGE_UNAVAILABLE"
    assert len(result.stdout.splitlines()) == 1
    assert _published(server) == []


def test_cli_pin_with_no_verify_digest_is_err_inputs(world):
    root, server = world
    result = run_cli("pin-processor", "--ref", "demo/echo@1", "--oci", DIGEST,
                     "--no-verify-digest", "--json", env=fake_env(server, root))
    assert result.rc == 2
    assert result.envelope["error"]["code"] == "ERR_INPUTS"


def test_cli_secrets_sync_fails_on_a_missing_secret_by_default(world):
    root, server = world
    env = fake_env(server, root, ACME_API_KEY=None, ACME_ORG_ID=None)
    result = run_cli("sync-modal-secrets", "--env", "staging", "--json", env=env)
    assert result.rc == 3
    assert result.envelope["error"]["code"] == "ERR_MISSING_SECRET"
    assert "ACME_API_KEY" in result.envelope["error"]["message"]


def _git(repo, *args):
    import os
    import subprocess

    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
           "GIT_CONFIG_GLOBAL": "/dev/null"}
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


def test_rollback_to_a_digest_never_pinned_is_err_inputs_before_any_registry_call(world):
    root, _ = world
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "pins")
    never = "sha256:" + "9f" * 32
    with pytest.raises(InputsError, match="never pinned"):
        pin_processor("demo/echo@1", never, rollback=True, root=root)


def test_rollback_accepts_a_digest_an_earlier_reviewed_pin_named(world):
    from runtime.images.build import _check_earlier_pin
    from runtime.registry.load import Registry

    root, _ = world
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "pin A")  # pinned_project pins DIGEST everywhere
    _edit_pin(root, "demo/echo", digest="sha256:" + "b0" * 32)
    _git(root, "commit", "-q", "-am", "pin B")
    _check_earlier_pin(Registry.load(root), DIGEST)  # A is in the history: no error
