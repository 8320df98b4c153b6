"""Which processors a git diff touches, so CI builds, pins and deploys only those.

A ref is touched when a file under its processor folder changed, when its registry entry changed
(pins excluded: a pin PR must not trigger a rebuild of what it pins), or when something baked into
every image changed (the processor kit, the in-container entry, the spawn helper, the child
environment, the base image pin) — then every processor is.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from runtime.errors import InputsError
from runtime.images.content import carried_by_image
from runtime.paths import REGISTRY_RELATIVE
from runtime.registry.load import Registry

GIT_TIMEOUT_S = 60
_NULL_SHA = "0" * 40


@dataclass(frozen=True)
class ChangeSet:
    """The refs to rebuild and, for each, why; ``all`` when an image-wide input changed."""

    base: str
    refs: list[str]
    reasons: dict[str, list[str]] = field(default_factory=dict)
    all: bool = False


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                              timeout=GIT_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InputsError(f"git {' '.join(args[:2])} failed: {exc}") from exc


def _base_known(root: Path, base: str) -> bool:
    if not base or base == _NULL_SHA:
        return False
    return _git(root, "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}").returncode == 0


def changed_files(root: Path, base: str) -> list[str]:
    """Files changed between the merge base of ``base`` and ``HEAD`` (``git diff base...HEAD``)."""
    done = _git(root, "diff", "--name-only", "--no-renames", f"{base}...HEAD")
    if done.returncode != 0:
        raise InputsError(f"git diff {base}...HEAD failed: {done.stderr.strip()[:500]}")
    return sorted(line for line in done.stdout.splitlines() if line)


def _base_registry(root: Path, base: str) -> dict[str, Any]:
    done = _git(root, "show", f"{base}:{REGISTRY_RELATIVE.as_posix()}")
    if done.returncode != 0:
        return {}
    try:
        document = yaml.safe_load(done.stdout)
    except yaml.YAMLError:
        return {}
    return document if isinstance(document, dict) else {}


def _without_pin(version: Any) -> Any:
    if isinstance(version, dict):
        return {key: value for key, value in version.items() if key != "image"}
    return version


def changed_processors(root: Path, base: str) -> ChangeSet:
    """The registered refs that the diff ``base...HEAD`` touches, with reasons.

    An unknown ``base`` (a new branch, a force push) selects every processor. ``ERR_INPUTS`` when
    git fails or the current registry is invalid.
    """
    registry = Registry.load(root)
    every = [str(ref) for ref in registry.refs()]
    if not _base_known(root, base):
        return ChangeSet(base, every, {ref: [f"base {base!r} is unknown"] for ref in every}, True)
    files = changed_files(root, base)
    wide = [path for path in files if carried_by_image(path)]
    old = _base_registry(root, base)
    old_processors = old.get("processors") or {}
    if old.get("base_image") != registry.document.base_image.model_dump():
        wide.append(f"{REGISTRY_RELATIVE.as_posix()}: base_image")
    if wide:
        return ChangeSet(base, every, {ref: sorted(wide) for ref in every}, True)
    reasons: dict[str, list[str]] = {}
    for key, entry in registry.document.processors.items():
        folder = entry.path.rstrip("/") + "/"
        touched = [path for path in files if path.startswith(folder)]
        old_entry = old_processors.get(key) if isinstance(old_processors, dict) else None
        old_versions = (old_entry or {}).get("versions") or {} if isinstance(old_entry, dict) else {}
        for version_name, version in entry.versions.items():
            ref = f"{key}@{version_name}"
            why = list(touched)
            current = _without_pin(version.model_dump())
            previous = old_versions.get(version_name) if isinstance(old_versions, dict) else None
            if previous is None:
                why.append(f"{REGISTRY_RELATIVE.as_posix()}: new entry")
            elif _without_pin(_normalised(version, previous)) != current:
                why.append(f"{REGISTRY_RELATIVE.as_posix()}: entry changed")
            if why:
                reasons[ref] = why
    return ChangeSet(base, sorted(reasons), reasons, False)


def _normalised(version: Any, previous: Any) -> Any:
    """The base entry validated like the current one, so defaults compare equal."""
    try:
        return type(version).model_validate(previous).model_dump()
    except ValueError:
        return previous
