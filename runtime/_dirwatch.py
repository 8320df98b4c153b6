"""Names added to a few folders, told by the kernel (inotify) rather than found by listing them.

A source run's confinement check (:class:`runtime.adapters.outcome.Confinement`) compares what
lies beside the write prefix before and after the child. Listing ``execution/`` twice per run is
quadratic over a batch: 100 000 items leave 100 000 entries there, ~60 ms a listing. inotify
reports each name the moment it is created, so the check costs what the run itself added.

Linux only, through ``ctypes`` (about 4 ms to import: loaded only when a folder is large). One
inotify instance serves the whole process (closing one costs ~1.3 ms). Any doubt fails closed:
a watch that ended (the folder was moved, removed or unmounted) or an overflowed event queue is
reported, never read as "nothing was added".
"""

from __future__ import annotations

import contextlib
import os
import struct
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_UNMOUNT = 0x00002000
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_DONT_FOLLOW = 0x02000000
_WATCHED = (IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM | IN_DELETE_SELF | IN_MOVE_SELF
            | IN_ONLYDIR | IN_DONT_FOLLOW)
_ENDED = IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT | IN_IGNORED
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then len bytes of NUL-padded name
_READ = 64 * 1024

_libc: list[Any] = []


class UnwatchableError(OSError):
    """inotify is not available here (not Linux, no libc symbol, no instance left)."""


def _load() -> Any:
    if not _libc:
        try:
            import ctypes

            lib = ctypes.CDLL(None, use_errno=True)
            lib.inotify_init1.argtypes = [ctypes.c_int]
            lib.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        except (ImportError, OSError, AttributeError) as exc:
            raise UnwatchableError(f"inotify is not available: {exc}") from exc
        _libc.append((lib, ctypes))
    return _libc[0]


class _Watcher:
    """The process's one inotify instance. Closing an instance waits for an RCU grace period
    (~1.3 ms here), so it is opened once and kept; a folder's watch is kept once added (at most
    ``_MAX_FOLDERS``), and each :class:`DirWatch` subscribes to the folders it needs."""

    _MAX_FOLDERS = 64

    def __init__(self) -> None:
        self._lib, self._ctypes = _load()
        fd = self._lib.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            raise UnwatchableError(f"inotify_init1: {os.strerror(self._ctypes.get_errno())}")
        self.fd = fd
        self.lock = threading.Lock()
        self._wds: dict[str, int] = {}
        self._folders: dict[int, str] = {}
        self._subscribers: list[DirWatch] = []

    def subscribe(self, watch: DirWatch, folders: Sequence[str]) -> None:
        with self.lock:
            self._drain()  # what happened before this subscription is not its news
            for folder in folders:
                if folder in self._wds:
                    continue
                if len(self._wds) >= self._MAX_FOLDERS:
                    raise UnwatchableError(f"more than {self._MAX_FOLDERS} folders watched")
                wd = self._lib.inotify_add_watch(self.fd, os.fsencode(folder), _WATCHED)
                if wd < 0:
                    raise UnwatchableError(f"inotify_add_watch {folder}: "
                                      f"{os.strerror(self._ctypes.get_errno())}")
                self._wds[folder] = wd
                self._folders[wd] = folder
            self._subscribers.append(watch)

    def unsubscribe(self, watch: DirWatch) -> None:
        with self.lock:
            if watch in self._subscribers:
                self._subscribers.remove(watch)

    def drain(self) -> None:
        with self.lock:
            self._drain()

    def _drain(self) -> None:
        while True:
            try:
                data = os.read(self.fd, _READ)
            except BlockingIOError:
                return
            if not data:
                return
            self._dispatch(data)

    def _dispatch(self, data: bytes) -> None:
        offset = 0
        while offset + _EVENT.size <= len(data):
            wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
            raw = data[offset + _EVENT.size: offset + _EVENT.size + length]
            offset += _EVENT.size + length
            if mask & IN_Q_OVERFLOW:
                for watch in self._subscribers:
                    watch.overflowed = True
                continue
            folder = self._folders.get(wd)
            if folder is None:
                continue
            if mask & _ENDED:
                # The watch now follows another inode (or none): the next subscriber re-adds it.
                del self._folders[wd]
                self._wds.pop(folder, None)
            name = os.fsdecode(raw.rstrip(b"\0"))
            for watch in self._subscribers:
                watch.event(folder, mask, name)


_watcher: list[_Watcher] = []
_watcher_lock = threading.Lock()


def _shared() -> _Watcher:
    with _watcher_lock:
        if not _watcher:
            _watcher.append(_Watcher())
        return _watcher[0]


def _forget_in_child() -> None:
    """A forked child must not read (and so steal) the parent's events: it opens its own."""
    if _watcher:
        with contextlib.suppress(OSError):
            os.close(_watcher[0].fd)
        _watcher.clear()


os.register_at_fork(after_in_child=_forget_in_child)


class DirWatch:
    """Names created in or moved into ``folders`` (each must exist) from now on."""

    def __init__(self, folders: Sequence[Path]) -> None:
        self._keys = {folder: str(folder) for folder in folders}
        self._added: dict[str, set[str]] = {key: set() for key in self._keys.values()}
        self._ended: set[str] = set()
        self.overflowed = False
        self._watcher: _Watcher | None = _shared()
        self._watcher.subscribe(self, list(self._keys.values()))

    def event(self, folder: str, mask: int, name: str) -> None:
        """One inotify event for ``folder`` (called by the shared watcher, under its lock)."""
        if folder not in self._added:
            return
        if mask & _ENDED:
            self._ended.add(folder)
        elif mask & (IN_CREATE | IN_MOVED_TO):
            self._added[folder].add(name)
        elif mask & (IN_DELETE | IN_MOVED_FROM):
            self._added[folder].discard(name)

    def _drain(self) -> None:
        if self._watcher is not None:
            self._watcher.drain()

    def added(self, folder: Path) -> set[str]:
        """Names created in (or moved into) ``folder`` since the watch began and still there."""
        self._drain()
        return set(self._added[self._keys[folder]])

    def doubtful(self) -> list[Path]:
        """Folders whose additions cannot be told: the watch ended, or the queue overflowed."""
        self._drain()
        return [folder for folder, key in self._keys.items()
                if self.overflowed or key in self._ended]

    def close(self) -> None:
        """Stop receiving events (the shared instance and its watches stay for the next run)."""
        if self._watcher is not None:
            self._watcher.unsubscribe(self)
            self._watcher = None
