"""Judge a finished child (local process, container or Modal call) the same way everywhere."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runtime.contract.envelope import (
    check_receipts,
    check_success_files,
    parse_envelope,
    raise_for_error_envelope,
)
from runtime.contract.wire import Envelope
from runtime.errors import AdapterInvocationError, ProcessorRuntimeError
from runtime.kit.hashing import sha256_hex
from runtime.redaction import redact_text

if TYPE_CHECKING:
    from runtime.adapters.base import RunRequest

TIMEOUT_RC = 124


@dataclass(frozen=True)
class ChildOutcome:
    """The adapter-neutral facts of a finished child."""

    rc: int
    stdout: bytes
    stdout_len: int
    stdout_overflow: bool
    stderr_tail: bytes
    elapsed_ms: int
    timed_out: bool = False


def failure_meta(outcome: ChildOutcome) -> dict[str, object]:
    """Diagnostics attached to every failed child: timing, stderr digest, stdout length."""
    return {
        "rc": outcome.rc,
        "elapsed_ms": outcome.elapsed_ms,
        "stderr_sha256": sha256_hex(outcome.stderr_tail),
        "stdout_len": outcome.stdout_len,
        "timed_out": outcome.timed_out,
    }


def container_failed(outcome: ChildOutcome) -> AdapterInvocationError:
    """The SPEC §7 failure: ``Container failed with exit code <rc>. STDERR:\\n<tail>``."""
    tail = redact_text(outcome.stderr_tail.decode("utf-8", "replace"))
    return AdapterInvocationError(
        f"Container failed with exit code {outcome.rc}. STDERR:\n{tail}",
        retryable=outcome.timed_out,
        meta=failure_meta(outcome),
    )


def judge(outcome: ChildOutcome, write_prefix: Path, artifacts_root: Path,
          execution_id: str) -> Envelope:
    """Return the validated success envelope or raise the canon error that explains the run."""
    if outcome.timed_out or outcome.rc == TIMEOUT_RC:
        raise container_failed(outcome)
    if outcome.stdout_overflow:
        err = AdapterInvocationError(
            f"processor printed {outcome.stdout_len} bytes on stdout (expected one envelope line)",
            meta=failure_meta(outcome),
        )
        raise err
    try:
        envelope = parse_envelope(outcome.stdout)
    except AdapterInvocationError as exc:
        if outcome.rc != 0:
            raise container_failed(outcome) from exc
        exc.meta.update(failure_meta(outcome))
        raise
    try:
        raise_for_error_envelope(envelope)
    except ProcessorRuntimeError as exc:
        exc.meta.update(failure_meta(outcome))
        raise
    if outcome.rc != 0:
        raise container_failed(outcome)
    try:
        check_success_files(envelope, write_prefix, execution_id)
        check_receipts(write_prefix, artifacts_root, execution_id)
    except AdapterInvocationError as exc:
        exc.meta.update(failure_meta(outcome))
        raise
    return envelope


def judge_and_log(outcome: ChildOutcome, request: RunRequest, log: Any,
                  error_meta: dict[str, Any] | None = None) -> Envelope:
    """:func:`judge` plus the ``adapter.invoke.error|complete`` breadcrumb every adapter logs.

    ``error_meta`` (e.g. the docker image digest) is logged with either event and added to the
    meta of an ``ERR_ADAPTER_INVOCATION`` raised by the judge.
    """
    extra = dict(error_meta or {})
    try:
        envelope = judge(outcome, request.write_prefix, request.artifacts_root,
                         request.execution_id)
    except Exception as exc:
        if extra and isinstance(exc, AdapterInvocationError):
            exc.meta.update(extra)
        log.error("adapter.invoke.error", rc=outcome.rc, elapsed_ms=outcome.elapsed_ms,
                  code=getattr(exc, "code", type(exc).__name__), **extra)
        raise
    log.info("adapter.invoke.complete", rc=outcome.rc, elapsed_ms=outcome.elapsed_ms,
             outputs=len(envelope.outputs), **extra)
    return envelope
