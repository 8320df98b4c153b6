"""The one git reader: change detection and the contract gate read revisions through it.

Both must agree on what a base revision holds, so both read files and the registry at a
revision here (:func:`show`, :func:`commit_exists`); what an invalid registry at a base revision
means is decided once, in :func:`runtime.registry.load.registry_at`.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from runtime.errors import InputsError

GIT_TIMEOUT_S = 60
NULL_SHA = "0" * 40


def git(root: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """Run ``git -C root args…`` without a shell; ``ERR_INPUTS`` when git cannot run at all."""
    try:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True,
                              timeout=GIT_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InputsError(f"git {' '.join(args[:2])} is not usable in {root}: {exc}") from exc


def commit_exists(root: Path, rev: str) -> bool:
    """Whether ``rev`` names a commit (the all-zero sha of a new branch does not)."""
    if not rev or rev == NULL_SHA:
        return False
    return git(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").returncode == 0


def show(root: Path, rev: str, relative: str) -> bytes | None:
    """The bytes of ``relative`` at ``rev``, or ``None`` when it did not exist there."""
    proc = git(root, "show", f"{rev}:./{relative}")
    return proc.stdout if proc.returncode == 0 else None


def text_at(root: Path, rev: str, relative: str) -> str | None:
    """:func:`show` decoded as UTF-8 (undecodable bytes replaced)."""
    data = show(root, rev, relative)
    return None if data is None else data.decode("utf-8", "replace")


def current_branch(root: Path) -> str | None:
    """The checked-out branch of ``root`` (``None`` on a detached HEAD or outside git): the
    default branch part of a developer's dev app name."""
    proc = git(root, "rev-parse", "--abbrev-ref", "HEAD")
    name = proc.stdout.decode("utf-8", "replace").strip()
    return name if proc.returncode == 0 and name and name != "HEAD" else None


def ever_contained(root: Path, relative: str, text: str) -> bool:
    """Whether any commit of ``root`` added or removed ``text`` in ``relative`` (``git log -S``):
    e.g. a digest a reviewed pin once named."""
    proc = git(root, "log", "--format=%H", "-S", text, "--", relative)
    return proc.returncode == 0 and bool(proc.stdout.strip())
