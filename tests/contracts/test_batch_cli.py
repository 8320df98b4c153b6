"""``inv run-batch`` as a subprocess: one stdout line, exit codes, NDJSON stderr, SIGKILL resume."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.fixtures.project import FIXTURE_PROCESSORS, fixture_ref
from tests.helpers import cli_env, gone_soon, journaled, run_cli, sigkill_batch_midway

MIXED = fixture_ref("batch_mixed")


def _ndjson(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), "utf-8")
    return path


def _batch(root: Path, source: Path, artifacts: Path, *extra: str, **env: str):
    return run_cli("run-batch", "--ref", MIXED, "--inputs-ndjson", str(source),
                   "--artifacts-root", str(artifacts), *extra,
                   env=cli_env(PROCESSOR_RUNTIME_ROOT=str(root), **env), timeout=300)


def _all_ndjson(stderr: str) -> None:
    for line in stderr.splitlines():
        assert isinstance(json.loads(line), dict), line


def test_json_batch_prints_one_envelope_line_and_exits_zero_when_all_succeed(fixture_root,
                                                                             tmp_path):
    source = _ndjson(tmp_path / "in.ndjson", [{"case": "ok", "n": n} for n in range(3)])
    result = _batch(fixture_root, source, tmp_path / "art", "--json", "--batch-id", "ok3")
    assert result.rc == 0, result.stderr
    envelope = result.envelope
    assert envelope["status"] == "success"
    assert envelope["batch_id"] == "ok3"
    assert envelope["counts"] == {"success": 3, "error": 0, "not_run": 0}
    assert Path(envelope["items_path"]).read_text().count("\n") == 3
    assert envelope["receipt_sha256"]
    _all_ndjson(result.stderr)
    progress = [e for e in result.events if e["event"] == "batch.progress"]
    assert progress
    assert progress[-1]["final"]
    assert progress[-1]["done"] == 3


def test_json_batch_with_failed_items_exits_one_with_counts_by_code(fixture_root, tmp_path):
    source = _ndjson(tmp_path / "in.ndjson", [{"case": "ok"}, {"case": "inputs_error"},
                                              {"case": "crash"}])
    result = _batch(fixture_root, source, tmp_path / "art", "--json")
    assert result.rc == 1, result.stderr
    envelope = result.envelope
    assert envelope["status"] == "error"
    assert envelope["errors"] == {"ERR_ADAPTER_INVOCATION": 1, "ERR_INPUTS": 1}
    _all_ndjson(result.stderr)


def test_a_bad_line_gives_one_error_envelope_naming_it_and_runs_nothing(fixture_root, tmp_path):
    source = tmp_path / "in.ndjson"
    source.write_bytes(b'{"case": "ok"}\n{"case": "ok"\n\xff\n')
    result = _batch(fixture_root, source, tmp_path / "art", "--json")
    assert result.rc == 2
    error = result.envelope["error"]
    assert error["code"] == "ERR_INPUTS"
    assert "line 2: inputs are not valid JSON" in error["message"]
    assert "line 3: not valid UTF-8" in error["message"]
    assert not [e for e in result.events if e["event"] == "execution.start"]
    assert not (tmp_path / "art").exists()


def test_real_mode_is_refused_under_ci(fixture_root, tmp_path):
    source = _ndjson(tmp_path / "in.ndjson", [{"case": "ok"}])
    result = _batch(fixture_root, source, tmp_path / "art", "--json", "--mode", "real", CI="true")
    assert result.rc == 4
    assert result.envelope["error"]["code"] == "ERR_CI_SAFETY"


def test_a_non_integer_concurrency_is_an_inputs_error_envelope(fixture_root, tmp_path):
    source = _ndjson(tmp_path / "in.ndjson", [{"case": "ok"}])
    result = _batch(fixture_root, source, tmp_path / "art", "--json", "--concurrency", "two")
    assert result.rc == 2
    assert "--concurrency must be an integer" in result.envelope["error"]["message"]


def test_human_mode_prints_a_summary_and_ndjson_progress_when_stderr_is_no_terminal(
        fixture_root, tmp_path):
    source = _ndjson(tmp_path / "in.ndjson", [{"case": "ok"}, {"case": "crash"}])
    result = _batch(fixture_root, source, tmp_path / "art", "--batch-id", "human")
    assert result.rc == 1
    assert result.stdout.startswith("batch human: error — 1/2 succeeded, 1 failed")
    assert "ERR_ADAPTER_INVOCATION: 1" in result.stdout
    assert [e for e in result.events if e["event"] == "batch.progress"]


def _children_of_fixture() -> list[int]:
    """Processor children still running the batch fixture (orphaned by the SIGKILL)."""
    marker = str(FIXTURE_PROCESSORS / "batch_mixed").encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_sigkill_mid_batch_loses_nothing_and_the_next_run_finishes_it(fixture_root, tmp_path):
    total = 24
    source = _ndjson(tmp_path / "in.ndjson", [{"case": "slow", "n": n} for n in range(total)])
    art = tmp_path / "art"
    results = art / "batches" / "killed" / "results.ndjson"
    argv = [sys.executable, "-m", "invoke", "run-batch", "--ref", MIXED, "--inputs-ndjson",
            str(source), "--artifacts-root", str(art), "--batch-id", "killed", "--json"]
    sigkill_batch_midway(argv, cli_env(PROCESSOR_RUNTIME_ROOT=str(fixture_root)), results)
    for pid in _children_of_fixture():  # orphans finish their item; they write no result
        assert gone_soon(pid, 60)
    finished = journaled(results)
    assert 3 <= len(finished) < total

    resumed = _batch(fixture_root, source, art, "--json", "--batch-id", "killed")
    assert resumed.rc == 0, resumed.stderr
    assert resumed.envelope["reused"] == len(finished)
    started = {e["execution_id"] for e in resumed.events if e["event"] == "execution.start"}
    assert len(started) == total - len(finished)
    assert not started & set(finished)
    items = Path(resumed.envelope["items_path"]).read_text().splitlines()
    assert [json.loads(line)["meta"]["batch_index"] for line in items] == list(range(total))

    whole = _batch(fixture_root, source, tmp_path / "whole", "--json", "--batch-id", "killed")
    assert whole.rc == 0, whole.stderr
    assert resumed.envelope["receipt_sha256"] == whole.envelope["receipt_sha256"]


@pytest.mark.parametrize("flag", ["--ref", "--inputs-ndjson"])
def test_a_missing_required_flag_is_an_inputs_error(fixture_root, tmp_path, flag):
    source = _ndjson(tmp_path / "in.ndjson", [{"case": "ok"}])
    argv = {"--ref": MIXED, "--inputs-ndjson": str(source)}
    argv.pop(flag)
    result = run_cli("run-batch", *[x for pair in argv.items() for x in pair], "--json",
                     env=cli_env(PROCESSOR_RUNTIME_ROOT=str(fixture_root)))
    assert result.rc == 2
    assert flag in result.envelope["error"]["message"]
