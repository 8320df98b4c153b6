"""CLI contracts of typed inputs and describe-processor: one stdout line, canon exit codes."""

import json
import shutil
import subprocess

from tests.helpers import ROOT, cli_env, run_cli


def test_schema_violation_prints_one_err_inputs_envelope_naming_field_and_rule(tmp_path):
    result = run_cli("run-processor", "--ref", "text/stats@1", "--json",
                     "--inputs-json", json.dumps({"top_n": "five", "colour": "red"}),
                     "--artifacts-root", str(tmp_path))
    assert result.rc == 2, result.stderr
    envelope = result.envelope
    assert envelope["status"] == "error"
    assert envelope["error"]["code"] == "ERR_INPUTS"
    assert envelope["error"]["message"].startswith(
        "inputs.colour: not allowed; inputs.top_n: must be integer")
    assert not (tmp_path / "runs").exists()


def test_describe_processor_json_is_one_line_with_schemas_and_secret_names(tmp_path):
    result = run_cli("describe-processor", "--ref", "acme/summarize@1", "--json")
    assert result.rc == 0, result.stderr
    info = result.envelope
    assert info["secrets"] == ["ACME_API_KEY"]
    assert info["modes"] == ["mock", "real"]
    assert info["input_schema"]["required"] == ["text"]
    assert "outputs/summary.json" in info["output_schema"]["required"]
    assert info["pin"]["digest"] is None


def test_describe_unknown_ref_is_one_err_inputs_envelope():
    result = run_cli("describe-processor", "--ref", "demo/nope@1", "--json")
    assert result.rc == 2
    assert result.envelope["error"]["code"] == "ERR_INPUTS"


def test_test_golden_json_reports_every_fixture_on_one_line():
    result = run_cli("test-golden", "--json", "--processor", "demo/echo")
    assert result.rc == 0, result.stderr
    report = result.envelope
    assert report["ok"] is True
    assert {r["fixture"] for r in report["results"]} == {
        "processors/demo/echo/fixtures/default.json", "processors/demo/echo/fixtures/message.json"}


def test_check_contracts_fails_with_a_readable_report_on_a_breaking_change(tmp_path):
    repo = tmp_path / "repo"
    for folder in ("registry", "processors"):
        shutil.copytree(ROOT / folder, repo / folder, ignore=shutil.ignore_patterns("__pycache__"))
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "base"], check=True)
    schema_path = repo / "processors/text/stats/schemas/v1.inputs.schema.json"
    schema = json.loads(schema_path.read_text())
    schema["required"] = ["text"]
    schema_path.write_text(json.dumps(schema))
    result = run_cli("check-contracts", "--base", "HEAD",
                     env=cli_env(PROCESSOR_RUNTIME_ROOT=str(repo)))
    assert result.rc == 1
    assert result.stdout.splitlines()[:2] == [
        "contracts vs HEAD: 1 breaking change(s) (1 changed version(s) compared)",
        "  BREAK text/stats@1 inputs: inputs.text: new required field"]
