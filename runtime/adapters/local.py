"""The ``local`` adapter: the processor's entrypoint as a subprocess, through the spawn helper."""

from __future__ import annotations

import os
import sys

from runtime.adapters.base import RunRequest
from runtime.adapters.childlog import StderrForwarder
from runtime.adapters.outcome import Attempt
from runtime.child.env import build_child_env
from runtime.child.spawn import spawn
from runtime.logging import get_logger
from runtime.paths import runtime_import_root


class LocalAdapter:
    """Runs ``python -B <entrypoint>`` from source with a scrubbed environment; no container."""

    name = "local"

    def __init__(self, python: str | None = None) -> None:
        self._python = python or sys.executable

    def run(self, request: RunRequest) -> Attempt:
        """One attempt: spawn the entrypoint and stream its stderr into the log."""
        processor = request.processor
        pythonpath = str(runtime_import_root())
        child_env = build_child_env(
            mode=request.mode,
            env=request.env,
            secrets=processor.settings.secrets,
            extra={"PYTHONPATH": pythonpath},
        )
        log = get_logger(adapter=self.name, execution_id=request.execution_id,
                         processor_ref=str(processor.ref), mode=request.mode, env=request.env)
        log.info("adapter.invoke.start", entrypoint=os.path.relpath(processor.entrypoint,
                                                                    request.root),
                 timeout_s=request.timeout_s)
        result = spawn(
            [self._python, "-B", str(processor.entrypoint)],
            stdin=request.payload_bytes(),
            env=child_env,
            cwd=str(request.write_prefix),
            timeout_s=request.timeout_s,
            on_stderr_line=StderrForwarder(execution_id=request.execution_id,
                                           processor_ref=str(processor.ref)),
        )
        return Attempt(result)

    def close(self) -> None:
        """Nothing to release for a local subprocess."""
