"""The release's acceptance against the merged pins: no build, the checkout's own registry.

The deploy half of ``release.yml`` runs ``inv test-acceptance-pinned --pytest-args "-k
merged_pins"`` after deploying: each ref pinned in the checkout's ``registry/processors.yaml``
runs its golden fixtures from its pinned digest through the ``docker`` adapter in env=staging
(pins only), pulled from wherever the pin points. Nothing is built or re-pinned here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runtime import run_processor
from runtime.authoring.golden import discover_fixtures
from runtime.registry.load import Registry
from tests.helpers import ROOT

pytestmark = pytest.mark.requires_docker

_REGISTRY = Registry.load(ROOT)
PINNED = [str(ref) for ref in _REGISTRY.refs() if _REGISTRY.resolve(ref).version.image.digest]
FIXTURES = [f for f in discover_fixtures(ROOT) if f.ref in PINNED and not f.error]


@pytest.mark.skipif(not PINNED, reason="the checkout's registry pins nothing yet")
@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda f: f"{f.ref}:{f.path.name}")
def test_merged_pins_run_their_fixtures_without_building(fixture: Any, docker_infra: Any,
                                                          tmp_path: Path) -> None:
    envelope = run_processor(fixture.ref, inputs=fixture.inputs, adapter="docker", env="staging",
                             artifacts_root=tmp_path, root=ROOT)
    pin = _REGISTRY.resolve(fixture.ref).version.image
    assert envelope.status == "success"
    assert envelope.meta["image_digest"] == pin.digest
    assert {item.path: item.sha256 for item in envelope.outputs} == fixture.outputs


def test_merged_pins_are_verified_pins():
    unverified = [ref for ref in PINNED if not _REGISTRY.resolve(ref).version.image.verified]
    assert not unverified, f"pins without their verification record: {unverified}"
