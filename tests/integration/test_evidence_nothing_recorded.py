"""Evidence that holds: packaging with nothing recorded is a clear, non-failing result, runs
without envelopes still fail verification, and pin verifications are recorded and counted."""

from __future__ import annotations

import json
import shutil
import tarfile

import pytest

from runtime.evidence.package import package_evidence, verify_evidence
from runtime.images.build import PinResult, record_pin_evidence
from tests.helpers import ROOT, cli_env, run_cli

DIGEST = "sha256:" + "ab" * 32


def _summary(path):
    with tarfile.open(path, "r:gz") as tar:
        return tar.extractfile("summary.md").read().decode()


def test_a_missing_default_folder_packages_an_empty_tarball_that_verifies(tmp_path, project_root):
    out = tmp_path / "e.tar.gz"
    result = package_evidence(tmp_path / "runs", out, lane="staging", root=project_root,
                              missing_ok=True)
    assert result.runs == 0
    assert "nothing recorded" in result.note
    assert "- nothing was recorded" in _summary(out)
    verified = verify_evidence(out)
    assert verified.ok, verified.problems
    assert verified.envelopes == 0


def test_an_empty_folder_packages_an_empty_tarball_that_verifies(tmp_path, project_root):
    (tmp_path / "runs").mkdir()
    out = tmp_path / "e.tar.gz"
    assert package_evidence(tmp_path / "runs", out, lane="t", root=project_root).runs == 0
    assert verify_evidence(out).ok


def test_recorded_runs_without_an_envelope_still_fail_verification(tmp_path, project_root):
    (tmp_path / "runs" / "ex-1").mkdir(parents=True)
    (tmp_path / "runs" / "ex-1" / "events.ndjson").write_text('{"event":"execution.start"}\n')
    out = tmp_path / "e.tar.gz"
    package_evidence(tmp_path / "runs", out, lane="t", root=project_root)
    assert "no envelope.json in the archive" in verify_evidence(out).problems


def _pin_result(ref="demo/echo@1"):
    return PinResult(ref=ref, repository="registry.example.invalid/processors/demo/echo",
                     digest=DIGEST, config_digest=None, verified_at="2026-01-01T00:00:00Z",
                     verified_by="test", verified=True, changed=True,
                     registry_file="registry/processors.yaml")


def test_pin_verification_is_recorded_with_evidence_on(tmp_path, monkeypatch, project_root):
    monkeypatch.setenv("PROCESSOR_EVIDENCE", str(tmp_path / "runs"))
    path = record_pin_evidence(_pin_result(), project_root)
    assert path == tmp_path / "runs" / "pins" / "demo.echo.v1.json"
    record = json.loads(path.read_text())
    assert record["kind"] == "pin.verification"
    assert (record["digest"], record["verified_by"]) == (DIGEST, "test")
    assert "registry_file" not in record
    out = tmp_path / "e.tar.gz"
    package_evidence(tmp_path / "runs", out, lane="t", root=project_root)
    assert "- pin verifications recorded: 1" in _summary(out)


def test_pin_verification_is_not_recorded_with_evidence_off(monkeypatch, project_root):
    monkeypatch.delenv("PROCESSOR_EVIDENCE", raising=False)
    assert record_pin_evidence(_pin_result(), project_root) is None


@pytest.fixture
def bare_project(tmp_path):
    """A project copy with no evidence/ folder at all."""
    root = tmp_path / "project"
    for folder in ("registry", "processors"):
        shutil.copytree(ROOT / folder, root / folder)
    return root


def test_cli_package_with_nothing_recorded_succeeds_and_verify_accepts_it(bare_project):
    env = cli_env(PROCESSOR_RUNTIME_ROOT=str(bare_project))
    packaged = run_cli("evidence.package", "--lane", "staging", "--json", env=env)
    assert packaged.rc == 0, packaged.stderr
    assert packaged.envelope["runs"] == 0
    assert packaged.envelope["note"].startswith("nothing recorded")
    verified = run_cli("evidence.verify", packaged.envelope["path"], "--json", env=env)
    assert verified.rc == 0, verified.stdout + verified.stderr


def test_cli_package_of_an_explicit_missing_folder_is_err_inputs(bare_project):
    env = cli_env(PROCESSOR_RUNTIME_ROOT=str(bare_project))
    result = run_cli("evidence.package", "--src", str(bare_project / "nope"), "--json", env=env)
    assert result.rc == 2
    assert result.envelope["error"]["code"] == "ERR_INPUTS"
