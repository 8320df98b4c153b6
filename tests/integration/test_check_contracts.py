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
    # additionalProperties stays false, so the field can no longer appear: one break, not two
    assert found == [
        "text/stats@1 outputs: outputs/stats.json#/lines: dropped from required"]


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


def test_realistic_output_widening_reports_each_break_with_its_rule_and_fix(repo):
    def widen(schema):
        report = schema["properties"]["outputs/report.txt"]["properties"]
        report["media_type"] = {"enum": ["text/plain", "text/markdown"]}
        stats = schema["properties"]["outputs/stats.json"]
        del stats["properties"]["top_words"]["maxItems"]
        del stats["additionalProperties"]
    edit(repo, STATS_OUT, widen)
    report = check_contracts("HEAD", repo)
    assert [(b.where, b.rule, b.reason) for b in report.breaks] == [
        ("outputs/report.txt#/media_type", "enum", 'enum widened: ["text/markdown"] now possible'),
        ("outputs/stats.json#/top_words", "maxItems", "maxItems loosened from 100 to none"),
        ("outputs/stats.json", "additionalProperties",
         "additionalProperties: false removed: undeclared fields now possible"),
    ]
    assert all("text/stats@2" in b.fix and "schemas/v2.outputs.schema.json" in b.fix
               for b in report.breaks)
    assert ("  BREAK text/stats@1 outputs: outputs/report.txt#/media_type: enum widened: "
            '["text/markdown"] now possible\n    fix: restore the old `enum`, or ship the change as '
            "text/stats@2") in report.to_text()


def test_reordered_input_any_of_is_compared_and_passes(repo):
    edit(repo, STATS_IN, lambda s: s["properties"].update(
        mode={"anyOf": [{"type": "string"}, {"type": "integer"}]}))
    git(repo, "commit", "-qam", "anyOf")
    edit(repo, STATS_IN, lambda s: s["properties"]["mode"]["anyOf"].reverse())
    report = check_contracts("HEAD", repo)
    assert report.compared == ["text/stats@1"]
    assert report.ok, report.to_text()
