import shutil
import subprocess

import pytest

from runtime.images.changes import changed_processors
from runtime.registry.edit import set_image_pin
from runtime.registry.load import Registry
from tests.helpers import cli_env, copy_project, run_cli

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


def _pin(repo, key, digest, repository="registry.example.invalid/processors/x"):
    set_image_pin(repo / "registry/processors.yaml", f"{key}@1", repository=repository,
                  digest=digest, config_digest=None, verified_at="2026-01-01T00:00:00Z",
                  verified_by="test")


def test_a_pin_only_change_is_a_deploy_of_that_ref_and_no_build(repo):
    _pin(repo, "demo/echo", "sha256:" + "a" * 64)
    _commit(repo, "pin demo/echo")
    result = changed_processors(repo, "HEAD~1")
    assert result.refs == []
    assert result.deploys == ["demo/echo@1"]
    assert not result.all


def test_a_re_pin_to_an_earlier_digest_is_a_deploy(repo):
    _pin(repo, "text/stats", "sha256:" + "a" * 64)
    _commit(repo, "pin A")
    _pin(repo, "text/stats", "sha256:" + "b" * 64)
    _commit(repo, "pin B")
    _pin(repo, "text/stats", "sha256:" + "a" * 64)
    _commit(repo, "roll back to A")
    assert changed_processors(repo, "HEAD~1").deploys == ["text/stats@1"]


def test_a_processor_change_without_a_pin_change_deploys_nothing(repo):
    (repo / "processors/text/stats/stats.py").write_text("# changed\n", encoding="utf-8")
    _commit(repo)
    result = changed_processors(repo, "HEAD~1")
    assert result.refs == ["text/stats@1"]
    assert result.deploys == []


def test_cli_lists_deploys_with_the_deploys_flag(repo):
    _pin(repo, "demo/echo", "sha256:" + "c" * 64)
    _commit(repo, "pin")
    result = run_cli("changed-processors", "--base", "HEAD~1", "--deploys",
                     env=cli_env(PROCESSOR_RUNTIME_ROOT=str(repo)))
    assert result.rc == 0, result.stderr
    assert result.stdout.split() == ["demo/echo@1"]


def test_an_unknown_base_selects_every_processor(repo):
    result = changed_processors(repo, "0" * 40)
    assert result.all
    assert result.refs == _all_refs(repo)


def test_changing_any_file_an_image_carries_selects_every_processor(tmp_path, project_root):
    """Every file baked into images (runtime/images/content.py) rebuilds every processor."""
    from runtime.images.content import image_paths
    from runtime.registry.load import Registry

    for folder in ("registry", "processors", "runtime"):
        # only source: never a state folder (a running engine's data root is not a tree to copy)
        shutil.copytree(project_root / folder, tmp_path / folder, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", ".state", ".artifacts"))
    _git(tmp_path, "init", "-q", "-b", "main")
    _commit(tmp_path, "base")
    every = sorted(str(ref) for ref in Registry.load(tmp_path).refs())
    carried = image_paths(tmp_path)
    assert "runtime/errors.py" in carried
    assert "runtime/__init__.py" in carried
    for path in [*carried, "runtime/child/new_module.py"]:
        target = tmp_path / path
        target.write_text(target.read_text(encoding="utf-8") + "\n# changed\n"
                          if target.exists() else "# new\n", encoding="utf-8")
        _commit(tmp_path, f"touch {path}")
        result = changed_processors(tmp_path, "HEAD~1")
        assert result.all, path
        assert result.refs == every, path
        assert all(path in reasons for reasons in result.reasons.values()), path


def test_a_runtime_file_no_image_carries_selects_nothing(repo, project_root):
    (repo / "runtime/runner.py").parent.mkdir(parents=True, exist_ok=True)
    (repo / "runtime/runner.py").write_text("# host-only code\n", encoding="utf-8")
    _commit(repo)
    result = changed_processors(repo, "HEAD~1")
    assert not result.all
    assert result.refs == []


def test_an_invalid_registry_at_the_base_is_err_inputs_for_changes_and_contracts(repo):
    """Change detection and the contract gate read a base revision through one reader."""
    from runtime.contract.compat import check_contracts
    from runtime.errors import InputsError

    path = repo / "registry/processors.yaml"
    good = path.read_text(encoding="utf-8")
    path.write_text("processors: [not, a, mapping]\n", encoding="utf-8")
    _commit(repo, "broken base")
    path.write_text(good, encoding="utf-8")
    _commit(repo, "fixed")
    with pytest.raises(InputsError, match="at HEAD~1"):
        changed_processors(repo, "HEAD~1")
    with pytest.raises(InputsError, match="at HEAD~1"):
        check_contracts("HEAD~1", repo)
