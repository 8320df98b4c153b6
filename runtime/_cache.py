"""A content-addressed cache in the checkout's state folder: work that depends only on bytes.

Each entry is ``.state/cache/<kind>/<key>`` where the key is a sha256 over everything the value
depends on (the caller's content plus a version tag of the code that computed it), so an entry
is never stale: other bytes are another key. Entries are written atomically and read whole; a
state folder that cannot be written (an installed read-only tree) only means every call
recomputes. ``PROCESSOR_RUNTIME_CACHE=off`` turns the cache off (reads miss, nothing is written).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

from runtime.paths import checkout_root

CACHE_RELATIVE = Path(".state") / "cache"
#: Entries this process already read or wrote: a warm caller (many runs in one process) reads
#: each file once. Content-addressed, so an entry can never go stale; bounded all the same.
_MEMORY: dict[tuple[str, str], bytes] = {}
_MEMORY_ENTRIES = 256


def key(*parts: bytes) -> str:
    """The sha256 hex of ``parts``, length-prefixed so no two part lists collide."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _enabled() -> bool:
    return os.environ.get("PROCESSOR_RUNTIME_CACHE", "").lower() not in ("off", "0", "false")


def _path(kind: str, entry: str) -> Path:
    return checkout_root() / CACHE_RELATIVE / kind / entry


def read(kind: str, entry: str) -> bytes | None:
    """The cached bytes of ``kind``/``entry``, or ``None`` (missing, unreadable, cache off)."""
    if not _enabled():
        return None
    remembered = _MEMORY.get((kind, entry))
    if remembered is not None:
        return remembered
    try:
        data = _path(kind, entry).read_bytes()
    except OSError:
        return None
    _remember(kind, entry, data)
    return data


def _remember(kind: str, entry: str, data: bytes) -> None:
    if len(_MEMORY) >= _MEMORY_ENTRIES:
        _MEMORY.clear()
    _MEMORY[(kind, entry)] = data


def write(kind: str, entry: str, data: bytes) -> None:
    """Store ``data`` under ``kind``/``entry`` atomically; a failure to write is ignored."""
    if not _enabled():
        return
    from runtime._files import write_atomic

    _remember(kind, entry, data)
    path = _path(kind, entry)
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data)
