"""The one spawn helper: run a child with a deadline, bounded memory and streamed stderr.

Shared by the local adapter and the in-container entry, so it uses the standard library only.
The child runs in its own session (process group); at the deadline the whole group is killed and
``rc`` is 124. Afterwards the group is always reaped, and so is every process that carries this
spawn's marker in its environment (``SPAWN_MARKER_ENV``): a descendant that left the group with
``setsid`` still outlives no run. The pipes are drained with a deadline, so a descendant that
holds them open cannot keep the caller waiting either.

Tails and lines are kept ``CUT_MARGIN_BYTES`` beyond their reported bounds: the host redacts first
and cuts afterwards, so a secret straddling a cut is still whole when it is redacted.
"""

from __future__ import annotations

import os
import select
import time

# Only what a run needs, standard library: the container entry imports this module in every docker
# run, where ``subprocess`` (with ``signal``'s enums, ``threading``, ``selectors``), ``contextlib``
# and ``collections`` cost ~11 ms of its interpreter's start. ``_signal`` holds the same numbers.
try:
    from _signal import SIGKILL, SIGPIPE, SIGTERM, SIGXFSZ  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - an interpreter without the C module
    from signal import SIGKILL, SIGPIPE, SIGTERM, SIGXFSZ

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: typing stays out of the container entry
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from subprocess import Popen
    from types import TracebackType

STDERR_TAIL_BYTES = 8 * 1024
STDOUT_LIMIT_BYTES = 16 * 1024 * 1024
STDOUT_RING_BYTES = 64 * 1024
LINE_LIMIT_BYTES = 16 * 1024
TIMEOUT_RC = 124
#: Kept beyond ``STDERR_TAIL_BYTES`` and ``LINE_LIMIT_BYTES`` so the host can redact a secret that
#: straddles a cut before it applies the cut (secrets longer than this are cut-edge redacted).
CUT_MARGIN_BYTES = 1024
#: Every child gets this variable with a value unique to its spawn; after the run every process
#: still carrying it (an escaped ``setsid`` descendant included) is killed.
SPAWN_MARKER_ENV = "PROCESSOR_SPAWN_MARKER"
_CHUNK = 64 * 1024
_KILL_GRACE_S = 0.5
_POLL_MS = 50
_DRAIN_GRACE_S = 2.0  # after the child is gone: read what is buffered, then stop
_SWEEP_ROUNDS = 5

# A line sink may return False to say it wants no more lines (e.g. its log budget is spent);
# spawn then stops splitting lines and only keeps the bounded tail.
if TYPE_CHECKING:
    LineSink = Callable[[bytes], bool | None]


class _Suppress:
    """``contextlib.suppress`` without importing contextlib (and collections, functools)."""

    __slots__ = ("_kinds",)

    def __init__(self, *kinds: type[BaseException]) -> None:
        self._kinds = kinds

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool:
        return kind is not None and issubclass(kind, self._kinds)


class SpawnResult:
    """What the caller needs to judge a run; every byte field is bounded.

    A plain read-only class, not a dataclass: the container entry imports this module in every
    docker run and ``dataclasses`` (with ``inspect``) costs ~10 ms of interpreter start there.
    """

    _FIELDS = ("rc", "stdout", "stdout_tail", "stdout_len", "stdout_overflow", "stderr_tail",
               "stderr_len", "elapsed_ms", "timed_out")
    __slots__ = _FIELDS

    rc: int
    stdout: bytes
    stdout_tail: bytes
    stdout_len: int
    stdout_overflow: bool
    stderr_tail: bytes
    stderr_len: int
    elapsed_ms: int
    timed_out: bool

    def __init__(self, *, rc: int, stdout: bytes, stdout_tail: bytes, stdout_len: int,
                 stdout_overflow: bool, stderr_tail: bytes, stderr_len: int, elapsed_ms: int,
                 timed_out: bool) -> None:
        values = (rc, stdout, stdout_tail, stdout_len, stdout_overflow, stderr_tail, stderr_len,
                  elapsed_ms, timed_out)
        for name, value in zip(self._FIELDS, values, strict=True):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"SpawnResult is read-only (cannot set {name!r})")

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self._FIELDS)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SpawnResult) and self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._FIELDS)
        return f"SpawnResult({fields})"

    def to_wire(self) -> dict[str, object]:
        """This result as JSON-able data: what a Modal function returns across the wire."""
        return {name: (value.decode("utf-8", "surrogateescape") if isinstance(value, bytes)
                       else value) for name, value in zip(self._FIELDS, self._values(), strict=True)}

    @classmethod
    def from_wire(cls, data: Mapping[str, object]) -> SpawnResult:
        """The inverse of :meth:`to_wire`; ``ValueError`` when a field is missing or mistyped."""
        values: dict[str, object] = {}
        for name in cls._FIELDS:
            if name not in data:
                raise ValueError(f"child result misses {name!r}")
            value = data[name]
            kind = _WIRE_TYPES[name]
            if kind is bytes:
                if not isinstance(value, str):
                    raise ValueError(f"child result field {name!r} must be text")
                value = value.encode("utf-8", "surrogateescape")
            elif kind is bool:
                if not isinstance(value, bool):
                    raise ValueError(f"child result field {name!r} must be a boolean")
            elif isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"child result field {name!r} must be an integer")
            values[name] = value
        return cls(**values)  # type: ignore[arg-type]


_WIRE_TYPES: dict[str, type] = {
    "rc": int, "stdout": bytes, "stdout_tail": bytes, "stdout_len": int, "stdout_overflow": bool,
    "stderr_tail": bytes, "stderr_len": int, "elapsed_ms": int, "timed_out": bool}


class _Tail:
    """A bounded byte ring: keeps only the last ``limit`` bytes written."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._kept = bytearray()

    def add(self, data: bytes) -> None:
        kept = self._kept
        kept += data
        if len(kept) > 2 * self.limit:  # trimmed now and then: amortised O(1) per byte
            del kept[:-self.limit]

    def value(self) -> bytes:
        return bytes(self._kept[-self.limit :])


class StdoutCollector:
    """Keep a child's stdout up to ``STDOUT_LIMIT_BYTES`` (past it: dropped, ``overflow``) and a
    bounded ring of its end, chunk by chunk. Memory stays bounded."""

    def __init__(self) -> None:
        self._kept = bytearray()
        self._ring = _Tail(STDOUT_RING_BYTES)
        self._total = 0
        self._overflow = False

    def feed(self, chunk: bytes) -> None:
        self._total += len(chunk)
        self._ring.add(chunk)
        if not self._overflow:
            if len(self._kept) + len(chunk) > STDOUT_LIMIT_BYTES:
                self._overflow = True
                self._kept.clear()
            else:
                self._kept.extend(chunk)

    def result(self) -> tuple[bytes, bytes, int, bool]:
        """``(kept, tail, total, overflow)``."""
        return bytes(self._kept), self._ring.value(), self._total, self._overflow


class StderrSplitter:
    """Split a child's stderr into lines for ``sink`` and keep the end of the stream, chunk by
    chunk. Lines are cut to ``LINE_LIMIT_BYTES`` and the tail to ``STDERR_TAIL_BYTES``, each plus
    ``CUT_MARGIN_BYTES`` (the host cuts again after redacting); the rest of a cut line is
    dropped, never offered as a line of its own. A sink returning False (or raising) gets no
    more lines, but the stream is still drained to its end."""

    _OFFER_LIMIT = LINE_LIMIT_BYTES + CUT_MARGIN_BYTES

    def __init__(self, sink: LineSink | None) -> None:
        self._tail = _Tail(STDERR_TAIL_BYTES + CUT_MARGIN_BYTES)
        self._sink = sink
        self._pending = b""
        self._skipping = False  # the rest of a line already offered cut: dropped up to its newline
        self._total = 0

    def feed(self, chunk: bytes) -> None:
        self._total += len(chunk)
        self._tail.add(chunk)
        if self._sink is None:
            return
        limit = self._OFFER_LIMIT
        *lines, self._pending = (self._pending + chunk).split(b"\n")
        for line in lines:
            if self._skipping:
                self._skipping = False
                continue
            if not _offer(self._sink, line[:limit]):
                self._sink, self._pending = None, b""
                return
        if self._skipping:
            self._pending = b""
        elif len(self._pending) > limit:  # no newline yet: emit a cut line
            if not _offer(self._sink, self._pending[:limit]):
                self._sink = None
            self._pending, self._skipping = b"", True

    def result(self) -> tuple[bytes, int]:
        """Offer the unfinished last line; returns ``(tail, total)``."""
        if self._sink is not None and self._pending and not self._skipping:
            _offer(self._sink, self._pending[:self._OFFER_LIMIT])
        self._sink, self._pending = None, b""
        return self._tail.value(), self._total


_IN = select.POLLIN | select.POLLHUP | select.POLLERR


class _Pump:
    """The child's pipes and its exit, served by one ``poll`` in the calling thread.

    No drain thread: the stdout collector and the stderr sink run here, between polls, and the
    child's exit wakes the same poll through a pidfd. The child's last write is in its pipe
    before its exit is seen, so the drain after the exit misses nothing of the child's; a
    descendant still holding a pipe gets ``_DRAIN_GRACE_S`` at most.
    """

    def __init__(self, child: _Child, readers: Mapping[int, Callable[[bytes], None]],
                 rest: memoryview | None) -> None:
        self._child = child
        self._poller = select.poll()
        self._readers = dict(readers)
        for fd in self._readers:
            self._poller.register(fd, _IN)
        self._rest = rest
        if rest is not None:
            self._poller.register(child.stdin, select.POLLOUT | select.POLLERR)
        else:
            child.close_stdin()
        self._pidfd: int | None = None
        with _Suppress(AttributeError, OSError):  # not Linux >= 5.3: poll the pid
            self._pidfd = os.pidfd_open(child.pid)
            self._poller.register(self._pidfd, select.POLLIN)
        self._exited = False

    def until_exit(self, deadline: float) -> bool:
        """Serve the pipes until the child exits (True) or ``deadline`` passes (False)."""
        while not self._exited:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            wait_ms = int(left * 1000) + 1
            if self._pidfd is None:  # no pidfd to wake us at the exit: look every _POLL_MS
                wait_ms = min(wait_ms, _POLL_MS)
            self._serve(self._poller.poll(wait_ms))
            if self._pidfd is None and self._child.poll() is not None:
                self._exited = True
        return True

    def drain(self) -> None:
        """Read what is buffered to its end, until a poll begun now finds nothing (or
        ``_DRAIN_GRACE_S`` passed); stdin is given up."""
        self._close_stdin()
        stop_at = time.monotonic() + _DRAIN_GRACE_S
        while self._readers and time.monotonic() <= stop_at:
            events = self._poller.poll(_POLL_MS)
            if not events:
                return
            self._serve(events)

    def close(self) -> None:
        self._close_stdin()
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None

    def _serve(self, events: list[tuple[int, int]]) -> None:
        for fd, _mask in events:
            reader = self._readers.get(fd)
            if reader is not None:
                try:
                    chunk = os.read(fd, _CHUNK)
                except OSError:
                    chunk = b""
                if chunk:
                    reader(chunk)
                else:
                    self._poller.unregister(fd)
                    del self._readers[fd]
            elif fd == self._pidfd:
                self._exited = True
                self._poller.unregister(fd)
            else:
                self._feed()

    def _feed(self) -> None:
        fd, rest = self._child.stdin, self._rest
        if fd < 0 or rest is None:
            return
        try:
            rest = rest[os.write(fd, rest[:_CHUNK]):]
        except BlockingIOError:
            return
        except OSError:  # the child closed its stdin (or exited) before reading it all
            rest = rest[:0]
        self._rest = rest
        if not rest:
            self._close_stdin()

    def _close_stdin(self) -> None:
        fd = self._child.stdin
        if fd >= 0:
            if self._rest is not None:
                with _Suppress(KeyError, OSError, ValueError):
                    self._poller.unregister(fd)
            self._rest = None
            self._child.close_stdin()


def _offer(sink: LineSink, line: bytes) -> bool:
    """Give ``line`` to the sink; False when it wants no more or raised.

    A sink that raises must not end the drain: an undrained pipe blocks the child until its
    deadline and the tail would lose the end of its stderr. The sink runs in the caller's thread,
    where a signal handler may raise to cancel the run: an exception whose class sets
    ``cancels_run`` (``runtime.errors.CancelledError``) is that, not a sink bug, and ends the run.
    """
    try:
        return sink(line) is not False
    except Exception as exc:  # any sink bug: stop forwarding, keep draining
        if getattr(exc, "cancels_run", False):
            raise
        return False


def _write_now(fd: int, data: bytes) -> memoryview | None:
    """Write what fits in the pipe ``fd`` now, without blocking; the rest, or None when all of it
    was written or the child closed its end (the caller closes ``fd`` then)."""
    view = memoryview(data)
    try:
        os.set_blocking(fd, False)
        while view:
            view = view[os.write(fd, view[:_CHUNK]):]
    except BlockingIOError:
        return view
    except OSError:  # the child closed its stdin (or exited) before reading it all
        pass
    return None


class _Child:
    """A spawned child: its pid, the parent's ends of its three pipes, its exit code.

    Each pipe end is closed exactly once (its number is then -1): a number closed twice could
    by then name another thread's file. ``popen`` is set when ``subprocess`` started the child
    (it then owns the wait); otherwise this class reaps the pid itself, with the code
    ``subprocess`` would give (``-N`` for a signal).
    """

    __slots__ = ("_popen", "pid", "returncode", "stderr", "stdin", "stdout")

    def __init__(self, pid: int, stdin: int, stdout: int, stderr: int,
                 popen: Popen[bytes] | None = None) -> None:
        self.pid, self.stdin, self.stdout, self.stderr = pid, stdin, stdout, stderr
        self.returncode: int | None = None
        self._popen = popen

    def _reaped(self, *, block: bool) -> int | None:
        if self.returncode is None:
            if self._popen is not None:
                self.returncode = self._popen.wait() if block else self._popen.poll()
            else:
                try:
                    pid, status = os.waitpid(self.pid, 0 if block else os.WNOHANG)
                except ChildProcessError:  # reaped elsewhere (SIGCHLD ignored): as subprocess
                    pid, status = self.pid, 0
                if pid == self.pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def poll(self) -> int | None:
        """The exit code, or None while the child runs."""
        return self._reaped(block=False)

    def wait(self) -> int:
        """Block until the child exits; its exit code."""
        code = self._reaped(block=True)
        assert code is not None
        return code

    def close_stdin(self) -> None:
        fd, self.stdin = self.stdin, -1
        if fd >= 0:
            with _Suppress(OSError):
                os.close(fd)

    def close_output(self) -> None:
        for fd in (self.stdout, self.stderr):
            if fd >= 0:
                with _Suppress(OSError):
                    os.close(fd)
        self.stdout = self.stderr = -1


def _executable(name: str, env: Mapping[str, str]) -> str:
    """``name`` as ``subprocess`` finds it: a path as given, else the first executable of that
    name on the child's ``PATH`` (``FileNotFoundError`` when there is none)."""
    if os.sep in name:
        return name
    for folder in os.get_exec_path(env):
        candidate = os.path.join(folder, name)  # noqa: PTH118 - no pathlib here
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):  # noqa: PTH113
            return candidate
    raise FileNotFoundError(2, "No such file or directory", name)


def _inheritable_fds() -> list[int]:
    """Our descriptors above 2 a child would inherit (``close_fds`` closes them for Popen)."""
    found = []
    with _Suppress(OSError):
        for name in os.listdir("/proc/self/fd"):  # noqa: PTH208 - no pathlib here
            fd = int(name)
            if fd > 2:
                with _Suppress(OSError):
                    if os.get_inheritable(fd):
                        found.append(fd)
    return found


def _start(argv: Sequence[str], env: Mapping[str, str], cwd: str | None) -> _Child:
    """Start ``argv`` in a session of its own with pipes for its stdin, stdout and stderr.

    Without a ``cwd`` (the container entry: the engine set the folder) ``os.posix_spawn`` does it
    and ``subprocess`` is never imported; a ``cwd`` (``posix_spawn`` has no portable chdir) or a
    closed standard descriptor of ours goes through ``subprocess.Popen`` with the same pipes.
    Either way the child gets SIGPIPE and SIGXFSZ back at their defaults and inherits no other
    descriptor of ours.
    """
    ours: list[int] = []
    theirs: list[int] = []
    try:
        for target in range(3):  # stdin: the child reads; stdout, stderr: the child writes
            read_end, write_end = os.pipe()
            ours.append(write_end if target == 0 else read_end)
            theirs.append(read_end if target == 0 else write_end)
        if cwd is None and min(theirs) > 2:
            actions: list[tuple[int, ...]] = [
                (os.POSIX_SPAWN_DUP2, fd, target) for target, fd in enumerate(theirs)]
            actions += [(os.POSIX_SPAWN_CLOSE, fd) for fd in _inheritable_fds()]
            pid = os.posix_spawn(_executable(argv[0], env), list(argv), env,
                                 file_actions=actions, setsid=True,
                                 setsigdef=(SIGPIPE, SIGXFSZ))
            child = _Child(pid, ours[0], ours[1], ours[2])
        else:
            import subprocess

            popen = subprocess.Popen(list(argv), stdin=theirs[0], stdout=theirs[1],
                                     stderr=theirs[2], env=env, cwd=cwd, start_new_session=True,
                                     close_fds=True)
            child = _Child(popen.pid, ours[0], ours[1], ours[2], popen=popen)
    except BaseException:
        for fd in ours:
            with _Suppress(OSError):
                os.close(fd)
        raise
    finally:
        for fd in theirs:
            with _Suppress(OSError):
                os.close(fd)
    return child


def _read_proc(path: str) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return b"".join(iter(lambda: os.read(fd, _CHUNK), b""))
    except OSError:
        return None
    finally:
        os.close(fd)


_PID_MAX: list[int] = []


def _pid_max() -> int | None:
    if not _PID_MAX:
        raw = _read_proc("/proc/sys/kernel/pid_max")
        try:
            _PID_MAX.append(int(raw or b""))
        except ValueError:
            return None
    return _PID_MAX[0]


class PidWindow:
    """Where the pids handed out after a moment lie, so a sweep need not read every process.

    Pids are handed out in a cycle: ``/proc/loadavg`` names the last one given in our namespace
    and ``/proc/stat``'s ``processes`` counts every task created since boot (threads included, all
    namespaces: at least as many as were given here). A task created after :meth:`now` has a pid
    in the cyclic range from that moment's last pid to the current one, unless the allocator
    went all the way round; it cannot while fewer pids were handed out than half the cycle and
    fewer tasks are alive than the other half (each pid the allocator skips is one in use).
    Whenever that cannot be shown, or ``/proc`` does not say, :meth:`pids` returns None: read
    every process.
    """

    __slots__ = ("_first", "_forks")

    def __init__(self, first: int, forks: int) -> None:
        self._first, self._forks = first, forks

    @staticmethod
    def _cursor() -> tuple[int, int] | None:
        """(last pid handed out, tasks alive) from ``/proc/loadavg``."""
        try:
            fields = (_read_proc("/proc/loadavg") or b"").split()
            return int(fields[4]), int(fields[3].split(b"/")[1])
        except (IndexError, ValueError):
            return None

    @staticmethod
    def _forks_now() -> int | None:
        for line in (_read_proc("/proc/stat") or b"").splitlines():
            if line.startswith(b"processes "):
                with _Suppress(ValueError):
                    return int(line.split()[1])
        return None

    @classmethod
    def now(cls) -> PidWindow | None:
        cursor, forks = cls._cursor(), cls._forks_now()
        if cursor is None or forks is None:
            return None
        return cls(cursor[0], forks)

    def pids(self) -> tuple[range, ...] | None:
        """The pids that may have been handed out since :meth:`now`, as one or two ranges."""
        cursor, forks, pid_max = self._cursor(), self._forks_now(), _pid_max()
        if cursor is None or forks is None or pid_max is None:
            return None
        last, alive = cursor
        handed_out = forks - self._forks
        if handed_out < 0 or handed_out >= pid_max // 2 or alive >= pid_max // 2:
            return None
        if last >= self._first:
            return (range(self._first + 1, last + 1),)
        return range(self._first + 1, pid_max), range(1, last + 1)


def _candidates(window: tuple[range, ...] | None) -> Iterable[int]:
    """Pids to look at: those in ``window`` (a short one is probed directly), or every pid."""
    if window is not None and sum(len(part) for part in window) <= 256:
        return [pid for part in window for pid in part]
    try:
        listed = [int(entry.name) for entry in os.scandir("/proc") if entry.name.isdigit()]
    except OSError:
        return []
    if window is None:
        return listed
    return [pid for pid in listed if any(pid in part for part in window)]


def _marked_pids(marker: bytes, window: tuple[range, ...] | None = None) -> list[int]:
    """Pids (other than ours) whose environment holds ``marker``; unreadable ones are skipped."""
    found = []
    me = os.getpid()
    for pid in _candidates(window):
        if pid == me:
            continue
        environ = _read_proc(f"/proc/{pid}/environ")
        if environ is not None and marker in environ.split(b"\0"):
            found.append(pid)
    return found


def sweep_marked(marker: str, since: PidWindow | None = None) -> int:
    """SIGKILL every process carrying ``SPAWN_MARKER_ENV=marker``: what ``setsid`` took out of
    the process group. With ``since`` (taken before the spawn) only pids handed out after it are
    read, when :class:`PidWindow` can show that no other pid can be new. Repeated a few rounds
    (a process may fork while we look); returns how many were killed."""
    needle = f"{SPAWN_MARKER_ENV}={marker}".encode()
    killed = 0
    for _ in range(_SWEEP_ROUNDS):
        pids = _marked_pids(needle, since.pids() if since is not None else None)
        if not pids:
            break
        for pid in pids:
            with _Suppress(ProcessLookupError, PermissionError):
                os.kill(pid, SIGKILL)
                killed += 1
        time.sleep(0.01)
    return killed


def _kill_group(pgid: int, sig: int) -> None:
    with _Suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def spawn(
    argv: Sequence[str],
    *,
    stdin: bytes = b"",
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    timeout_s: float = 60.0,
    on_stderr_line: LineSink | None = None,
) -> SpawnResult:
    """Run ``argv`` to completion or to its deadline; returns rc, bounded output and timing.

    ``PYTHONUNBUFFERED=1``, ``LOG_STREAM=stderr`` and this spawn's ``SPAWN_MARKER_ENV`` are
    always set; stdin is a pipe (never a TTY). ``on_stderr_line`` receives each stderr line (cut
    to 16 KiB plus the cut margin) as it arrives, until it returns False.
    """
    marker = os.urandom(16).hex()  # a uuid4's randomness, without importing uuid (platform)
    child_env = dict(os.environ if env is None else env)
    child_env["PYTHONUNBUFFERED"] = "1"
    child_env["LOG_STREAM"] = "stderr"
    child_env[SPAWN_MARKER_ENV] = marker
    window = PidWindow.now()
    started = time.monotonic()
    child = _start(argv, child_env, cwd)
    pgid = child.pid
    out = StdoutCollector()
    err = StderrSplitter(on_stderr_line)
    readers = {child.stdout: out.feed, child.stderr: err.feed}
    # Stdin that fits in the pipe (64 KiB on Linux) is written at once; the rest is fed by the
    # same poll that drains stdout and stderr and sees the exit: no thread per run.
    pump = _Pump(child, readers, _write_now(child.stdin, stdin))
    timed_out = False
    try:
        if not pump.until_exit(started + timeout_s):
            timed_out = True
            _kill_group(pgid, SIGTERM)
            if not pump.until_exit(time.monotonic() + _KILL_GRACE_S):
                _kill_group(pgid, SIGKILL)
        code = child.wait()
        rc = TIMEOUT_RC if timed_out else code
    except BaseException:
        _kill_group(pgid, SIGKILL)
        child.wait()
        raise
    finally:
        # Reap the whole group, then what left it: nothing holding our pipes outlives the run.
        _kill_group(pgid, SIGKILL)
        sweep_marked(marker, window)
        try:
            pump.drain()
        finally:
            pump.close()
            child.close_output()
    elapsed_ms = int((time.monotonic() - started) * 1000)
    stdout, stdout_tail, stdout_len, overflow = out.result()
    stderr_tail, stderr_len = err.result()
    return SpawnResult(
        rc=rc,
        stdout=stdout,
        stdout_tail=stdout_tail,
        stdout_len=stdout_len,
        stdout_overflow=overflow,
        stderr_tail=stderr_tail,
        stderr_len=stderr_len,
        elapsed_ms=elapsed_ms,
        timed_out=timed_out,
    )
