import shutil
import subprocess

import pytest

from runtime.images.changes import changed_processors
from runtime.registry.load import Registry
from tests.helpers import copy_project

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}


def _git(repo, *args):
    import os

    env = {**os.environ, **GIT_ENV, "GIT_CONFIG_GLOBAL": "/dev/null"}
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path, project_root):
    """A throwaway git repo holding a copy of the registry, processors and kit."""
    copy_project(tmp_path, project_root)
    shutil.copytree(project_root / "runtime" / "kit", tmp_path / "runtime" / "kit",
                    ignore=shutil.ignore_patterns("__pycache__"))
    _git(tmp_path, "init", "-q", "-b", "main")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-q", "-m", "base")
    return tmp_path


def _all_refs(repo):
    return sorted(str(ref) for ref in Registry.load(repo).refs())


def _commit(repo, message="change"):
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", message)


def test_a_processor_file_change_selects_only_that_processor(repo):
    (repo / "processors/text/stats/stats.py").write_text("# changed\n", encoding="utf-8")
    _commit(repo)
    result = changed_processors(repo, "HEAD~1")
    assert result.refs == ["text/stats@1"]
    assert not result.all


def test_a_kit_change_selects_every_processor(repo):
    (repo / "runtime/kit/files.py").write_text("# changed\n", encoding="utf-8")
    _commit(repo)
    result = changed_processors(repo, "HEAD~1")
    assert result.all
    assert result.refs == _all_refs(repo)


def test_a_registry_entry_change_selects_that_ref(repo):
    path = repo / "registry/processors.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("timeout_s: 120", "timeout_s: 90"), encoding="utf-8")
    _commit(repo)
    assert changed_processors(repo, "HEAD~1").refs == ["acme/summarize@1"]


def test_a_pin_only_change_selects_nothing(repo):
    path = repo / "registry/processors.yaml"
    text = path.read_text(encoding="utf-8")
    head, marker, entries = text.partition("\nprocessors:\n")
    assert marker
    assert "digest: null" in entries
    # every version's image gets a pin (the base image stays): nothing else moves
    pinned = entries.replace("digest: null", "digest: sha256:" + "a" * 64)
    path.write_text(head + marker + pinned, encoding="utf-8")
    _commit(repo)
    assert changed_processors(repo, "HEAD~1").refs == []


def test_an_unknown_base_selects_every_processor(repo):
    result = changed_processors(repo, "0" * 40)
    assert result.all
    assert result.refs == _all_refs(repo)
