"""requirements.lock: the check that it agrees with pyproject.toml, hashes everything, names no host."""

from pathlib import Path

import pytest

from tasks.lock import (
    DIGEST_FIELD,
    LOCK_NAME,
    ROOT,
    dependency_digest,
    header,
    lock_problems,
    recorded_digest,
)

PYPROJECT = """\
[build-system]
requires = ["setuptools>=68"]

[project]
name = "p"
requires-python = ">=3.11"
dependencies = ["invoke>=3.0,<4"]

[project.optional-dependencies]
dev = ["pytest>=9.0,<9.1"]

[tool.ruff]
line-length = 110
"""
ENTRY = "invoke==3.0.3 \\\n    --hash=sha256:" + "a" * 64 + "\n    # via p\n"


def _project(tmp_path: Path, pyproject: str = PYPROJECT, body: str = ENTRY,
             digest: str | None = None) -> Path:
    (tmp_path / "pyproject.toml").write_text(pyproject)
    made_for = digest or dependency_digest(tmp_path / "pyproject.toml")
    (tmp_path / LOCK_NAME).write_text(header(made_for) + body)
    return tmp_path


def test_a_lock_made_for_the_current_specs_has_no_problem(tmp_path):
    assert lock_problems(_project(tmp_path)) == []


def test_the_committed_lock_agrees_with_the_committed_pyproject():
    assert lock_problems(ROOT) == []


def test_changing_a_dependency_spec_makes_the_lock_stale(tmp_path):
    root = _project(tmp_path)
    (root / "pyproject.toml").write_text(PYPROJECT.replace("<9.1", "<10"))
    problems = lock_problems(root)
    assert len(problems) == 1
    assert "other dependency specs" in problems[0]
    assert "inv lock" in problems[0]


@pytest.mark.parametrize("edit", [
    lambda text: text.replace('"setuptools>=68"', '"setuptools>=70"'),
    lambda text: text.replace(">=3.11", ">=3.12"),
    lambda text: text.replace('dev = [', 'docker = ["docker"]\ndev = ['),
])
def test_every_kind_of_spec_feeds_the_digest(tmp_path, edit):
    before = tmp_path / "a.toml"
    after = tmp_path / "b.toml"
    before.write_text(PYPROJECT)
    after.write_text(edit(PYPROJECT))
    assert dependency_digest(before) != dependency_digest(after)


def test_tool_settings_do_not_feed_the_digest(tmp_path):
    before = tmp_path / "a.toml"
    after = tmp_path / "b.toml"
    before.write_text(PYPROJECT)
    after.write_text(PYPROJECT.replace("line-length = 110", "line-length = 100"))
    assert dependency_digest(before) == dependency_digest(after)


def test_a_missing_lock_is_named(tmp_path):
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    assert lock_problems(tmp_path) == [f"{LOCK_NAME} is missing: run `inv lock`"]


def test_a_lock_without_the_digest_header_is_refused(tmp_path):
    root = _project(tmp_path)
    (root / LOCK_NAME).write_text(ENTRY)
    assert any(DIGEST_FIELD in problem for problem in lock_problems(root))


def test_an_entry_without_a_hash_is_named(tmp_path):
    root = _project(tmp_path, body=ENTRY + "pyyaml==6.0.4\n")
    assert lock_problems(root) == [f"{LOCK_NAME} entries without a hash: pyyaml==6.0.4"]


def test_a_lock_that_names_a_url_is_refused(tmp_path):
    root = _project(tmp_path, body="--index-url https://example.invalid/simple\n" + ENTRY)
    assert any("names a URL" in problem for problem in lock_problems(root))


def test_an_empty_lock_is_refused(tmp_path):
    root = _project(tmp_path, body="")
    assert lock_problems(root) == [f"{LOCK_NAME} lists no requirement"]


def test_the_recorded_digest_is_read_back_from_the_header():
    assert recorded_digest(header("b" * 64) + ENTRY) == "b" * 64
    assert recorded_digest(ENTRY) is None
