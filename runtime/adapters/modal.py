"""The ``modal`` adapter: look the deployed function up by its computed name, call it, judge it.

Names come from :mod:`runtime.modal.naming` exactly as ``inv deploy-modal`` computes them. The payload
carries container paths under the artifacts volume mount; afterwards the run's folders are fetched
from the volume into the host's write prefix and artifacts root and the result is judged with
:func:`runtime.adapters.outcome.judge`, exactly like a local run. One attempt per ``run``; the
runner retries ``ERR_MODAL_TIMEOUT`` once through :mod:`runtime.retry`.
"""

from __future__ import annotations

import math
import time
from typing import Any

from runtime.adapters.base import RunRequest
from runtime.adapters.outcome import Attempt
from runtime.child.spawn import SpawnResult
from runtime.errors import InputsError, ModalInvocationError
from runtime.logging import get_logger
from runtime.modal.app import (
    ARTIFACTS_MOUNT,
    RESULT_DIGEST_KEY,
    client_timeout_s,
    function_timeout_s,
)
from runtime.modal.boundary import ModalBoundary, get_boundary
from runtime.modal.naming import modal_volume_name
from runtime.modal.ops import lookup_causes, translate_sdk_error
from runtime.modal.target import ModalTarget

_RESULT_KEYS = ("rc", "stdout")


def call_timeouts(requested_s: float, registry_s: float) -> tuple[int, float]:
    """``(effective function timeout, client wait)`` of one call, in seconds.

    The deployed function runs under the registry's limit plus a grace; ``--timeout-s`` below
    the registry's shortens this call (the host stops waiting and cancels it), one above cannot
    lengthen what was deployed. The wait is always ≥ 1.2 x the effective function timeout.
    """
    deployed = function_timeout_s(registry_s)
    effective = deployed if requested_s >= registry_s else min(deployed, math.ceil(requested_s))
    return effective, client_timeout_s(effective)


class ModalAdapter:
    """Runs a processor on Modal through :class:`runtime.modal.boundary.ModalBoundary`."""

    name = "modal"

    def __init__(self, boundary: ModalBoundary | None = None) -> None:
        self._boundary = boundary

    def _active(self) -> ModalBoundary:
        if self._boundary is None:
            self._boundary = get_boundary()
        return self._boundary

    def run(self, request: RunRequest) -> Attempt:
        """One attempt: lookup, call with a client timeout ≥ 1.2 x function timeout, fetch.

        Raises ``ERR_MODAL_LOOKUP``, ``ERR_MODAL_TIMEOUT`` (retryable) and
        ``ERR_MODAL_INVOCATION``; the runner judges the processor's own outcome.
        """
        target = self.target(request)
        ref = request.processor.ref
        app_name, function_name = target.app_name, target.function_name
        modal_env = target.environment
        fn_timeout, wait_s = call_timeouts(request.timeout_s, request.processor.version.timeout_s)
        boundary = self._active()
        log = get_logger(adapter=self.name, execution_id=request.execution_id,
                         processor_ref=str(ref), mode=request.mode, env=request.env,
                         app=app_name, function=function_name, modal_environment=modal_env)
        if target.dev_fallback:
            log.warning("modal.naming.dev_fallback", reason="env=dev without branch and user")
        log.info("adapter.invoke.start", function_timeout_s=fn_timeout, client_timeout_s=wait_s,
                 modal_server=boundary.server)
        remote_prefix = self._remote_prefix(request)
        started = time.monotonic()
        try:
            handle = boundary.lookup_function(app_name, function_name, environment_name=modal_env)
        except Exception as exc:
            message = lookup_causes(target, function_name=function_name)
            raise self._fail(log, exc, "lookup", started, message, app_name, modal_env) from exc
        payload = request.payload(write_prefix=f"{ARTIFACTS_MOUNT}/{remote_prefix}",
                                  artifacts_root=ARTIFACTS_MOUNT)
        try:
            result = boundary.call_function(handle, payload, timeout_s=wait_s)
        except Exception as exc:
            raise self._fail(log, exc, "invocation", started, "", app_name, modal_env) from exc
        outcome, digest = self._outcome(result, started)
        meta = {"app": app_name, "function": function_name, "modal_environment": modal_env,
                "modal_server": boundary.server, "image_digest": digest}
        try:
            self._fetch(boundary, modal_env, remote_prefix, request)
        except Exception as exc:
            if outcome.rc == 0:  # a success whose files cannot be read is not a success
                raise self._fail(log, exc, "volume read", started, "", app_name,
                                 modal_env) from exc
            # The child already failed: its own canonical error is the one the runner reports.
            log.warning("modal.volume.read_failed", sdk_error=type(exc).__name__, rc=outcome.rc)
        return Attempt(outcome, meta, reported_prefix=f"{ARTIFACTS_MOUNT}/{remote_prefix}")

    @staticmethod
    def target(request: RunRequest) -> ModalTarget:
        """The app this run calls: the request's ref and env plus the ``branch``, ``user`` and
        ``modal_environment`` adapter options (the same target ``inv deploy-modal`` deploys)."""
        options = request.options
        return ModalTarget(str(request.processor.ref), request.env,
                           str(options.get("branch") or "") or None,
                           str(options.get("user") or "") or None,
                           str(options.get("modal_environment") or "") or None)

    @staticmethod
    def _remote_prefix(request: RunRequest) -> str:
        """The write prefix relative to the volume root (default layout ``runs/<id>``)."""
        try:
            relative = request.write_prefix.relative_to(request.artifacts_root).as_posix()
        except ValueError:
            return f"runs/{request.execution_id}"
        if relative in ("", ".") or relative.startswith("execution/"):
            raise InputsError("the modal adapter needs a write prefix of its own, not the "
                              "artifacts root or its execution/ folder")
        return relative

    def _fetch(self, boundary: ModalBoundary, modal_env: str, remote_prefix: str,
               request: RunRequest) -> None:
        """Bring the run's files from the artifacts volume to where the host judges them."""
        volume = modal_volume_name()
        boundary.fetch_volume(volume, environment_name=modal_env, remote_dir=remote_prefix,
                              local_dir=request.write_prefix)
        execution = f"execution/{request.execution_id}"
        boundary.fetch_volume(volume, environment_name=modal_env, remote_dir=execution,
                              local_dir=request.artifacts_root / execution)

    @staticmethod
    def _outcome(result: Any, started: float) -> tuple[SpawnResult, str | None]:
        """The function's return value as the one child-result shape plus the image digest the
        function was deployed with; a malformed one is ``ERR_MODAL_INVOCATION`` (it is not what
        the deployed in-container entry returns)."""
        meta = {"elapsed_ms": int((time.monotonic() - started) * 1000)}
        if not isinstance(result, dict):
            raise ModalInvocationError(
                f"the Modal function returned {type(result).__name__}, not the in-container "
                "entry's result", meta=meta)
        digest = result.get(RESULT_DIGEST_KEY)
        try:
            return SpawnResult.from_wire(result), digest if isinstance(digest, str) else None
        except ValueError as exc:
            raise ModalInvocationError(
                f"the Modal function's result is not the in-container entry's ({exc})",
                meta=meta) from exc

    def _fail(self, log: Any, exc: BaseException, stage: str, started: float, message: str,
              app_name: str, modal_env: str) -> Exception:
        elapsed = int((time.monotonic() - started) * 1000)
        err = translate_sdk_error(exc, stage=stage, lookup_message=message,
                                  meta={"elapsed_ms": elapsed, "app": app_name,
                                        "modal_environment": modal_env})
        log.warning("modal.call.failed", code=err.code, sdk_error=type(exc).__name__,
                    elapsed_ms=elapsed, stage=stage)
        return err

    def close(self) -> None:
        """The SDK client is process-wide; nothing to release per adapter."""
