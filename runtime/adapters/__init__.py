"""Adapters: where a processor runs (local subprocess, Docker container, Modal function).

Each adapter makes one attempt and returns one outcome; the runner judges it and applies the one
retry policy. Adapters are selected by name through zero-import factories, so ``import runtime``
never imports an SDK. ``childlog`` forwards a child's stderr into the host log, redacted and bounded.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from typing import Any

from runtime.adapters.base import Adapter, RunRequest
from runtime.errors import InputsError

# name -> "module:Class"; nothing is imported until an adapter is asked for.
ADAPTERS: dict[str, str] = {
    "local": "runtime.adapters.local:LocalAdapter",
    "modal": "runtime.adapters.modal:ModalAdapter",
    "docker": "runtime.adapters.docker:DockerAdapter",
}


def adapter_names() -> list[str]:
    """The adapter names a user may pass to ``--adapter``."""
    return sorted(ADAPTERS)


def get_adapter(name: str, **options: Any) -> Adapter:
    """Instantiate the adapter called ``name``; ``ERR_INPUTS`` for an unknown name."""
    target = ADAPTERS.get(name)
    if target is None:
        raise InputsError(f"unknown adapter {name!r} (choose from {', '.join(adapter_names())})")
    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    adapter: Adapter = cls(**options)
    return adapter


@contextlib.contextmanager
def fan_out(name: str) -> Iterator[Adapter | None]:
    """The adapter ``name`` opened for many runs, if it fans out itself (``modal``: one
    ``Function.map`` per function); ``None`` when each run should make its own adapter (``local``,
    ``docker``: a bounded pool of single runs). Closed on exit. ``ERR_INPUTS`` for an unknown name.
    """
    adapter = get_adapter(name)
    try:
        opener = getattr(adapter, "fan_out", None)
        if opener is None:
            yield None
            return
        with opener() as fanned:
            yield fanned
    finally:
        adapter.close()


__all__ = ["ADAPTERS", "Adapter", "RunRequest", "adapter_names", "fan_out", "get_adapter"]
