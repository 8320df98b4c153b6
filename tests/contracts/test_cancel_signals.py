"""Cancelling a run (SIGTERM from a CI runner, SIGHUP, SIGINT) works like a timeout cut short:
the child's group is killed, the run's folders and temp files are removed, one error envelope is
printed, the CLI exits 130, and the execution id can be used again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.faults import check_no_partial_files, leftover_processes
from tests.fixtures.project import FIXTURE_PROCESSORS, build_fixture_root, fixture_ref
from tests.helpers import ROOT, cli_env


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_fixture_root(tmp_path_factory.mktemp("cancel-root"), include_bundled=False)


def _start(root: Path, tmp_path: Path, eid: str, *extra: str,
           timeout_s: str = "120") -> subprocess.Popen[bytes]:
    inputs = {"pid_file": str(tmp_path / "pids.txt")}
    argv = [sys.executable, "-m", "invoke", "run-processor", "--ref", fixture_ref("hang_grandchild"),
            "--json", "--timeout-s", timeout_s, "--execution-id", eid, "--inputs-json",
            json.dumps(inputs), "--artifacts-root", str(tmp_path / "art"), *extra]
    return subprocess.Popen(argv, cwd=ROOT, env=cli_env(PROCESSOR_RUNTIME_ROOT=str(root)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for_child(pid_file: Path, deadline_s: float = 90.0) -> None:
    deadline = time.monotonic() + deadline_s
    while not (pid_file.is_file() and pid_file.read_text().strip()):
        assert time.monotonic() < deadline, "the processor never started"
        time.sleep(0.05)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT],
                         ids=lambda s: signal.Signals(s).name)
def test_a_signal_cancels_the_run_with_one_envelope_and_leaves_nothing(
        signum: int, root: Path, tmp_path: Path) -> None:
    eid = f"cancel-{signal.Signals(signum).name.lower()}"
    evidence = tmp_path / "evidence"
    proc = _start(root, tmp_path, eid, "--evidence-dir", str(evidence))
    _wait_for_child(tmp_path / "pids.txt")
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr[-2000:]
    lines = stdout.decode().splitlines()
    assert len(lines) == 1, stdout
    envelope = json.loads(lines[0])
    assert envelope["status"] == "error"
    assert envelope["error"]["code"] == "ERR_ADAPTER_INVOCATION"
    assert signal.Signals(signum).name in envelope["error"]["message"]
    for line in stderr.decode().splitlines():
        assert isinstance(json.loads(line), dict)
    marker = str(FIXTURE_PROCESSORS / "hang_grandchild" / "main.py")
    assert leftover_processes(marker) == []
    art = tmp_path / "art"
    assert not (art / "runs" / eid).exists()
    assert not (art / "execution" / eid).exists()
    check_no_partial_files(art, evidence)
    recorded = json.loads((evidence / eid / "envelope.json").read_text())
    assert recorded["error"]["code"] == "ERR_ADAPTER_INVOCATION"


def test_the_id_of_a_cancelled_run_can_be_used_again(root: Path, tmp_path: Path) -> None:
    proc = _start(root, tmp_path, "cancel-reuse")
    _wait_for_child(tmp_path / "pids.txt")
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=120)
    assert proc.returncode == 130
    (tmp_path / "pids.txt").unlink()
    again = _start(root, tmp_path, "cancel-reuse", timeout_s="1")
    stdout, _ = again.communicate(timeout=120)
    envelope = json.loads(stdout.decode().splitlines()[0])
    # Refused for its id it would be ERR_INPUTS; it ran (and timed out) instead.
    assert envelope["error"]["code"] == "ERR_ADAPTER_INVOCATION", envelope
    assert "already used" not in envelope["error"]["message"]
    assert os.path.exists(tmp_path / "pids.txt")
