"""Low-level file helpers of the host, each with one home: the file lock and the atomic write.

The atomic write itself lives in :mod:`runtime.kit.files` (standard library, shared with the
processor side); host code that writes a whole file calls :func:`write_atomic` below.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from runtime.kit.files import atomic_write


@contextlib.contextmanager
def file_lock(path: Path, *, wait: bool = True) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (a lock file, or a folder) for the ``with`` block.

    A folder can be locked too: that serialises editors of a file that is replaced by rename.
    With ``wait=False`` a lock held elsewhere raises ``BlockingIOError`` at once instead.
    """
    flags = os.O_RDONLY if path.is_dir() else os.O_RDWR | os.O_CREAT
    fd = os.open(path, flags, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BaseException:
        os.close(fd)
        raise
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def write_atomic(path: Path, data: bytes | str, *, mode: int | None = None,
                 durable: bool = True) -> None:
    """Replace ``path`` with ``data`` atomically (temp file, fsync, rename) in its own folder,
    created when missing; ``durable=False``: no fsync (see :func:`runtime.kit.files.atomic_write`).

    No confinement check: the host names its own paths, and a folder always resolves inside
    itself (proving it cost a mkdir and two ``realpath`` walks a write)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    atomic_write(path, raw, confine_to=None, mode=mode, durable=durable)
