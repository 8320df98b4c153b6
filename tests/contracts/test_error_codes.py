"""Each canon code the local path can produce, through the real CLI, with its exit code."""

import json

import pytest

from tests.fixtures.project import fixture_ref
from tests.helpers import cli_env, run_cli


def _cli(tmp_path, *args, env=None):
    return run_cli("run-processor", *args, "--json", "--artifacts-root", str(tmp_path / "art"),
                   env=env)


def _names(result):
    return [event["event"] for event in result.events]


def test_malformed_inputs_json_is_err_inputs(tmp_path):
    result = _cli(tmp_path, "--ref", "demo/echo@1", "--inputs-json", '{"a": ')
    assert result.rc == 2
    assert result.envelope["error"]["code"] == "ERR_INPUTS"
    assert "not valid JSON" in result.envelope["error"]["message"]


def test_inputs_that_are_not_an_object_are_err_inputs(tmp_path):
    result = _cli(tmp_path, "--ref", "demo/echo@1", "--inputs-json", '"just a string"')
    assert result.rc == 2
    assert result.envelope["error"]["message"] == "inputs must be a JSON object, got str"


def test_oversized_inputs_file_is_err_inputs(tmp_path):
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"blob": "x" * (1024 * 1024 + 1)}))
    result = _cli(tmp_path, "--ref", "demo/echo@1", "--inputs-file", str(big))
    assert result.rc == 2
    assert result.envelope["error"]["code"] == "ERR_INPUTS"
    assert "exceeds 1048576 bytes" in result.envelope["error"]["message"]


def test_unknown_ref_is_err_inputs_naming_known_refs(tmp_path):
    result = _cli(tmp_path, "--ref", "demo/nope@1")
    assert result.rc == 2
    assert result.envelope["error"]["code"] == "ERR_INPUTS"
    assert "unknown ref 'demo/nope@1'" in result.envelope["error"]["message"]
    assert "demo/echo@1" in result.envelope["error"]["message"]


def test_both_inputs_flags_are_err_inputs(tmp_path):
    file = tmp_path / "in.json"
    file.write_text("{}")
    result = _cli(tmp_path, "--ref", "demo/echo@1", "--inputs-json", "{}",
                  "--inputs-file", str(file))
    assert result.rc == 2
    assert "either --inputs-json or --inputs-file" in result.envelope["error"]["message"]


def test_real_mode_under_ci_is_err_ci_safety_before_any_spawn(tmp_path):
    result = _cli(tmp_path, "--ref", "demo/echo@1", "--mode", "real", env=cli_env(CI="true"))
    assert result.rc == 4
    assert result.envelope["error"]["code"] == "ERR_CI_SAFETY"
    assert "adapter.invoke.start" not in _names(result)


def test_missing_declared_secret_in_real_mode_is_err_missing_secret(tmp_path):
    # CI is unset (cli_env drops it) so the CI guard passes; ACME_API_KEY is absent, and the
    # refusal comes from build_child_env before the spawn helper runs: nothing is spawned, so
    # no adapter.invoke.start and no processor.start event can appear.
    result = _cli(tmp_path, "--ref", "acme/summarize@1", "--mode", "real",
                  "--inputs-json", '{"text": "hello"}', env=cli_env(CI=None, ACME_API_KEY=None))
    assert result.rc == 3
    envelope = result.envelope
    assert envelope["error"]["code"] == "ERR_MISSING_SECRET"
    assert "ACME_API_KEY" in envelope["error"]["message"]
    assert envelope["error"]["retryable"] is False
    names = _names(result)
    assert "processor.start" not in names
    assert "adapter.invoke.start" not in names
    assert names[-2:] == ["execution.settle", "cli.error"]


def test_child_exiting_nonzero_reports_rc_and_stderr_tail(run_fixture):
    result = run_fixture(fixture_ref("crash_stderr"))
    assert result.rc == 30
    error = result.envelope["error"]
    assert error["code"] == "ERR_ADAPTER_INVOCATION"
    assert error["message"].startswith("Container failed with exit code 3. STDERR:\n")
    assert error["message"].rstrip().endswith("last line before exit 3")
    assert error["retryable"] is False


def test_child_failure_meta_carries_elapsed_stderr_digest_and_stdout_len(run_fixture):
    meta = run_fixture(fixture_ref("crash_stderr")).envelope["meta"]
    assert isinstance(meta["elapsed_ms"], int)
    assert len(meta["stderr_sha256"]) == 64
    assert meta["stdout_len"] == 0


def test_handler_exception_reports_its_last_traceback_line(run_fixture):
    message = run_fixture(fixture_ref("handler_raises")).envelope["error"]["message"]
    assert message.startswith("Container failed with exit code 1. STDERR:\n")
    assert "ValueError: fixture handler_raises: boom" in message


def test_crashed_child_leaves_no_index_or_receipt(run_fixture, tmp_path):
    envelope = run_fixture(fixture_ref("handler_raises")).envelope
    prefix = tmp_path / "artifacts" / "runs" / envelope["execution_id"]
    assert not (prefix / "outputs.json").exists()
    assert not (prefix / "receipt.json").exists()
    assert not (tmp_path / "artifacts" / "execution" / envelope["execution_id"]).exists()


@pytest.mark.parametrize(("scenario", "reason"), [
    ("garbage_stdout", "stdout is not JSON"),
    ("two_lines", "stdout has 2 lines (expected exactly one)"),
    ("empty_stdout", "stdout is empty"),
])
def test_broken_stdout_is_err_adapter_invocation_with_reason(run_fixture, scenario, reason):
    result = run_fixture(fixture_ref(scenario))
    assert result.rc == 30
    assert result.envelope["error"]["code"] == "ERR_ADAPTER_INVOCATION"
    assert reason in result.envelope["error"]["message"]
    assert reason in result.stderr


@pytest.mark.parametrize("scenario", ["index_absolute", "index_dotdot", "index_symlink"])
def test_index_path_outside_the_prefix_is_err_adapter_invocation(run_fixture, scenario):
    result = run_fixture(fixture_ref(scenario))
    assert result.rc == 30
    error = result.envelope["error"]
    assert error["code"] == "ERR_ADAPTER_INVOCATION"
    assert "resolves outside the write prefix" in error["message"]
