"""CLI frictions a new user met: short flags, pin references, evidence counts."""

from __future__ import annotations

import pytest

from tests.helpers import cli_env, copy_project, run_cli

DIGEST = "sha256:" + "cd" * 32
# Nothing listens on loopback port 1: a reference that parses reaches verification and fails
# there (pins are always verified), which proves the parser accepted it.
REPOSITORY = "127.0.0.1:1/processors/demo/echo"


@pytest.fixture
def project(tmp_path):
    return copy_project(tmp_path / "project")


def _pin(project, *args):
    return run_cli("pin-processor", "--ref", "demo/echo@1", "--json", *args,
                   env=cli_env(PROCESSOR_RUNTIME_ROOT=str(project)))


def _reached_verification(result, project, before):
    assert result.envelope["error"]["code"] == "ERR_IMAGE_UNAVAILABLE", result.envelope
    assert "127.0.0.1:1" in result.envelope["error"]["message"]
    assert (project / "registry" / "processors.yaml").read_bytes() == before


def test_pin_accepts_the_full_reference_push_processor_prints(project):
    before = (project / "registry" / "processors.yaml").read_bytes()
    result = _pin(project, "--oci", f"{REPOSITORY}@{DIGEST}")
    _reached_verification(result, project, before)


def test_pin_still_accepts_a_bare_digest(project):
    before = (project / "registry" / "processors.yaml").read_bytes()
    result = _pin(project, "--oci", DIGEST, "--repository", REPOSITORY)
    _reached_verification(result, project, before)


def test_pin_refuses_a_bad_reference_showing_it_whole(project):
    before = (project / "registry" / "processors.yaml").read_bytes()
    reference = f"{REPOSITORY}@sha256:{'0' * 63}Z"
    result = _pin(project, "--oci", reference)
    assert result.rc == 2
    assert result.envelope["error"]["code"] == "ERR_INPUTS"
    assert reference in result.envelope["error"]["message"]
    assert (project / "registry" / "processors.yaml").read_bytes() == before


def test_pin_refuses_a_reference_whose_repository_disagrees(project):
    result = _pin(project, "--oci", f"{REPOSITORY}@{DIGEST}",
                  "--repository", "127.0.0.1:1/processors/other")
    assert result.rc == 2
    assert "--repository" in result.envelope["error"]["message"]


@pytest.mark.parametrize("task", ["pin-processor", "run-processor", "new-processor",
                                  "evidence.package", "test-golden"])
def test_help_offers_no_surprise_short_flags(task):
    result = run_cli("--help", task)
    assert result.rc == 0, result.stderr
    options = result.stdout.split("Options:", 1)[1]
    flags = [line.split()[0] for line in options.splitlines() if line.strip().startswith("-")]
    assert flags
    assert all(flag.startswith("--") for flag in flags), flags


def test_new_processor_help_documents_the_positional_name():
    result = run_cli("--help", "new-processor")
    assert result.rc == 0
    assert "inv new-processor ns/name" in result.stdout
