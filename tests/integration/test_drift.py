"""Drift and rollback without Docker: pins are digest strings, the one fake Modal server keeps what
was deployed (the app's tags, as ``AppPublish`` sent them), and ``drift_modal`` compares the two
through the real SDK (``App.get_tags``)."""

from __future__ import annotations

import pytest
import yaml

from runtime.errors import ImageUnpinnedError, ModalLookupError, RegistryMismatchError
from runtime.modal.app import digest_from_tags, image_tags
from runtime.modal.ops import deploy_modal, drift_modal, modal_status
from runtime.modal.target import ModalTarget
from runtime.registry.edit import set_image_pin
from tests.helpers import run_cli
from tests.modal_support import fake_env, fake_modal_project, pinned_project, start_fake_modal

pytestmark = pytest.mark.modal

REF = "demo/echo@1"
PIN_A = "sha256:" + "a1" * 32
PIN_B = "sha256:" + "b2" * 32
REPO = "registry.example.invalid/processors/demo-echo"


def _pin(root, digest, ref=REF):
    set_image_pin(root / "registry" / "processors.yaml", ref, repository=REPO, digest=digest,
                  config_digest=None, verified_at="2026-01-01T00:00:00Z",
                  verified_by="test stand-in (digest strings only)")


@pytest.fixture
def root(request, tmp_path, monkeypatch):
    project, _ = fake_modal_project(tmp_path, monkeypatch, request)
    return project


def _drift(root):
    return drift_modal(ModalTarget(REF, "staging"), root=root)


def _mismatch(root):
    with pytest.raises(RegistryMismatchError) as caught:
        _drift(root)
    return caught.value


def test_digest_tags_round_trip_within_modal_tag_limits():
    tags = image_tags(f"{REPO}@{PIN_A}")
    assert all(len(value) <= 63 for value in tags.values())
    assert digest_from_tags(tags) == PIN_A


def test_tags_without_a_digest_name_none():
    assert digest_from_tags({}) is None
    assert digest_from_tags({"image_sha256_1": "zz" * 16, "image_sha256_2": "00" * 16}) is None


def test_the_drill_deploy_drift_redeploy_and_roll_back(root):
    _pin(root, PIN_A)
    deploy_modal(ModalTarget(REF, "staging"), root=root)
    assert _drift(root)["status"] == "clean"

    _pin(root, PIN_B)  # re-pinned (merged pin PR), not yet deployed
    error = _mismatch(root)
    assert PIN_A in error.message
    assert PIN_B in error.message
    assert error.meta["apps"][0]["deployed"] == PIN_A
    assert error.meta["apps"][0]["pinned"] == PIN_B

    deploy_modal(ModalTarget(REF, "staging"), root=root)
    clean = _drift(root)
    assert clean["apps"][0]["deployed"] == PIN_B

    _pin(root, PIN_A)  # the rollback: re-pin the earlier verified digest, then deploy it
    assert _mismatch(root).meta["apps"][0]["deployed"] == PIN_B
    deploy_modal(ModalTarget(REF, "staging"), root=root)
    rolled_back = _drift(root)
    assert rolled_back["apps"][0]["deployed"] == PIN_A
    assert rolled_back["apps"][0]["revision"] == 3


def test_an_app_that_is_not_deployed_is_err_modal_lookup(root):
    _pin(root, PIN_A)
    with pytest.raises(ModalLookupError, match="not deployed: demo-echo-v1"):
        _drift(root)


def test_drift_of_an_unpinned_ref_is_err_image_unpinned(root):
    path = root / "registry" / "processors.yaml"
    data = yaml.safe_load(path.read_text())
    data["processors"]["demo/echo"]["versions"]["1"]["image"] = {"repository": None,
                                                                "digest": None}
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ImageUnpinnedError):
        _drift(root)


def test_drift_over_every_ref_reports_each_app(root):
    for ref in ("demo/echo@1", "text/stats@1"):
        _pin(root, PIN_A, ref)
        deploy_modal(ModalTarget(ref, "staging"), root=root)
    _pin(root, PIN_A, "acme/summarize@1")
    with pytest.raises(ModalLookupError) as caught:  # acme/summarize is pinned, not deployed
        drift_modal(ModalTarget(None, "staging"), root=root)
    statuses = {row["ref"]: row["status"] for row in caught.value.meta["apps"]}
    assert statuses == {"demo/echo@1": "clean", "text/stats@1": "clean",
                        "acme/summarize@1": "not_deployed"}


def test_status_shows_the_digest_and_revision(root):
    _pin(root, PIN_A)
    deploy_modal(ModalTarget(REF, "staging"), root=root)
    deploy_modal(ModalTarget(REF, "staging"), root=root)
    status = modal_status(ModalTarget(REF, "staging"), root=root)
    assert status["image_digest"] == PIN_A
    assert status["revision"] == 2


def test_cli_drift_prints_one_envelope_naming_both_digests(tmp_path, request):
    project = pinned_project(tmp_path / "project")
    server = start_fake_modal(tmp_path / "fake-modal", project)
    request.addfinalizer(server.close)
    env = fake_env(server, project)
    _pin(project, PIN_A)
    assert run_cli("deploy-modal", "--ref", REF, "--env", "staging", "--json", env=env).rc == 0
    clean = run_cli("drift-modal", "--env", "staging", "--ref", REF, "--json", env=env)
    assert clean.rc == 0, clean.stderr
    assert clean.envelope["status"] == "clean"
    _pin(project, PIN_B)
    drifted = run_cli("drift-modal", "--env", "staging", "--ref", REF, "--json", env=env)
    assert drifted.rc == 12
    assert len(drifted.stdout.splitlines()) == 1
    error = drifted.envelope["error"]
    assert error["code"] == "ERR_REGISTRY_MISMATCH"
    assert PIN_A in error["message"]
    assert PIN_B in error["message"]
