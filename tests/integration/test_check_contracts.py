"""The compatibility gate against a real git history (a temp repository)."""

import json
import shutil
import subprocess

import pytest

from runtime.contract.compat import check_contracts
from runtime.errors import InputsError

STATS_IN = "processors/text/stats/schemas/v1.inputs.schema.json"
STATS_OUT = "processors/text/stats/schemas/v1.outputs.schema.json"


def git(root, *args):
    subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.invalid",
                    *args], check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path, project_root):
    root = tmp_path / "repo"
    for folder in ("registry", "processors"):
        shutil.copytree(project_root / folder, root / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    return root


def edit(root, rel, change):
    path = root / rel
    schema = json.loads(path.read_text())
    change(schema)
    path.write_text(json.dumps(schema, indent=2))


def test_unchanged_tree_is_compatible(repo):
    report = check_contracts("HEAD", repo)
    assert report.ok
    assert report.compared == []


def test_tightened_input_bound_without_a_bump_fails_with_a_readable_report(repo):
    edit(repo, STATS_IN, lambda s: s["properties"]["top_n"].update(maximum=50))
    report = check_contracts("HEAD", repo)
    assert not report.ok
    assert report.compared == ["text/stats@1"]
    assert "BREAK text/stats@1 inputs: inputs.top_n: maximum tightened from 100 to 50" in report.to_text()


def test_dropped_output_field_without_a_bump_fails(repo):
    def drop(schema):
        stats = schema["properties"]["outputs/stats.json"]
        stats["required"].remove("lines")
        del stats["properties"]["lines"]
    edit(repo, STATS_OUT, drop)
    found = [str(b) for b in check_contracts("HEAD", repo).breaks]
    assert found == ["text/stats@1 outputs: outputs/stats.json#/lines: dropped from required",
                     "text/stats@1 outputs: outputs/stats.json#/lines: property dropped"]


def test_compatible_change_passes_and_is_listed_as_compared(repo):
    edit(repo, STATS_IN, lambda s: s["properties"]["top_n"].update(maximum=500))
    report = check_contracts("HEAD", repo)
    assert report.ok
    assert report.compared == ["text/stats@1"]


def test_breaking_change_shipped_as_a_new_version_passes(repo):
    v2 = repo / "processors/text/stats/schemas/v2.inputs.schema.json"
    schema = json.loads((repo / STATS_IN).read_text())
    schema["required"] = ["text"]
    v2.write_text(json.dumps(schema))
    registry = repo / "registry/processors.yaml"
    text = registry.read_text()
    marker = "  acme/summarize:"
    block = ('      "2":\n        input_schema: schemas/v2.inputs.schema.json\n'
             '        output_schema: schemas/v1.outputs.schema.json\n\n')
    registry.write_text(text.replace(marker, block + marker))
    report = check_contracts("HEAD", repo)
    assert report.ok, report.to_text()
    assert "text/stats@2: new version" in report.notes


def test_uncommitted_and_committed_changes_are_both_judged(repo):
    edit(repo, STATS_IN, lambda s: s.update(required=["text"]))
    git(repo, "commit", "-qam", "tighten")
    assert [b.where for b in check_contracts("HEAD~1", repo).breaks] == ["inputs.text"]


def test_default_base_is_the_previous_commit_on_main(repo, monkeypatch):
    monkeypatch.delenv("CONTRACTS_BASE", raising=False)
    edit(repo, STATS_IN, lambda s: s.update(required=["text"]))
    git(repo, "commit", "-qam", "tighten")
    assert check_contracts("", repo).base == "HEAD~1"
    assert not check_contracts("", repo).ok


def test_unknown_base_is_err_inputs(repo):
    with pytest.raises(InputsError, match="--base 'nope' is not a commit"):
        check_contracts("nope", repo)
