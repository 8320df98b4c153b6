"""`inv new-processor` in a temp copy of the repository: the scaffold passes its lanes at once."""

import shutil
import subprocess
import sys

import pytest

from tests.helpers import ROOT, cli_env, copy_project, run_cli

# registry/ and processors/ come from copy_project (the bundled processors only): the scaffold of
# the README's own example name must work even after someone followed the tutorial here.
COPIED = ("runtime", "tasks", "tasks.py", "pyproject.toml",
          "tests/__init__.py", "tests/conftest.py", "tests/helpers.py",
          "tests/acceptance/__init__.py", "tests/acceptance/pr/__init__.py")
IGNORED = shutil.ignore_patterns("__pycache__", ".artifacts", ".state", ".mypy_cache", ".ruff_cache")


def git(root, *args):
    subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.invalid",
                    *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """A git repository holding a copy of the project tree, then the scaffold of acme/translate."""
    root = tmp_path_factory.mktemp("scaffold") / "repo"
    copy_project(root)
    for rel in COPIED:
        source, target = ROOT / rel, root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=IGNORED)
        else:
            shutil.copy2(source, target)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    result = run_cli("new-processor", "acme/translate", "--with-provider", "--secret", "ACME_KEY",
                     cwd=root, env=env_for(root))
    assert result.rc == 0, result.stderr
    return root


def env_for(root):
    return cli_env(PYTHONPATH=str(root), CONTRACTS_BASE=None)


def test_scaffold_writes_every_promised_file(repo):
    folder = repo / "processors" / "acme" / "translate"
    for rel in ("main.py", "provider.py", "__init__.py", "schemas/v1.inputs.schema.json",
                "schemas/v1.outputs.schema.json", "fixtures/basic.json"):
        assert (folder / rel).is_file(), rel
    assert (repo / "tests/acceptance/pr/test_processor_acme_translate.py").is_file()
    registry = (repo / "registry/processors.yaml").read_text()
    assert "  acme/translate:\n" in registry
    assert "secrets: [ACME_KEY]" in registry


def test_generated_test_passes_in_the_pr_lane(repo):
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/acceptance/pr/test_processor_acme_translate.py",
         "-q", "-p", "no:cacheprovider"],
        cwd=repo, env=dict(env_for(repo), TEST_LANE="acceptance_pr"), capture_output=True,
        text=True, check=False, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed" in proc.stdout


def test_golden_replay_passes_for_every_processor_including_the_new_one(repo):
    result = run_cli("test-golden", "--json", cwd=repo, env=env_for(repo))
    assert result.rc == 0, result.stdout + result.stderr
    fixtures = {r["fixture"]: r["status"] for r in result.envelope["results"]}
    assert fixtures["processors/acme/translate/fixtures/basic.json"] == "pass"


def test_contract_gate_accepts_the_new_processor(repo):
    result = run_cli("check-contracts", "--base", "HEAD", "--json", cwd=repo, env=env_for(repo))
    assert result.rc == 0, result.stdout + result.stderr
    assert "acme/translate: new processor" in result.envelope["notes"]


def test_generated_python_passes_ruff(repo):
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--config", str(repo / "pyproject.toml"),
         "processors/acme/translate", "tests/acceptance/pr/test_processor_acme_translate.py"],
        cwd=repo, capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_scaffolding_the_same_name_again_is_refused(repo):
    result = run_cli("new-processor", "acme/translate", "--json", cwd=repo, env=env_for(repo))
    assert result.rc == 2
    assert result.envelope["error"]["message"] == (
        "acme/translate is already registered in registry/processors.yaml")
