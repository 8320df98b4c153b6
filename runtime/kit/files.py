"""Atomic, prefix-confined file writes for processors (standard library only)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

FILE_MODE = 0o644
# atomic_write's temp files are ``.<name>.<random>.tmp`` beside their target.
TEMP_PREFIX = "."
TEMP_SUFFIX = ".tmp"


class UnsafePathError(ValueError):
    """A requested output path would escape the write prefix (``..``, absolute, or a link)."""


def safe_join(root: Path, relative: str) -> Path:
    """Join ``relative`` under ``root``, refusing absolute paths, ``..`` and empty parts."""
    if not relative or relative.startswith(("/", "\\")) or "\0" in relative:
        raise UnsafePathError(f"output path {relative!r} must be a non-empty relative path")
    parts = relative.replace("\\", "/").split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise UnsafePathError(f"output path {relative!r} may not contain '', '.' or '..' parts")
    return root.joinpath(*parts)


def ensure_confined_dir(root: Path, directory: Path) -> None:
    """Create ``directory`` and prove it resolves inside ``root`` (no symlinked component)."""
    directory.mkdir(parents=True, exist_ok=True)
    real_root = root.resolve(strict=True)
    real_dir = directory.resolve(strict=True)
    if real_dir != real_root and real_root not in real_dir.parents:
        raise UnsafePathError(f"{directory} resolves outside {root} (through a symlink)")


def atomic_write(path: Path, data: bytes, confine_to: Path | None, *, mode: int | None = None,
                 durable: bool = True) -> None:
    """Write ``data`` to ``path`` atomically: temp file in the same folder, fsync, rename.

    Readers see the old file or the whole new one, never a half-written file. The final rename
    replaces a symlink at ``path`` itself rather than writing through it. ``mode`` sets the
    permission bits before the rename (the temp file is created 0600), e.g. to keep a
    committed file's mode when the host rewrites it. ``durable=False`` skips the fsync: still
    atomic for every reader and across a killed writer (the page cache outlives the process),
    but a power cut may lose the file, so only for records that are verified before use.
    """
    if confine_to is not None:
        ensure_confined_dir(confine_to, path.parent)
    def temp_file() -> tuple[int, str]:
        return tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{path.name}.", suffix=TEMP_SUFFIX,
                                dir=path.parent)

    try:
        fd, tmp_name = temp_file()
    except FileNotFoundError:
        if confine_to is not None:
            raise
        path.parent.mkdir(parents=True, exist_ok=True)  # unconfined: its folder made on demand
        fd, tmp_name = temp_file()
    try:
        # mkstemp creates 0600; artifacts and the registry must stay readable like normal files.
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if mode is not None:
                os.fchmod(handle.fileno(), mode)
            if durable:
                os.fsync(handle.fileno())
        Path(tmp_name).replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            Path(tmp_name).unlink()
        raise


def remove_partial_writes(root: Path) -> list[Path]:
    """Delete the temp files an interrupted :func:`atomic_write` left under ``root``.

    A writer killed between writing its temp file and the rename (SIGKILL, OOM, a timeout) leaves
    ``.<name>.<random>.tmp`` behind: a half-written file nobody will finish. Links are never
    followed. Returns the removed paths.
    """
    removed: list[Path] = []
    if not root.is_dir() or root.is_symlink():
        return removed
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            if name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX):
                candidate = Path(dirpath) / name
                if candidate.is_symlink() or not candidate.is_file():
                    continue
                with contextlib.suppress(FileNotFoundError):
                    candidate.unlink()
                    removed.append(candidate)
    return removed
