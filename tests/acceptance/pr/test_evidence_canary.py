"""Canaries planted in the environment and in inputs never reach a packaged evidence tarball.

``local`` runs as is; ``modal`` runs through the one fake Modal server (hermetic) against a pinned
copy of the project. The docker variant lives in tests/acceptance/pinned (it needs built images).
"""

import pytest

from tests.evidence_canary import assert_no_canary_in_evidence
from tests.helpers import cli_env
from tests.modal_support import OVERRIDE, REFS, fake_env, pinned_project, start_fake_modal


def test_no_canary_reaches_the_evidence_tarball_local(tmp_path):
    assert_no_canary_in_evidence("local", tmp_path, cli_env())


@pytest.mark.modal
def test_no_canary_reaches_the_evidence_tarball_modal_fake(tmp_path, monkeypatch, request):
    from runtime.modal.ops import deploy_modal
    from runtime.modal.target import ModalTarget

    root = pinned_project(tmp_path / "project", extra_secret=None)
    server = start_fake_modal(tmp_path / "fake-modal", root, secrets=("ACME_API_KEY",))
    request.addfinalizer(server.close)
    for key, value in server.environ().items():
        monkeypatch.setenv(key, value)
    for ref in REFS:
        deploy_modal(ModalTarget(ref, "dev"), image_override=OVERRIDE, root=root)
    assert_no_canary_in_evidence("modal", tmp_path, fake_env(server, root))
