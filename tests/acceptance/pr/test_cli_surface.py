"""The task surface a person meets: ``inv --list`` from a fresh clone, ``inv --help``."""

import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tasks.run import run_processor
from tests.helpers import ROOT, cli_env, clone_checkout, run_cli

INV = Path(sys.executable).with_name("inv")


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    """A local ``git clone`` of this checkout (committed state, no network, no install)."""
    return clone_checkout(tmp_path_factory.mktemp("clone") / "processor-runtime")


def _list_json(cwd: Path, launcher: list[str]) -> dict:
    proc = subprocess.run([*launcher, "--list", "--list-format", "json"], cwd=cwd,
                          env=cli_env(PYTHONPATH=str(cwd)), capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _launchers():
    found = [pytest.param([sys.executable, "-m", "invoke"], id="python-m-invoke")]
    found.append(pytest.param([str(INV)], id="inv-script", marks=pytest.mark.skipif(
        not INV.exists(), reason="the inv console script is not installed beside python")))
    return found


@pytest.mark.parametrize("launcher", _launchers())
def test_fresh_clone_lists_every_task_with_a_one_line_help(clone, launcher):
    listing = _list_json(clone, launcher)
    tasks = {task["name"]: task["help"] for task in listing["tasks"]}
    assert {"run-processor", "list-processors", "check", "test", "test-unit",
            "test-integration", "test-contracts", "test-acceptance-pr",
            "test-property"} <= set(tasks)
    missing_help = [name for name, text in tasks.items() if not (text or "").strip()]
    assert missing_help == []


def test_fresh_clone_lists_the_same_tasks_as_this_checkout(clone):
    here = _list_json(ROOT, [sys.executable, "-m", "invoke"])
    there = _list_json(clone, [sys.executable, "-m", "invoke"])
    assert [t["name"] for t in there["tasks"]] == [t["name"] for t in here["tasks"]]


def test_fresh_clone_runs_the_demo(clone, tmp_path):
    result = run_cli("run-processor", "--ref", "demo/echo@1", "--json", "--artifacts-root",
                     str(tmp_path), cwd=clone, env=cli_env(PYTHONPATH=str(clone)))
    assert result.rc == 0, result.stderr
    assert result.envelope["status"] == "success"


FLAGS = [name for name in inspect.signature(run_processor.body).parameters if name != "c"]


@pytest.fixture(scope="module")
def run_help():
    result = run_cli("--help", "run-processor")
    assert result.rc == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("flag", FLAGS)
def test_help_documents_every_run_processor_flag(run_help, flag):
    option = "--" + flag.replace("_", "-")
    line = next((ln for ln in run_help.splitlines()
                 if re.search(rf"{re.escape(option)}(=|\s|$)", ln)), None)
    assert line is not None, f"{option} missing from --help"
    described = line.split(option, 1)[1].split(None, 1)
    assert len(described) == 2, f"{option} has no help text"
    assert described[1].strip(), f"{option} has no help text"


def test_help_starts_with_the_task_docstring(run_help):
    assert "Run one processor through runtime.run_processor" in run_help


def test_help_shows_no_automatic_short_flags(run_help):
    """Automatic short flags collided into spellings such as ``--=STRING`` (tasks.cli.task)."""
    options = [ln.split()[0] for ln in run_help.splitlines() if ln.strip().startswith("-")]
    assert options
    assert all(opt.startswith("--") and not opt.startswith("--=") for opt in options), options


def test_a_nameless_flag_is_refused_and_records_nothing(tmp_path):
    result = run_cli("run-processor", "--ref", "demo/echo@1", "--json",
                     f"--={tmp_path / 'elsewhere'}", "--artifacts-root", str(tmp_path))
    assert result.rc == 2
    assert result.envelope["error"]["code"] == "ERR_INPUTS"
    assert not (tmp_path / "elsewhere").exists()
