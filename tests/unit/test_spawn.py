"""The one spawn helper: rc, deadline, group kill, bounded output, stdin, no TTY."""

import json
import os
import select
import sys
import textwrap
import threading

import pytest

from runtime.child.spawn import (
    CUT_MARGIN_BYTES,
    LINE_LIMIT_BYTES,
    SPAWN_MARKER_ENV,
    STDERR_TAIL_BYTES,
    STDOUT_RING_BYTES,
    TIMEOUT_RC,
    _drain,
    spawn,
)
from tests.helpers import gone_soon


def _py(code: str, **kwargs):
    return spawn([sys.executable, "-c", textwrap.dedent(code)], **kwargs)


def test_returns_the_child_exit_code():
    assert _py("raise SystemExit(7)").rc == 7


def test_success_returns_stdout_and_timing():
    result = _py("print('hello')")
    assert result.rc == 0
    assert result.stdout == b"hello\n"
    assert result.stdout_len == 6
    assert not result.timed_out
    assert result.elapsed_ms >= 0


def test_deadline_kills_the_child_with_rc_124():
    result = _py("import time; time.sleep(60)", timeout_s=0.3)
    assert result.rc == TIMEOUT_RC
    assert result.timed_out


def test_deadline_kills_the_whole_group_including_sigterm_ignoring_grandchild(tmp_path):
    pid_file = tmp_path / "pid"
    result = _py(f"""
        import os, signal, time
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            time.sleep(60)
            os._exit(0)
        open({str(pid_file)!r}, "w").write(str(pid))
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        time.sleep(60)
    """, timeout_s=0.5)
    assert result.rc == TIMEOUT_RC
    assert gone_soon(int(pid_file.read_text()))


def test_a_background_grandchild_does_not_outlive_a_normal_exit(tmp_path):
    pid_file = tmp_path / "pid"
    result = _py(f"""
        import os, time
        pid = os.fork()
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        open({str(pid_file)!r}, "w").write(str(pid))
    """, timeout_s=10)
    assert result.rc == 0
    assert not result.timed_out
    assert gone_soon(int(pid_file.read_text()))


def test_stderr_tail_is_bounded_and_keeps_the_end():
    result = _py("""
        import sys
        for i in range(20000):
            sys.stderr.write(f"line {i}\\n")
    """)
    assert len(result.stderr_tail) <= STDERR_TAIL_BYTES + CUT_MARGIN_BYTES
    assert result.stderr_tail.endswith(b"line 19999\n")
    assert result.stderr_len > STDERR_TAIL_BYTES


def test_stderr_lines_reach_the_sink_in_order_and_cut_to_the_line_limit():
    seen = []
    _py("""
        import sys
        sys.stderr.write("first\\nsecond\\n" + "y" * 100000 + "\\nlast")
    """, on_stderr_line=seen.append)
    assert seen[:2] == [b"first", b"second"]
    # The long line is offered once, cut (with the margin the host redacts before cutting
    # again); its rest is dropped, never offered as lines of its own.
    assert len(seen) == 4
    assert seen[2] == b"y" * (LINE_LIMIT_BYTES + CUT_MARGIN_BYTES)
    assert seen[-1] == b"last"


def test_stdout_ring_is_bounded():
    result = _py("import sys; sys.stdout.write('z' * 300000)")
    assert result.stdout_len == 300000
    assert len(result.stdout_tail) <= STDOUT_RING_BYTES
    assert not result.stdout_overflow


def test_stdout_past_its_limit_is_flagged_and_dropped():
    result = _py("import sys; sys.stdout.buffer.write(b'z' * (17 * 1024 * 1024))")
    assert result.stdout_overflow
    assert result.stdout == b""
    assert result.stdout_len == 17 * 1024 * 1024


def test_stdin_is_delivered_in_full_and_then_closed():
    data = json.dumps({"blob": "q" * 500000}).encode()
    result = _py("import sys; d = sys.stdin.buffer.read(); print(len(d))", stdin=data)
    assert result.stdout.strip() == str(len(data)).encode()


def test_a_small_stdin_is_written_at_once_and_closed():
    result = _py("import sys; print(repr(sys.stdin.buffer.read()))", stdin=b"small payload")
    assert result.stdout.strip() == b"b'small payload'"


@pytest.mark.parametrize("size", [10, 500000])
def test_a_child_that_never_reads_its_stdin_is_no_error(size):
    result = _py("import os; os.close(0); print('ignored stdin')", stdin=b"x" * size)
    assert result.rc == 0
    assert result.stdout.strip() == b"ignored stdin"


def test_child_has_no_tty_on_any_stream():
    result = _py("import os; print([os.isatty(fd) for fd in (0, 1, 2)])")
    assert result.stdout.strip() == b"[False, False, False]"


def test_child_runs_in_its_own_session():
    result = _py("import os; print(os.getsid(0) == os.getpid())")
    assert result.stdout.strip() == b"True"


def test_unbuffered_and_log_stream_are_always_set():
    result = _py("import os; print(os.environ['PYTHONUNBUFFERED'], os.environ['LOG_STREAM'])",
                 env={"PATH": "/usr/bin:/bin", "PYTHONUNBUFFERED": "0"})
    assert result.stdout.strip() == b"1 stderr"


def test_env_is_exactly_what_the_caller_passes():
    result = _py("import os, json; print(json.dumps(sorted(os.environ)))",
                 env={"PATH": "/usr/bin:/bin", "ONLY_THIS": "1"})
    names = set(json.loads(result.stdout))
    assert names <= {"PATH", "ONLY_THIS", "PYTHONUNBUFFERED", "LOG_STREAM", "LC_CTYPE",
                     SPAWN_MARKER_ENV}
    assert "ONLY_THIS" in names


def test_a_sink_that_raises_stops_forwarding_but_the_drain_goes_on():
    def broken_sink(line: bytes) -> bool:
        raise RecursionError("a log processor bug")

    result = _py("""
        import sys
        for i in range(20000):
            sys.stderr.write(f"line {i}\\n")
    """, on_stderr_line=broken_sink, timeout_s=30)
    assert result.rc == 0
    assert not result.timed_out
    assert result.stderr_tail.endswith(b"line 19999\n")


def test_a_setsid_descendant_holding_the_pipes_neither_blocks_nor_outlives_the_run(tmp_path):
    # The child starts a process in a new session (out of the group) that inherits stdout and
    # stderr and sleeps for minutes, then exits. spawn must return well before that sleep ends
    # and the escaped process must be gone: the drain has a deadline and the marker sweep kills it.
    pid_file = tmp_path / "escaped.pid"
    result = _py(f"""
        import subprocess, sys
        proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"],
                                start_new_session=True)
        open({str(pid_file)!r}, "w").write(str(proc.pid))
        print("child done")
    """, timeout_s=60)
    assert result.rc == 0
    assert result.stdout.strip() == b"child done"
    assert gone_soon(int(pid_file.read_text()))


def test_the_rest_of_a_cut_line_without_newline_is_not_offered_as_a_line():
    seen = []
    _py("""
        import sys
        sys.stderr.write("z" * 100000)
    """, on_stderr_line=seen.append)
    assert seen == [b"z" * (LINE_LIMIT_BYTES + CUT_MARGIN_BYTES)]


def test_a_write_landing_between_an_empty_poll_and_stop_is_still_read(monkeypatch):
    """The race a loaded machine hit (~1 run in 300 of a batch under I/O pressure, rc 0 with
    stdout lost): the reader's poll times out empty, the thread is paused, the child prints its
    envelope and exits, spawn sets ``stop``; the reader must still read what is now buffered."""
    read_fd, write_fd = os.pipe()
    stop = threading.Event()
    real_poll = select.poll

    class PausedPoller:
        """A poller whose first poll comes back empty, and during whose return the child's
        last write lands and ``stop`` is set (what a descheduled reader thread sees)."""

        def __init__(self):
            self._real = real_poll()
            self._calls = 0

        def register(self, fd, mask):
            self._real.register(fd, mask)

        def unregister(self, fd):
            self._real.unregister(fd)

        def poll(self, timeout):
            self._calls += 1
            if self._calls == 1:
                os.write(write_fd, b'{"status":"success"}\n')
                os.close(write_fd)
                stop.set()
                return []
            return self._real.poll(timeout)

    monkeypatch.setattr(select, "poll", PausedPoller)
    chunks = []
    try:
        _drain({read_fd: chunks.append}, stop)
        assert b"".join(chunks) == b'{"status":"success"}\n'
    finally:
        os.close(read_fd)
