"""The adapter contract: one work method, ``run(request) -> Attempt``, plus ``close()``.

Adapters make one attempt and return the finished child plus their own meta; the runner judges
it (:func:`runtime.adapters.outcome.judge_attempt`) and applies the retry policy. Adapters
translate every SDK exception into the canon at their boundary.

One optional capability: an adapter whose engine fans out itself (``modal``) has ``fan_out()``, a
context manager yielding an adapter of the same contract for many runs at once; a batch passes it
to each item's ``run_processor(..., via=...)`` (see :func:`runtime.adapters.fan_out`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from runtime.registry.load import ResolvedProcessor

if TYPE_CHECKING:
    from runtime.adapters.outcome import Attempt


@dataclass(frozen=True)
class RunRequest:
    """Everything an adapter needs for one attempt; built and validated by ``run_processor``."""

    execution_id: str
    processor: ResolvedProcessor
    mode: str
    env: str
    inputs: dict[str, Any]
    write_prefix: Path
    artifacts_root: Path
    timeout_s: float
    root: Path
    image_override: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def payload(self, write_prefix: str | None = None, artifacts_root: str | None = None
                ) -> dict[str, Any]:
        """The processor payload; containers pass their own mount paths."""
        return {
            "execution_id": self.execution_id,
            "ref": str(self.processor.ref),
            "mode": self.mode,
            "inputs": self.inputs,
            "write_prefix": write_prefix or str(self.write_prefix),
            "artifacts_root": artifacts_root or str(self.artifacts_root),
        }

    def payload_bytes(self, write_prefix: str | None = None, artifacts_root: str | None = None
                      ) -> bytes:
        """The payload serialised once, as the child reads it (UTF-8, not ASCII-escaped, so its
        size stays within the kit's payload limit whenever the inputs are within theirs)."""
        return json.dumps(self.payload(write_prefix, artifacts_root), ensure_ascii=False,
                          separators=(",", ":")).encode("utf-8")


class Adapter(Protocol):
    """What ``run_processor`` drives; see :mod:`runtime.adapters` for the name registry."""

    name: str

    def run(self, request: RunRequest) -> Attempt:
        """Execute one attempt and return the finished child with the adapter's meta.

        Raises the canon for what stops the attempt before a child finishes (an image that is
        not available, a Modal lookup that fails); the child's own outcome is judged by the runner.
        """
        ...

    def close(self) -> None:
        """Release clients and connections."""
        ...
