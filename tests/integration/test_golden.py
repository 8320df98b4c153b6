"""Golden fixtures replayed through run_processor against a copy of the project's processors."""

import json

import pytest

from runtime.authoring.golden import run_golden
from tests.helpers import copy_project

ZERO = "0" * 64


@pytest.fixture
def copy_root(tmp_path, project_root):
    return copy_project(tmp_path / "proj", project_root)


def fixture_file(root, rel):
    path = root / rel
    return path, json.loads(path.read_text())


def test_every_shipped_fixture_passes(copy_root):
    report = run_golden(copy_root)
    assert report.ok, report.to_text()
    assert len(report.results) >= 3


def test_hash_mismatch_is_reported_by_file_and_output_path(copy_root):
    path, document = fixture_file(copy_root, "processors/text/stats/fixtures/sample.json")
    document["expected"]["outputs"]["outputs/stats.json"] = ZERO
    path.write_text(json.dumps(document))
    report = run_golden(copy_root, processor="text/stats")
    assert not report.ok
    text = report.to_text()
    assert "FAIL processors/text/stats/fixtures/sample.json (text/stats@1)" in text
    assert "outputs/stats.json: sha256" in text
    assert "!= expected 000000000000" in text


def test_missing_and_unexpected_outputs_are_both_named(copy_root):
    path, document = fixture_file(copy_root, "processors/demo/echo/fixtures/message.json")
    outputs = document["expected"]["outputs"]
    outputs["outputs/gone.txt"] = outputs.pop("outputs/echo.txt")
    path.write_text(json.dumps(document))
    problems = run_golden(copy_root, processor="demo/echo").results[-1].problems
    assert any(p.startswith("outputs/gone.txt: missing") for p in problems)
    assert any(p.startswith("outputs/echo.txt: unexpected output") for p in problems)


def test_expected_error_fixture_fails_when_the_run_succeeds(copy_root):
    path, document = fixture_file(copy_root, "processors/text/stats/fixtures/rejects-extra-field.json")
    document["inputs"] = {"top_n": 3}
    path.write_text(json.dumps(document))
    result = next(r for r in run_golden(copy_root, processor="text/stats").results
                  if r.fixture.endswith("rejects-extra-field.json"))
    assert result.status == "fail"
    assert result.problems == ["expected ERR_INPUTS, but the run succeeded"]


def test_placeholder_fails_until_update_records_the_hashes(copy_root):
    path, document = fixture_file(copy_root, "processors/acme/summarize/fixtures/short.json")
    recorded = document["expected"]["outputs"]
    document["expected"]["outputs"] = None
    path.write_text(json.dumps(document))
    assert not run_golden(copy_root, processor="acme/summarize").ok
    updated = run_golden(copy_root, processor="acme/summarize", update=True)
    assert [r.status for r in updated.results if r.fixture.endswith("short.json")] == ["updated"]
    assert fixture_file(copy_root, path.relative_to(copy_root))[1]["expected"]["outputs"] == recorded
    assert run_golden(copy_root, processor="acme/summarize").ok
