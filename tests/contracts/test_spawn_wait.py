"""The spawn helper's wait: exit codes come back, deadlines still kill with rc 124."""

import os
import sys

import pytest

from runtime.child.spawn import TIMEOUT_RC, spawn


def test_spawn_returns_the_child_exit_code():
    result = spawn([sys.executable, "-c", "raise SystemExit(7)"], timeout_s=30)
    assert (result.rc, result.timed_out) == (7, False)


def test_spawn_kills_a_child_past_its_deadline_with_rc_124():
    result = spawn([sys.executable, "-c", "import time; time.sleep(30)"], timeout_s=0.3)
    assert (result.rc, result.timed_out) == (TIMEOUT_RC, True)


def test_spawn_without_pidfd_still_returns_the_exit_code(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delattr(os, "pidfd_open", raising=False)
    result = spawn([sys.executable, "-c", "raise SystemExit(3)"], timeout_s=30)
    assert (result.rc, result.timed_out) == (3, False)


def test_spawn_without_pidfd_still_kills_at_the_deadline(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delattr(os, "pidfd_open", raising=False)
    result = spawn([sys.executable, "-c", "import time; time.sleep(30)"], timeout_s=0.3)
    assert (result.rc, result.timed_out) == (TIMEOUT_RC, True)


def test_spawn_stops_offering_lines_to_a_sink_that_returns_false():
    seen: list[bytes] = []

    def sink(line: bytes) -> bool:
        seen.append(line)
        return len(seen) < 3

    code = "import sys\nfor i in range(100): sys.stderr.write(f'line {i}\\n')"
    result = spawn([sys.executable, "-c", code], timeout_s=30, on_stderr_line=sink)
    assert seen == [b"line 0", b"line 1", b"line 2"]
    assert result.stderr_tail.endswith(b"line 99\n")
