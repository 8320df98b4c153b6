"""Helpers for the docker lanes: temporary project roots and the build → push → pin chain.

Tests never touch the committed ``registry/processors.yaml``: they copy ``registry/`` and
``processors/`` into a temporary root, record the base image there and pin into that copy.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.images.build import BuildResult, PinResult, PushResult
from tests.helpers import copy_project

ROOT = Path(__file__).resolve().parent.parent
REGISTRY_YAML = Path("registry") / "processors.yaml"


@dataclass(frozen=True)
class Release:
    """The three hops of one processor's supply chain."""

    build: BuildResult
    push: PushResult
    pin: PinResult


def make_project(dest: Path, base: dict[str, Any]) -> Path:
    """Copy registry/ and processors/ to ``dest`` and record the base image there."""
    from runtime.registry.edit import set_base_image

    dest.mkdir(parents=True, exist_ok=True)
    copy_project(dest)
    set_base_image(dest / REGISTRY_YAML, repository=base["repository"], digest=base["digest"])
    return dest


def release(root: Path, ref: str) -> Release:
    """build → push → pin(verify) of ``ref`` inside the project ``root``."""
    from runtime.images.build import build_processor, pin_processor, push_processor

    build = build_processor(ref, root=root)
    push = push_processor(ref, root=root)
    pin = pin_processor(ref, push.digest, verify=True, root=root)
    return Release(build, push, pin)


def add_processor(root: Path, ns: str, name: str, main_py: str, *, timeout_s: float = 30,
                  extra_files: dict[str, str] | None = None) -> str:
    """Register a tiny fixture processor ``ns/name@1`` in the project; returns its ref."""
    from ruamel.yaml.comments import CommentedMap

    from runtime.registry.edit import edit_registry

    folder = root / "processors" / ns / name
    folder.mkdir(parents=True)
    (folder / "main.py").write_text(textwrap.dedent(main_py))
    for rel, text in (extra_files or {}).items():
        (folder / rel).write_text(text)

    def mutate(document: Any) -> None:
        version = CommentedMap([("entrypoint", "main.py"), ("timeout_s", timeout_s),
                                ("memory_mb", 128), ("secrets", []), ("deterministic", True),
                                ("image", CommentedMap([("repository", None), ("digest", None)]))])
        document["processors"][f"{ns}/{name}"] = CommentedMap(
            [("path", f"processors/{ns}/{name}"), ("versions", CommentedMap([("1", version)]))])

    edit_registry(root / REGISTRY_YAML, mutate)
    return f"{ns}/{name}@1"


def managed_containers() -> list[str]:
    """Ids of containers (any state) the runtime created and did not remove."""
    from runtime.adapters.docker import MANAGED_LABEL
    from runtime.images.engine import engine_session

    with engine_session() as client:
        found = client.api.containers(all=True, filters={"label": f"{MANAGED_LABEL}=1"})
    return [str(item["Id"]) for item in found]
