"""The adapter contract: one work method, ``run(request) -> Envelope``, plus ``close()``.

Adapters make one attempt; the caller applies the retry policy. They translate every SDK
exception into the canon at their boundary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from runtime.contract.wire import Envelope
from runtime.registry.load import ResolvedProcessor


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


class Adapter(Protocol):
    """What ``run_processor`` drives; see :mod:`runtime.adapters` for the name registry."""

    name: str

    def run(self, request: RunRequest) -> Envelope:
        """Execute one attempt and return the validated success envelope (or raise the canon)."""
        ...

    def close(self) -> None:
        """Release clients and connections."""
        ...
