"""Judge a finished child (local process, container or Modal call) the same way everywhere."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from runtime.contracts import Envelope
from runtime.envelopes import (
    check_receipts,
    check_success_files,
    parse_envelope,
    raise_for_error_envelope,
)
from runtime.errors import AdapterInvocationError, ProcessorRuntimeError
from runtime.kit.hashing import sha256_hex
from runtime.redaction import redact_text

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
