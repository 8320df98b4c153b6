"""What every processor image carries besides the processor: the one definition.

The build context (:func:`runtime.images.build.build_context`) copies exactly these files, and the
change detector (:func:`runtime.images.changes.changed_processors`) marks every processor as
changed when any of them changes. Both derive from :data:`IMAGE_PACKAGES`, so they cannot drift.
The listed packages run inside the image with the standard library alone (import-linter holds
them to that).
"""

from __future__ import annotations

from pathlib import Path

#: Folders of the ``runtime`` package baked into every image, relative to the project root; each
#: contributes its own ``*.py`` files (not sub-folders). ``runtime`` itself contributes only the
#: files in :data:`IMAGE_TOP_FILES`.
IMAGE_PACKAGES = ("runtime/child", "runtime/kit")
#: Single files baked in: what the baked packages import, and the deployed Modal function's module
#: with what it imports at module level. Modal's container entrypoint imports
#: ``runtime.modal.app`` by name (``include_source=False``), with only the standard library and
#: the ``modal`` client Modal mounts at run time, so these must all be in the image.
IMAGE_TOP_FILES = ("runtime/__init__.py", "runtime/errors.py",
                   "runtime/modal/__init__.py", "runtime/modal/app.py", "runtime/modal/naming.py",
                   "runtime/registry/__init__.py", "runtime/registry/refs.py")


def image_paths(root: Path) -> list[str]:
    """Project-relative POSIX paths of every file an image carries, sorted."""
    paths = list(IMAGE_TOP_FILES)
    for package in IMAGE_PACKAGES:
        paths += [f"{package}/{file.name}" for file in (root / package).glob("*.py")]
    return sorted(paths)


def image_files(root: Path) -> dict[str, bytes]:
    """``path`` → bytes for every file an image carries (see :func:`image_paths`)."""
    return {path: (root / path).read_bytes() for path in image_paths(root)}


def carried_by_image(path: str) -> bool:
    """Whether a project-relative path (as git prints it) is baked into every image.

    Files in a carried package count even when they are new (a module added to ``runtime/child``
    changes every image) or deleted.
    """
    if path in IMAGE_TOP_FILES:
        return True
    folder, _, name = path.rpartition("/")
    return folder in IMAGE_PACKAGES and name.endswith(".py")
