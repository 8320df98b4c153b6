"""Canaries planted in the environment and in inputs never reach a packaged evidence tarball.

``local`` runs as is; ``modal`` runs through the fake boundary (hermetic) against a pinned copy
of the project. The docker variant lives in tests/acceptance/pinned (it needs built images).
"""

import pytest

from runtime.modal.boundary import BOUNDARY_ENV, FAKE_TARGET
from runtime.testing.fake_boundary import FakeModal
from tests.evidence_canary import assert_no_canary_in_evidence
from tests.helpers import cli_env
from tests.modal_support import OVERRIDE, REFS, fake_env, pinned_project


def test_no_canary_reaches_the_evidence_tarball_local(tmp_path):
    assert_no_canary_in_evidence("local", tmp_path, cli_env())


@pytest.mark.modal
def test_no_canary_reaches_the_evidence_tarball_modal_fake(tmp_path, monkeypatch):
    from runtime.modal.ops import deploy_modal
    from runtime.testing.fake_boundary import STATE_DIR_ENV

    root = pinned_project(tmp_path / "project", extra_secret=None)
    state = tmp_path / "fake-modal"
    FakeModal(state, source_root=root).create_secret(
        "ACME_API_KEY", {"ACME_API_KEY": "unused-in-mock"}, environment_name="dev")
    monkeypatch.setenv(BOUNDARY_ENV, FAKE_TARGET)
    monkeypatch.setenv(STATE_DIR_ENV, str(state))
    for ref in REFS:
        deploy_modal(ref, env="dev", image_override=OVERRIDE, root=root)
    assert_no_canary_in_evidence("modal", tmp_path, fake_env(state, root))
