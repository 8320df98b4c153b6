"""Canonical JSON and hashing shared by the kit (receipts) and the host (verification)."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

SKIP_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache", "fixtures"}


def canonical_json(value: Any) -> str:
    """Serialise with sorted keys and no whitespace, so equal data gives equal bytes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(data: bytes | str) -> str:
    """Hex sha256 of bytes, or of a string's UTF-8 encoding."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in bounded chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def tree_sha256(root: str | os.PathLike[str]) -> str:
    """Hash a source tree by relative path and content (caches and fixtures skipped).

    Used as the code identity in receipts; identical for a checkout and an image copy.
    """
    base = Path(root)
    entries: list[str] = []
    for dirpath, dirnames, filenames in os.walk(base):
        # Hidden folders (.git, .state, caches) are never processor source.
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith((".pyc", ".pyo")):
                continue
            full = Path(dirpath) / name
            rel = full.relative_to(base).as_posix()
            mode = full.lstat().st_mode
            if stat.S_ISLNK(mode):
                entries.append(f"{rel}\0link:{full.readlink()}")
            elif stat.S_ISREG(mode):  # device nodes and fifos would block or lie
                entries.append(f"{rel}\0{sha256_file(full)}")
    return sha256_hex("\n".join(entries))
