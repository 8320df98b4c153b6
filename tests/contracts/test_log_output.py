"""What stderr carries, per audience: NDJSON for machines, rendered lines for people."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.helpers import ROOT, CliResult, cli_env, run_cli, run_cli_on_terminal

# Test-only: the host's local adapter logs a warning through the standard `logging` module (as
# urllib3 does on a retried connection) and through `warnings` just before it spawns the child.
# Production code is untouched; the CLI is started the way `python -m invoke` starts it.
_WARN_DURING_RUN = """
import logging, sys, warnings
import runtime.adapters.local as local
_run = local.LocalAdapter.run
def run(self, request):
    logging.getLogger("urllib3.connectionpool").warning("Retrying (%s) after %s", "Retry(total=2)",
                                                        "connection broken")
    warnings.warn("Unverified HTTPS request is being made", UserWarning, stacklevel=1)
    return _run(self, request)
local.LocalAdapter.run = run
from invoke.main import program
sys.argv = ["invoke", *sys.argv[1:]]
program.run()
"""


def _run_with_library_warnings(*args: str) -> CliResult:
    proc = subprocess.run([sys.executable, "-c", _WARN_DURING_RUN, *args], cwd=str(ROOT),
                          env=cli_env(), capture_output=True, timeout=120, check=False)
    return CliResult(proc.returncode, proc.stdout.decode(), proc.stderr.decode())


def _ndjson(stderr: str) -> list[dict[str, object]]:
    records = [json.loads(line) for line in stderr.splitlines()]  # a non-JSON line fails here
    assert all(isinstance(record, dict) and "event" in record for record in records)
    return records


def test_a_standard_logging_warning_during_a_json_run_is_one_ndjson_line(tmp_path):
    result = _run_with_library_warnings("run-processor", "--ref", "demo/echo@1", "--json",
                                        "--artifacts-root", str(tmp_path))
    assert result.rc == 0, result.stderr
    assert result.envelope["status"] == "success"
    library = [r for r in _ndjson(result.stderr) if r["event"] == "library.log"]
    retry = [r for r in library if r["logger"] == "urllib3.connectionpool"]
    assert len(retry) == 1
    assert retry[0]["level"] == "warning"
    assert retry[0]["message"] == "Retrying (Retry(total=2)) after connection broken"
    assert any(r["logger"] == "py.warnings" and "Unverified HTTPS" in str(r["message"])
               for r in library)


def test_a_json_run_on_a_terminal_still_writes_only_ndjson(tmp_path):
    result = run_cli_on_terminal("run-processor", "--ref", "demo/echo@1", "--json",
                                 "--artifacts-root", str(tmp_path))
    assert result.rc == 0, result.stderr
    assert result.envelope["status"] == "success"
    assert "execution.settle" in [r["event"] for r in _ndjson(result.stderr)]


def test_a_failing_run_on_a_terminal_shows_no_raw_ndjson(tmp_path):
    result = run_cli_on_terminal("run-processor", "--ref", "demo/nope@1",
                                 "--artifacts-root", str(tmp_path),
                                 env=cli_env(NO_COLOR="1"))
    assert result.rc == 2
    lines = result.stderr.splitlines()
    assert lines, "the error must be told"
    assert not [line for line in lines if line.lstrip().startswith("{")], result.stderr
    assert any("execution.settle" in line and "code=ERR_INPUTS" in line for line in lines)
    assert lines[-1].startswith("error: ERR_INPUTS: unknown ref 'demo/nope@1'")
    assert "\x1b[" not in result.stderr  # NO_COLOR


def test_a_terminal_without_no_color_gets_colour(tmp_path):
    result = run_cli_on_terminal("run-processor", "--ref", "demo/nope@1",
                                 "--artifacts-root", str(tmp_path))
    assert result.rc == 2
    assert "\x1b[31m" in result.stderr


def test_a_crash_traceback_is_shown_once_as_text_lines(run_fixture, fixture_env, tmp_path):
    result = run_cli_on_terminal("run-processor", "--ref", "fixture/handler_raises@1",
                                 "--artifacts-root", str(tmp_path),
                                 env={**fixture_env, "NO_COLOR": "1"})
    assert result.rc == 30
    assert result.stderr.count("ValueError: fixture handler_raises: boom") == 1, result.stderr
    assert "\\n" not in result.stderr
    assert "Traceback (most recent call last):" in result.stderr.splitlines()[2]
    assert not [line for line in result.stderr.splitlines() if line.lstrip().startswith("{")]


def test_a_passing_golden_replay_logs_no_error_for_fixtures_meant_to_fail():
    result = run_cli("test-golden", "--json")
    assert result.rc == 0, result.stderr
    records = _ndjson(result.stderr)
    assert not [r for r in records if r["level"] == "error"], result.stderr
    expected = [r for r in records if r.get("expected") is True]
    assert expected
    assert all(r["level"] == "info" for r in expected)


def test_a_run_with_evidence_says_where_it_went_on_stderr(tmp_path):
    result = run_cli("run-processor", "--ref", "demo/echo@1", "--execution-id", "ex-told",
                     "--artifacts-root", str(tmp_path / "art"), "--evidence-dir", str(tmp_path / "ev"))
    assert result.rc == 0, result.stderr
    assert f"evidence: {tmp_path / 'ev' / 'ex-told'}" in result.stderr.splitlines()
    assert str(tmp_path / "ev") not in result.stdout


def test_a_json_run_with_evidence_says_where_it_went_in_a_log_event(tmp_path):
    result = run_cli("run-processor", "--ref", "demo/echo@1", "--json", "--execution-id", "ex-told",
                     "--artifacts-root", str(tmp_path / "art"), "--evidence-dir", str(tmp_path / "ev"))
    assert result.rc == 0, result.stderr
    assert result.envelope["status"] == "success"
    recorded = [r for r in _ndjson(result.stderr) if r["event"] == "evidence.recorded"]
    assert [r["folder"] for r in recorded] == [str(tmp_path / "ev" / "ex-told")]


def test_a_failed_run_with_evidence_still_says_where_it_went(tmp_path):
    result = run_cli("run-processor", "--ref", "demo/nope@1", "--execution-id", "ex-bad",
                     "--artifacts-root", str(tmp_path / "art"), "--evidence-dir", str(tmp_path / "ev"))
    assert result.rc == 2
    assert f"evidence: {tmp_path / 'ev' / 'ex-bad'}" in result.stderr.splitlines()


def test_evidence_package_json_on_a_terminal_draws_no_progress_bar(tmp_path):
    ran = run_cli("run-processor", "--ref", "demo/echo@1", "--artifacts-root", str(tmp_path / "a"),
                  "--evidence-dir", str(tmp_path / "ev"))
    assert ran.rc == 0, ran.stderr
    result = run_cli_on_terminal("evidence.package", "--src", str(tmp_path / "ev"), "--out",
                                 str(tmp_path / "e.tar.gz"), "--json")
    assert result.rc == 0, result.stderr
    assert result.envelope["ok"] is True
    assert "\r" not in result.stderr
    _ndjson(result.stderr)


def test_evidence_package_for_people_on_a_terminal_draws_its_bar(tmp_path):
    ran = run_cli("run-processor", "--ref", "demo/echo@1", "--artifacts-root", str(tmp_path / "a"),
                  "--evidence-dir", str(tmp_path / "ev"))
    assert ran.rc == 0, ran.stderr
    result = run_cli_on_terminal("evidence.package", "--src", str(tmp_path / "ev"), "--out",
                                 str(tmp_path / "e.tar.gz"))
    assert result.rc == 0, result.stderr
    assert "evidence.package [" in result.stderr


def test_the_real_modal_sdk_logger_reaches_stderr_as_one_ndjson_line():
    # modal attaches its own stderr handler when imported (lazily, after logging is set up)
    code = ("import logging, runtime.logging as rl; rl.configure_logging('info', fmt='json'); "
            "import modal; logging.getLogger('modal-client').warning('client is %s', 'old')")
    proc = subprocess.run([sys.executable, "-c", code], cwd=str(ROOT), env=cli_env(),
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    [record] = _ndjson(proc.stderr)
    assert (record["logger"], record["message"]) == ("modal-client", "client is old")
