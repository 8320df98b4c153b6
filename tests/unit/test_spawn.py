"""The one spawn helper: rc, deadline, group kill, bounded output, stdin, no TTY."""

import contextlib
import functools
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from runtime.child import spawn as spawn_module
from runtime.child.spawn import (
    CUT_MARGIN_BYTES,
    LINE_LIMIT_BYTES,
    SPAWN_MARKER_ENV,
    STDERR_TAIL_BYTES,
    STDOUT_RING_BYTES,
    TIMEOUT_RC,
    _Child,
    _Pump,
    spawn,
)
from tests.helpers import gone_soon


@pytest.fixture(autouse=True, params=["posix_spawn", "popen"])
def start_path(request, monkeypatch):
    """Every test runs both ways a child starts: ``os.posix_spawn`` (no ``cwd``: the container
    entry) and ``subprocess.Popen`` (a ``cwd``: the local adapter)."""
    if request.param == "popen":
        monkeypatch.setattr(sys.modules[__name__], "spawn",
                            functools.partial(spawn_module.spawn, cwd=os.getcwd()))
    return request.param


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


def test_the_drain_after_the_exit_reads_all_the_child_left_buffered():
    """The race a loaded machine hit with a drain thread (~1 run in 300 of a batch under I/O
    pressure, rc 0 with stdout lost) cannot happen with one poll: the exit and the last write
    arrive in the same wake-up, and the drain that follows reads everything buffered."""
    read_fd, write_fd = os.pipe()
    envelope = b'{"status":"success"}\n' * 3000  # fits in the pipe: written before the exit
    os.write(write_fd, envelope)
    os.close(write_fd)
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped: pidfd is ready
    chunks: list[bytes] = []
    pump = _Pump(_Child(proc.pid, -1, -1, -1, popen=proc), {read_fd: chunks.append}, None)
    try:
        assert pump.until_exit(time.monotonic() + 30)
        proc.wait()
        pump.drain()
    finally:
        pump.close()
        os.close(read_fd)
    assert b"".join(chunks) == envelope


def test_no_thread_is_started_for_a_run(monkeypatch):
    """One poll in the caller's thread serves the pipes, the exit and a large stdin."""
    started = []
    real_start = threading.Thread.start
    monkeypatch.setattr(threading.Thread, "start",
                        lambda self: (started.append(self), real_start(self))[1])
    result = _py("""
        import sys
        data = sys.stdin.buffer.read()
        sys.stderr.write("read %d\\n" % len(data))
        print(len(data))
    """, stdin=b"x" * (1024 * 1024), on_stderr_line=lambda line: None)
    assert result.rc == 0
    assert result.stdout.strip() == b"1048576"
    assert started == []


def test_a_descendant_still_writing_after_the_exit_stops_the_drain_at_its_grace(tmp_path):
    # A writer out of the group and without the marker (a clean environment) survives the run
    # and keeps writing to the inherited stderr: the drain reads it for its grace, then stops.
    started = tmp_path / "writer.started"
    writer = tmp_path / "writer.py"
    writer.write_text("import sys, time\n"
                      f"sys.stderr.write('x' * 100 + '\\n'); sys.stderr.flush()\n"
                      f"open({str(started)!r}, 'w').close()\n"
                      "while True:\n"
                      "    sys.stderr.write('x' * 100 + '\\n'); sys.stderr.flush(); time.sleep(0.01)\n")
    pid_file = tmp_path / "writer.pid"
    try:
        result = _py(f"""
            import os, subprocess, sys, time
            proc = subprocess.Popen([sys.executable, {str(writer)!r}], start_new_session=True,
                                    env={{}})
            open({str(pid_file)!r}, "w").write(str(proc.pid))
            while not os.path.exists({str(started)!r}):
                time.sleep(0.01)
            print("child done")
        """, timeout_s=60)
    finally:
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
    assert result.rc == 0
    assert result.stdout.strip() == b"child done"
    assert b"x" * 100 in result.stderr_tail
    # Still writing when the child exited: the drain ran to its grace (2 s), and no longer.
    assert 1_500 <= result.elapsed_ms < 10_000


def test_a_cancel_raised_by_a_signal_handler_inside_the_sink_ends_the_run(tmp_path):
    """The sink runs in the caller's thread, so a cancelling signal can land inside it; the
    cancel must end the run (child group killed), not be taken for a sink bug and swallowed."""
    from runtime.errors import CancelledError

    def cancel(signum, _frame):
        raise CancelledError(signal.Signals(signum).name)

    def sink(line: bytes) -> bool:
        os.kill(os.getpid(), signal.SIGUSR1)  # the handler runs before this call returns
        return True

    pid_file = tmp_path / "pid"
    previous = signal.signal(signal.SIGUSR1, cancel)
    try:
        with pytest.raises(CancelledError, match="SIGUSR1"):
            _py(f"""
                import os, sys, time
                open({str(pid_file)!r}, "w").write(str(os.getpid()))
                sys.stderr.write("one line\\n")
                time.sleep(60)
            """, on_stderr_line=sink, timeout_s=60)
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert gone_soon(int(pid_file.read_text()))


# -- how the child starts: posix_spawn without a cwd, subprocess with one ---------------------
def test_the_start_path_follows_the_cwd(monkeypatch, start_path):
    """No ``cwd``: ``os.posix_spawn`` starts the child (``subprocess`` is never needed); a
    ``cwd``: ``subprocess.Popen`` does (``posix_spawn`` has no portable chdir)."""
    calls = []
    real = os.posix_spawn
    monkeypatch.setattr(os, "posix_spawn", lambda *a, **k: (calls.append(a[0]), real(*a, **k))[1])
    assert _py("print('hi')").stdout == b"hi\n"
    assert calls == ([] if start_path == "popen" else [sys.executable])


def test_a_cwd_is_the_child_s_folder(tmp_path):
    result = _py("import os; print(os.getcwd())", cwd=str(tmp_path))
    assert result.stdout.decode().strip() == str(tmp_path)


def test_no_descriptor_of_ours_is_inherited():
    """An inheritable descriptor of the caller (above 2) is closed in the child either way."""
    fd = os.open(os.devnull, os.O_RDONLY)
    os.set_inheritable(fd, True)
    try:
        result = _py(f"""
            import os
            try:
                os.fstat({fd})
            except OSError:
                print("closed")
            else:
                print("open")
        """)
    finally:
        os.close(fd)
    assert result.stdout == b"closed\n"


def test_signals_python_ignores_are_back_at_their_defaults_in_the_child():
    """Python ignores SIGPIPE and SIGXFSZ; a child must not inherit that (``cat`` shows the
    ignored set it got across exec in ``SigIgn``)."""
    assert signal.getsignal(signal.SIGPIPE) == signal.SIG_IGN  # what the caller has
    result = spawn(["cat", "/proc/self/status"])  # both start paths (the fixture)
    ignored = next(int(line.split()[1], 16) for line in result.stdout.decode().splitlines()
                   if line.startswith("SigIgn:"))
    assert not ignored & (1 << (signal.SIGPIPE - 1))
    assert not ignored & (1 << (signal.SIGXFSZ - 1))


def test_a_bare_name_is_found_on_the_child_s_path(tmp_path):
    tool = tmp_path / "say-hi"
    tool.write_text("#!/bin/sh\necho hi from $0\n")
    tool.chmod(0o755)
    result = spawn(["say-hi"], env={"PATH": str(tmp_path)})
    assert result.rc == 0
    assert result.stdout == f"hi from {tool}\n".encode()


def test_a_missing_program_raises_and_leaves_no_descriptor_open(tmp_path):
    before = sorted(os.listdir("/proc/self/fd"))
    with pytest.raises(FileNotFoundError):
        spawn(["no-such-program-here"], env={"PATH": str(tmp_path)})
    with pytest.raises(FileNotFoundError):
        spawn([str(tmp_path / "absent")], env={"PATH": str(tmp_path)})
    assert sorted(os.listdir("/proc/self/fd")) == before


def test_a_child_killed_by_a_signal_reports_minus_the_signal():
    assert _py("import os, signal; os.kill(os.getpid(), signal.SIGTERM)").rc == -signal.SIGTERM


def test_a_caller_with_a_closed_stdin_still_feeds_the_child(tmp_path):
    """With our fd 0 closed a new pipe takes it: the child's ends could not be moved to 0-2 as
    ``posix_spawn`` does, so the start falls back to ``subprocess``, and the payload arrives."""
    code = textwrap.dedent("""
        import os, sys
        os.close(0)
        from runtime.child.spawn import spawn
        result = spawn([sys.executable, "-c", "import sys; print(sys.stdin.read())"],
                       stdin=b"payload")
        print(result.rc, result.stdout.decode().strip())
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, check=False,
                          timeout=60)
    assert done.stdout == b"0 payload\n", done.stderr
