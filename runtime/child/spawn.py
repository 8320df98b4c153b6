"""The one spawn helper: run a child with a deadline, bounded memory and streamed stderr.

Shared by the local adapter and the in-container entry, so it uses the standard library only.
The child runs in its own session (process group); at the deadline the whole group is killed and
``rc`` is 124. Afterwards the group is always reaped, so no grandchild outlives a run.
"""

from __future__ import annotations

import collections
import contextlib
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

STDERR_TAIL_BYTES = 8 * 1024
STDOUT_LIMIT_BYTES = 16 * 1024 * 1024
STDOUT_RING_BYTES = 64 * 1024
LINE_LIMIT_BYTES = 16 * 1024
TIMEOUT_RC = 124
_CHUNK = 64 * 1024
_KILL_GRACE_S = 0.5

# A line sink may return False to say it wants no more lines (e.g. its log budget is spent);
# spawn then stops splitting lines and only keeps the bounded tail.
LineSink = Callable[[bytes], bool | None]


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
        self._chunks: collections.deque[bytes] = collections.deque()
        self._size = 0

    def add(self, data: bytes) -> None:
        self._chunks.append(data)
        self._size += len(data)
        while self._size - len(self._chunks[0]) >= self.limit:
            self._size -= len(self._chunks.popleft())

    def value(self) -> bytes:
        return b"".join(self._chunks)[-self.limit :]


def collect_stdout(chunks: Iterable[bytes]) -> tuple[bytes, bytes, int, bool]:
    """Keep a child's stdout up to ``STDOUT_LIMIT_BYTES`` (past it: dropped, ``overflow``) and a
    bounded ring of its end; returns ``(kept, tail, total, overflow)``. Memory stays bounded."""
    kept = bytearray()
    ring = _Tail(STDOUT_RING_BYTES)
    total = 0
    overflow = False
    for chunk in chunks:
        total += len(chunk)
        ring.add(chunk)
        if not overflow:
            if len(kept) + len(chunk) > STDOUT_LIMIT_BYTES:
                overflow = True
                kept.clear()
            else:
                kept.extend(chunk)
    return bytes(kept), ring.value(), total, overflow


def forward_stderr(chunks: Iterable[bytes], sink: LineSink | None) -> tuple[bytes, int]:
    """Split a child's stderr into lines for ``sink`` (each cut to ``LINE_LIMIT_BYTES``) and keep
    the last ``STDERR_TAIL_BYTES``; returns ``(tail, total)``. A sink returning False (or raising)
    gets no more lines, but the stream is still drained to its end."""
    tail = _Tail(STDERR_TAIL_BYTES)
    pending = b""
    total = 0
    for chunk in chunks:
        total += len(chunk)
        tail.add(chunk)
        if sink is None:
            continue
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if not _offer(sink, line[:LINE_LIMIT_BYTES]):
                sink, pending = None, b""
                break
        if sink is not None and len(pending) > LINE_LIMIT_BYTES:  # no newlines: emit a cut line
            if not _offer(sink, pending[:LINE_LIMIT_BYTES]):
                sink = None
            pending = b""
    if sink is not None and pending:
        _offer(sink, pending[:LINE_LIMIT_BYTES])
    return tail.value(), total


def _chunks(pipe: object, partial: bool) -> Iterator[bytes]:
    read = pipe.read1 if partial and hasattr(pipe, "read1") else pipe.read  # type: ignore[attr-defined]
    while chunk := read(_CHUNK):
        yield chunk


def _drain_stdout(pipe: object, state: dict[str, object]) -> None:
    kept, tail, total, overflow = collect_stdout(_chunks(pipe, partial=False))
    state.update(stdout=kept, tail=tail, total=total, overflow=overflow)


def _drain_stderr(pipe: object, sink: LineSink | None, state: dict[str, object]) -> None:
    tail, total = forward_stderr(_chunks(pipe, partial=True), sink)
    state.update(tail=tail, total=total)


def _offer(sink: LineSink, line: bytes) -> bool:
    """Give ``line`` to the sink; False when it wants no more or raised.

    A sink that raises must not end the drain: an undrained pipe blocks the child until its
    deadline and the tail would lose the end of its stderr.
    """
    try:
        return sink(line) is not False
    except Exception:  # noqa: BLE001 - any sink bug: stop forwarding, keep draining
        return False


def _feed_stdin(pipe: object, data: bytes) -> None:
    with contextlib.suppress(BrokenPipeError, OSError):
        pipe.write(data)  # type: ignore[attr-defined]
    with contextlib.suppress(BrokenPipeError, OSError):
        pipe.close()  # type: ignore[attr-defined]


def _kill_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _wait(proc: subprocess.Popen[bytes], timeout_s: float) -> int:
    """``proc.wait(timeout_s)`` without its polling loop.

    CPython's ``Popen.wait(timeout=…)`` sleeps in growing steps (up to 50 ms), so a 45 ms child
    is noticed only ~70 ms later. A pidfd becomes readable the moment the child exits.
    Raises ``subprocess.TimeoutExpired`` like ``Popen.wait``.
    """
    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):  # not Linux >= 5.3: fall back to the polling wait
        return proc.wait(timeout=timeout_s)
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        if not poller.poll(max(0, int(timeout_s * 1000))):
            raise subprocess.TimeoutExpired(proc.args, timeout_s)
    finally:
        os.close(pidfd)
    return proc.wait()


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

    ``PYTHONUNBUFFERED=1`` and ``LOG_STREAM=stderr`` are always set; stdin is a pipe (never a
    TTY). ``on_stderr_line`` receives each stderr line (cut to 16 KiB) as it arrives, until it
    returns False.
    """
    child_env = dict(os.environ if env is None else env)
    child_env["PYTHONUNBUFFERED"] = "1"
    child_env["LOG_STREAM"] = "stderr"
    started = time.monotonic()
    proc = subprocess.Popen(
        list(argv),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env,
        cwd=cwd,
        start_new_session=True,
        close_fds=True,
    )
    pgid = proc.pid
    out_state: dict[str, object] = {}
    err_state: dict[str, object] = {}
    threads = [
        threading.Thread(target=_feed_stdin, args=(proc.stdin, stdin), daemon=True),
        threading.Thread(target=_drain_stdout, args=(proc.stdout, out_state), daemon=True),
        threading.Thread(target=_drain_stderr, args=(proc.stderr, on_stderr_line, err_state),
                         daemon=True),
    ]
    for thread in threads:
        thread.start()
    timed_out = False
    try:
        rc = _wait(proc, timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(pgid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=_KILL_GRACE_S)
        _kill_group(pgid, signal.SIGKILL)
        proc.wait()
        rc = TIMEOUT_RC
    except BaseException:
        _kill_group(pgid, signal.SIGKILL)
        proc.wait()
        raise
    finally:
        # Reap the whole group: a grandchild holding our pipes must not outlive the run.
        _kill_group(pgid, signal.SIGKILL)
        for thread in threads:
            thread.join(timeout=5)
        for pipe in (proc.stdout, proc.stderr):
            with contextlib.suppress(OSError):
                pipe.close()  # type: ignore[union-attr]
    elapsed_ms = int((time.monotonic() - started) * 1000)
    return SpawnResult(
        rc=rc,
        stdout=out_state.get("stdout", b""),  # type: ignore[arg-type]
        stdout_tail=out_state.get("tail", b""),  # type: ignore[arg-type]
        stdout_len=out_state.get("total", 0),  # type: ignore[arg-type]
        stdout_overflow=bool(out_state.get("overflow", False)),
        stderr_tail=err_state.get("tail", b""),  # type: ignore[arg-type]
        stderr_len=err_state.get("total", 0),  # type: ignore[arg-type]
        elapsed_ms=elapsed_ms,
        timed_out=timed_out,
    )
