"""Each bundled processor runs from its pinned image through the ``docker`` adapter.

The lane fixture (``released_project``) builds, pushes and pins every bundled processor into a
temporary copy of the project; the committed registry YAML is never touched. For deterministic
processors the receipt's output hashes equal those of the ``local`` adapter on the same inputs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runtime import run_processor
from runtime.registry.load import Registry
from tests.helpers import cli_env, run_cli

pytestmark = pytest.mark.requires_docker

INPUTS: dict[str, dict[str, Any]] = {
    "demo/echo@1": {"message": "pinned parity"},
    "text/stats@1": {"text": "One fish. Two fish. Red fish, blue fish!", "top_n": 3},
    "acme/summarize@1": {"text": "A pinned image runs the same bytes everywhere it goes.",
                         "max_words": 5},
}


def _receipt(envelope: Any) -> dict[str, Any]:
    receipt: dict[str, Any] = json.loads(
        (Path(envelope.index_path).parent / "receipt.json").read_text())
    return receipt


@pytest.mark.parametrize("ref", sorted(INPUTS))
def test_pinned_image_runs_and_reports_its_pinned_digest(
        ref: str, released_project: dict[str, Any], tmp_path: Path) -> None:
    root = released_project["root"]
    pin = Registry.load(root).resolve(ref).version.image
    envelope = run_processor(ref, adapter="docker", env="main", root=root, inputs=INPUTS[ref],
                             artifacts_root=tmp_path)
    assert envelope.status == "success"
    assert envelope.meta["image_digest"] == pin.digest
    assert _receipt(envelope)["image_digest"] == pin.digest


@pytest.mark.parametrize("ref", sorted(INPUTS))
def test_deterministic_outputs_match_the_local_adapter(
        ref: str, released_project: dict[str, Any], tmp_path: Path) -> None:
    root = released_project["root"]
    if not Registry.load(root).resolve(ref).version.deterministic:
        pytest.skip(f"{ref} is not declared deterministic")
    in_container = run_processor(ref, adapter="docker", root=root, inputs=INPUTS[ref],
                                 artifacts_root=tmp_path / "docker")
    local = run_processor(ref, adapter="local", root=root, inputs=INPUTS[ref],
                          artifacts_root=tmp_path / "local")
    container_receipt, local_receipt = _receipt(in_container), _receipt(local)
    assert container_receipt["outputs_sha256"] == local_receipt["outputs_sha256"]
    assert container_receipt["outputs"] == local_receipt["outputs"]
    assert container_receipt["code_sha256"] == local_receipt["code_sha256"]


def test_cli_runs_the_pinned_image_with_one_envelope_line(
        released_project: dict[str, Any], tmp_path: Path) -> None:
    root = released_project["root"]
    result = run_cli("run-processor", "--ref", "demo/echo@1", "--adapter", "docker", "--env",
                     "staging", "--json", "--artifacts-root", str(tmp_path),
                     env=cli_env(PROCESSOR_RUNTIME_ROOT=str(root)))
    assert result.rc == 0, result.stderr
    assert result.envelope["meta"]["adapter"] == "docker"
    assert Path(result.envelope["index_path"]).is_file()


def test_container_outputs_are_owned_by_the_invoking_user(
        released_project: dict[str, Any], tmp_path: Path) -> None:
    envelope = run_processor("demo/echo@1", adapter="docker", root=released_project["root"],
                             artifacts_root=tmp_path)
    prefix = Path(envelope.index_path).parent
    owners = {path.stat().st_uid for path in [prefix, *prefix.rglob("*")]}
    assert owners == {Path(tmp_path).stat().st_uid}


def test_golden_fixtures_replay_through_the_pinned_images(released_project: dict[str, Any]) -> None:
    from runtime.authoring.golden import run_golden

    report = run_golden(released_project["root"], adapter="docker")
    failures = [(r.fixture, r.problems) for r in report.results if r.status != "pass"]
    assert len(report.results) >= 3
    assert failures == []
