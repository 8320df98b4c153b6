"""Which processors a git diff touches, so CI builds, pins and deploys only those.

A ref is touched when a file under its processor folder changed, when its registry entry changed
(pins excluded: a pin PR must not trigger a rebuild of what it pins), or when something baked into
every image changed (any file :mod:`runtime.images.content` lists, or the base image pin) —
then every processor is. Separately, a ref whose *pin* changed (a merged pin PR, a rollback
re-pin) is reported in ``deploys``: the release's second half deploys exactly those pins.
The base revision is read through :mod:`runtime._git`, as the contract
gate reads it; an invalid registry there is ``ERR_INPUTS`` for both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime import _git as git
from runtime.errors import InputsError
from runtime.images.content import carried_by_image
from runtime.paths import REGISTRY_RELATIVE
from runtime.registry.load import Registry, registry_at
from runtime.registry.models import RegistryFile, VersionEntry


@dataclass(frozen=True)
class ChangeSet:
    """The refs to rebuild and, for each, why; ``all`` when an image-wide input changed.

    ``deploys`` lists the refs whose pin changed to a digest (deploy those pins; no build).
    """

    base: str
    refs: list[str]
    reasons: dict[str, list[str]] = field(default_factory=dict)
    all: bool = False
    deploys: list[str] = field(default_factory=list)


def changed_files(root: Path, base: str) -> list[str]:
    """Files changed between the merge base of ``base`` and ``HEAD`` (``git diff base...HEAD``)."""
    done = git.git(root, "diff", "--name-only", "--no-renames", f"{base}...HEAD")
    if done.returncode != 0:
        raise InputsError(f"git diff {base}...HEAD failed: "
                          f"{done.stderr.decode('utf-8', 'replace').strip()[:500]}")
    return sorted(line for line in done.stdout.decode("utf-8", "surrogateescape").splitlines()
                  if line)


def _without_pin(version: VersionEntry) -> dict[str, Any]:
    """A version's entry as it shapes an image: its pin is where the image lives, not its input."""
    return version.model_dump(exclude={"image"})


def changed_processors(root: Path, base: str) -> ChangeSet:
    """The registered refs that the diff ``base...HEAD`` touches, with reasons.

    An unknown ``base`` (a new branch, a force push) selects every processor. ``ERR_INPUTS`` when
    git fails or the current registry is invalid.
    """
    registry = Registry.load(root)
    every = [str(ref) for ref in registry.refs()]
    if not git.commit_exists(root, base):
        return ChangeSet(base, every, {ref: [f"base {base!r} is unknown"] for ref in every}, True,
                         deploys=pin_changes(registry.document, None))
    files = changed_files(root, base)
    wide = [path for path in files if carried_by_image(path)]
    old = registry_at(root, base) or RegistryFile()
    deploys = pin_changes(registry.document, old)
    if old.base_image != registry.document.base_image:
        wide.append(f"{REGISTRY_RELATIVE.as_posix()}: base_image")
    if wide:
        return ChangeSet(base, every, {ref: sorted(wide) for ref in every}, True, deploys=deploys)
    reasons: dict[str, list[str]] = {}
    for key, entry in registry.document.processors.items():
        folder = entry.path.rstrip("/") + "/"
        touched = [path for path in files if path.startswith(folder)]
        old_entry = old.processors.get(key)
        old_versions = old_entry.versions if old_entry is not None else {}
        for version_name, version in entry.versions.items():
            ref = f"{key}@{version_name}"
            why = list(touched)
            previous = old_versions.get(version_name)
            if previous is None:
                why.append(f"{REGISTRY_RELATIVE.as_posix()}: new entry")
            elif _without_pin(previous) != _without_pin(version):
                why.append(f"{REGISTRY_RELATIVE.as_posix()}: entry changed")
            if why:
                reasons[ref] = why
    return ChangeSet(base, sorted(reasons), reasons, False, deploys=deploys)


def pin_changes(current: RegistryFile, old: RegistryFile | None) -> list[str]:
    """Refs pinned to a digest now whose pin (repository or digest) differs from ``old``'s
    (every pinned ref when ``old`` is unknown): what a merged pin change deploys."""
    found: list[str] = []
    for key, entry in current.processors.items():
        old_entry = old.processors.get(key) if old is not None else None
        for version_name, version in entry.versions.items():
            pin = version.image
            if not pin.digest:
                continue
            before = old_entry.versions.get(version_name) if old_entry is not None else None
            if before is None or (before.image.repository, before.image.digest) != (
                    pin.repository, pin.digest):
                found.append(f"{key}@{version_name}")
    return sorted(found)
