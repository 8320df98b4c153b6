"""Hangs and floods: the process group dies at the deadline, memory and tails stay bounded."""

import json
import subprocess
import sys

from tests.fixtures.project import fixture_ref
from tests.helpers import ROOT, gone_soon, peak_rss_argv

MIB = 1024 * 1024
TAIL_LIMIT = 8 * 1024
HEADER = "Container failed with exit code {rc}. STDERR:\n"


def test_hang_past_timeout_is_rc_124(run_fixture):
    result = run_fixture(fixture_ref("hang"), "--timeout-s", "0.5")
    assert result.rc == 30
    error = result.envelope["error"]
    assert error["code"] == "ERR_ADAPTER_INVOCATION"
    assert error["message"].startswith(HEADER.format(rc=124))
    assert result.envelope["meta"]["timed_out"] is True


def test_hang_is_retried_exactly_once(run_fixture):
    result = run_fixture(fixture_ref("hang"), "--timeout-s", "0.5")
    names = [event["event"] for event in result.events]
    assert names.count("adapter.invoke.start") == 2
    assert names.count("execution.retry") == 1
    assert result.envelope["meta"]["attempts"] == 2


def test_timeout_kills_the_whole_group_including_a_sigterm_ignoring_grandchild(
        run_fixture, tmp_path):
    pid_file = tmp_path / "pids.txt"
    result = run_fixture(fixture_ref("hang_grandchild"), "--timeout-s", "0.5",
                         "--inputs-json", json.dumps({"pid_file": str(pid_file)}))
    assert result.rc == 30
    assert result.envelope["error"]["message"].startswith(HEADER.format(rc=124))
    pids = [int(line) for line in pid_file.read_text().split()]
    assert len(pids) == 2  # one grandchild per attempt
    assert all(gone_soon(pid) for pid in pids)


def test_stderr_flood_keeps_parent_memory_bounded_and_tail_at_8_kib(fixture_env, tmp_path):
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    argv = [sys.executable, "-m", "invoke", "run-processor", "--ref", fixture_ref("stderr_flood"),
            "--json", "--artifacts-root", str(tmp_path / "art")]
    peak_file = tmp_path / "peak-kib"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        # wait4 (in the launcher) reports this CLI's own peak RSS (and that of its waited-for
        # children), not the pytest process's.
        proc = subprocess.Popen(peak_rss_argv(peak_file, argv), cwd=ROOT, env=fixture_env,
                                stdout=stdout, stderr=stderr)
        proc.wait()
    peak_kib = int(peak_file.read_text())
    assert proc.returncode == 30
    assert peak_kib < 150 * 1024, f"CLI peak RSS {peak_kib} KiB for a 200 MB stderr flood"
    lines = out.read_text().splitlines()
    assert len(lines) == 1
    message = json.loads(lines[0])["error"]["message"]
    assert message.startswith(HEADER.format(rc=1))
    assert len(message.encode()) <= len(HEADER.format(rc=1)) + TAIL_LIMIT
    assert message.rstrip().endswith("fixture stderr_flood: the very last line")
    assert err.stat().st_size < 4 * MIB  # forwarding stops at its budget
    suppressed = [line for line in err.read_text().splitlines()
                  if '"processor.stderr.suppressed"' in line]
    assert len(suppressed) == 1
