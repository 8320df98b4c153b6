"""Stdout purity (SPEC §2.4): with ``--json`` stdout is exactly one JSON line, on every path."""

import json

import pytest

from tests.fixtures.project import fixture_ref
from tests.helpers import cli_env, run_cli

BUNDLED = [
    ("demo/echo@1", "{}"),
    ("text/stats@1", "{}"),
    ("acme/summarize@1", '{"text": "one two three four"}'),
]


@pytest.mark.parametrize(("ref", "inputs"), BUNDLED)
def test_success_prints_exactly_one_envelope_line(tmp_path, ref, inputs):
    result = run_cli("run-processor", "--ref", ref, "--json", "--inputs-json", inputs,
                     "--artifacts-root", str(tmp_path))
    assert result.rc == 0, result.stderr
    envelope = result.envelope
    assert envelope["status"] == "success"
    assert isinstance(envelope["outputs"], list)
    assert envelope["index_path"].endswith("/outputs.json")


def test_success_stderr_is_ndjson_only(tmp_path):
    result = run_cli("run-processor", "--ref", "demo/echo@1", "--json",
                     "--artifacts-root", str(tmp_path))
    assert result.rc == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines
    assert all(isinstance(json.loads(line), dict) for line in lines)


USAGE_ERRORS = {
    "malformed inputs": ["--ref", "demo/echo@1", "--inputs-json", "{not json"],
    "inputs not an object": ["--ref", "demo/echo@1", "--inputs-json", "[1, 2]"],
    "unknown ref": ["--ref", "demo/nope@1"],
    "malformed ref": ["--ref", "Demo/echo"],
    "missing ref": [],
    "unknown adapter": ["--ref", "demo/echo@1", "--adapter", "nope"],
    "unknown mode": ["--ref", "demo/echo@1", "--mode", "smoke"],
    "unknown env": ["--ref", "demo/echo@1", "--env", "prod"],
}


@pytest.mark.parametrize("args", USAGE_ERRORS.values(), ids=USAGE_ERRORS.keys())
def test_usage_errors_print_exactly_one_error_envelope(tmp_path, args):
    result = run_cli("run-processor", *args, "--json", "--artifacts-root", str(tmp_path))
    assert result.rc == 2
    envelope = result.envelope
    assert envelope["status"] == "error"
    assert envelope["error"]["code"] == "ERR_INPUTS"


CHILD_FAILURES = ["crash_stderr", "garbage_stdout", "two_lines", "empty_stdout",
                  "index_absolute", "index_dotdot", "index_symlink", "handler_raises"]


@pytest.mark.parametrize("scenario", CHILD_FAILURES)
def test_child_failures_print_exactly_one_error_envelope(run_fixture, scenario):
    result = run_fixture(fixture_ref(scenario))
    assert result.rc == 30
    envelope = result.envelope
    assert envelope["status"] == "error"
    assert envelope["error"]["code"] == "ERR_ADAPTER_INVOCATION"
    assert envelope["execution_id"].startswith("ex-")


def test_ci_refusal_prints_exactly_one_error_envelope(tmp_path):
    result = run_cli("run-processor", "--ref", "demo/echo@1", "--mode", "real", "--json",
                     "--artifacts-root", str(tmp_path), env=cli_env(CI="true"))
    assert result.rc == 4
    assert result.envelope["error"]["code"] == "ERR_CI_SAFETY"


@pytest.mark.parametrize("scenario", ["handler_raises", "crash_stderr", "garbage_stdout"])
def test_error_stderr_is_ndjson_only_and_ends_with_one_cli_error(run_fixture, scenario):
    result = run_fixture(fixture_ref(scenario))
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]
    assert all(isinstance(record, dict) for record in records)
    assert [r["event"] for r in records].count("cli.error") == 1
    assert records[-1]["event"] == "cli.error"
    assert records[-1]["code"] == "ERR_ADAPTER_INVOCATION"


def test_human_mode_error_is_one_readable_line_and_no_stdout(tmp_path):
    result = run_cli("run-processor", "--ref", "demo/nope@1", "--artifacts-root", str(tmp_path))
    assert result.rc == 2
    assert result.stdout == ""
    assert "error: ERR_INPUTS: unknown ref 'demo/nope@1'" in result.stderr
