"""The marker sweep reads only pids handed out since the spawn, and every pid when it cannot
show that no other pid is new (the allocator may have gone round, or /proc does not say)."""

import contextlib
import os
import subprocess
import sys
import uuid

import pytest

from runtime.child import spawn as spawn_mod
from runtime.child.spawn import SPAWN_MARKER_ENV, PidWindow, sweep_marked
from tests.helpers import gone_soon


def _fake_proc(monkeypatch, *, last: int, alive: int, forks: int, pid_max: int = 32768):
    files = {
        "/proc/loadavg": f"0.10 0.20 0.30 1/{alive} {last}\n".encode(),
        "/proc/stat": f"cpu  1 2 3\nintr 5 6\nctxt 9\nprocesses {forks}\nprocs_running 1\n".encode(),
        "/proc/sys/kernel/pid_max": f"{pid_max}\n".encode(),
    }
    monkeypatch.setattr(spawn_mod, "_read_proc", lambda path: files.get(path))
    monkeypatch.setattr(spawn_mod, "_PID_MAX", [])
    return files


def _advance(files, *, last: int, alive: int, forks: int):
    files["/proc/loadavg"] = f"0.10 0.20 0.30 1/{alive} {last}\n".encode()
    files["/proc/stat"] = f"processes {forks}\n".encode()


def test_without_a_wrap_the_window_is_the_pids_after_the_first(monkeypatch):
    files = _fake_proc(monkeypatch, last=1000, alive=90, forks=50_000)
    window = PidWindow.now()
    _advance(files, last=1004, alive=92, forks=50_004)
    assert window.pids() == (range(1001, 1005),)


def test_a_wrap_gives_the_top_of_the_cycle_and_its_bottom(monkeypatch):
    files = _fake_proc(monkeypatch, last=32760, alive=90, forks=50_000)
    window = PidWindow.now()
    _advance(files, last=305, alive=90, forks=50_020)
    assert window.pids() == (range(32761, 32768), range(1, 306))


@pytest.mark.parametrize(("forks_after", "alive_after"), [
    (50_000 + 16_384, 90),  # half the cycle handed out: the cursor may have gone round
    (50_000 + 10, 16_384),  # half the cycle in use: skipped pids could have carried it round
    (49_999, 90),  # the counter went back: nothing can be shown
])
def test_when_the_allocator_may_have_gone_round_every_pid_is_read(monkeypatch, forks_after, alive_after):
    files = _fake_proc(monkeypatch, last=1000, alive=90, forks=50_000)
    window = PidWindow.now()
    _advance(files, last=1003, alive=alive_after, forks=forks_after)
    assert window.pids() is None


def test_unreadable_proc_gives_no_window(monkeypatch):
    monkeypatch.setattr(spawn_mod, "_read_proc", lambda path: None)
    assert PidWindow.now() is None


def test_unparseable_loadavg_gives_no_window_later(monkeypatch):
    files = _fake_proc(monkeypatch, last=1000, alive=90, forks=50_000)
    window = PidWindow.now()
    files["/proc/loadavg"] = b"garbage\n"
    assert window.pids() is None


@contextlib.contextmanager
def _marked_sleeper(marker: str):
    """A sleeper in its own session carrying ``marker``, yielded once it runs (before its exec
    a forked child's /proc environ is still its parent's), killed afterwards."""
    env = {**os.environ, SPAWN_MARKER_ENV: marker}
    proc = subprocess.Popen([sys.executable, "-c", "print('up', flush=True); import time; time.sleep(300)"],
                            env=env, start_new_session=True, stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline() == b"up\n"
        yield proc
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


def test_a_marked_process_started_after_the_window_is_killed():
    marker = uuid.uuid4().hex
    window = PidWindow.now()
    assert window is not None  # this machine's /proc says; the fallback is tested above
    with _marked_sleeper(marker) as proc:
        assert proc.pid in _flatten(window.pids())
        assert sweep_marked(marker, window) >= 1
        assert gone_soon(proc.pid)


def test_when_the_window_cannot_be_shown_the_sweep_reads_every_process(monkeypatch):
    marker = uuid.uuid4().hex
    with _marked_sleeper(marker) as proc:  # started before the window: only a full read finds it
        window = PidWindow.now()
        assert window is not None
        assert proc.pid not in _flatten(window.pids())
        monkeypatch.setattr(PidWindow, "pids", lambda self: None)
        assert sweep_marked(marker, window) >= 1
        assert gone_soon(proc.pid)


def test_a_process_without_the_marker_in_the_window_is_left_alone():
    window = PidWindow.now()
    with _marked_sleeper(uuid.uuid4().hex) as proc:
        assert sweep_marked(uuid.uuid4().hex, window) == 0
        assert proc.poll() is None


def _flatten(window) -> list[int]:
    assert window is not None
    return [pid for part in window for pid in part]
