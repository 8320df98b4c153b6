"""Where things live: the project root and its ignored state folders."""

from __future__ import annotations

import os
from pathlib import Path

REGISTRY_RELATIVE = Path("registry") / "processors.yaml"
ARTIFACTS_DIRNAME = ".artifacts"
_CHECKOUT = Path(__file__).resolve().parent.parent


def checkout_root() -> Path:
    """The checkout (or installed tree) this package came from: the folder holding ``runtime/``.

    The one place that derives a root from this package's own location; everything that means
    "this checkout" (state folders, what images carry, a child's import root) asks here.
    """
    return _CHECKOUT


def project_root(start: Path | None = None) -> Path:
    """Find the project root: ``PROCESSOR_RUNTIME_ROOT``, else the nearest folder upwards from
    ``start`` (default: cwd) holding the registry, else the checkout this package came from."""
    override = os.environ.get("PROCESSOR_RUNTIME_ROOT")
    if override:
        return Path(override).resolve()
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / REGISTRY_RELATIVE).is_file():
            return candidate
    return checkout_root()


def default_artifacts_root(root: Path) -> Path:
    """The git-ignored folder that holds write prefixes and receipts of local runs."""
    return root / ARTIFACTS_DIRNAME


def runtime_import_root() -> Path:
    """The folder that must be on a child's ``PYTHONPATH`` so ``import runtime.kit`` works."""
    return checkout_root()
