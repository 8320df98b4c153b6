"""``run_processor``: the one execution surface for every adapter.

One straight path: the request is validated once, here (execution id, mode, env, adapter, ref,
inputs, timeout, paths, CI guard); the adapter makes one attempt and returns the finished child
plus its meta; the runner judges it once (:func:`runtime.adapters.outcome.judge_attempt`), applies
the one retry policy, validates the outputs once and merges meta once. It settles with a complete
envelope — or raises the canon error carrying the same context for the error envelope.
"""

from __future__ import annotations

import functools
import json
import math
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runtime.adapters import Adapter, RunRequest, get_adapter
from runtime.adapters.outcome import judge_attempt
from runtime.contract.schemas import input_validator, validate_outputs
from runtime.contract.wire import Envelope
from runtime.errors import InputsError, ProcessorRuntimeError
from runtime.guards import (
    check_env,
    check_execution_id,
    check_image_override,
    check_mode,
    check_pinned_env,
    new_execution_id,
)
from runtime.kit.files import remove_partial_writes
from runtime.kit.message import INPUTS_LIMIT_BYTES
from runtime.logging import get_logger
from runtime.paths import default_artifacts_root, project_root
from runtime.redaction import register_secret_names, register_sensitive_environ
from runtime.registry.load import Registry, ResolvedProcessor
from runtime.retry import call_with_retry

MAX_TIMEOUT_S = 86400

__all__ = ["check_timeout", "inputs_check", "load_inputs_file", "new_execution_id", "parse_inputs_json",
           "run_processor"]


def parse_inputs_json(text: str) -> dict[str, Any]:
    """Parse ``--inputs-json`` text into an object (``ERR_INPUTS`` when it is not one JSON object).

    The size bound here is a read bound (untrusted text is not parsed past the limit); the content
    of the parsed object is checked once, by :func:`run_processor`.
    """
    if len(text) > INPUTS_LIMIT_BYTES or len(text.encode("utf-8")) > INPUTS_LIMIT_BYTES:
        raise InputsError(f"inputs JSON exceeds {INPUTS_LIMIT_BYTES} bytes")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputsError(f"inputs are not valid JSON: {exc.msg} at line {exc.lineno} "
                          f"column {exc.colno}") from exc
    if not isinstance(value, dict):
        raise InputsError(f"inputs must be a JSON object, got {type(value).__name__}")
    return value


def load_inputs_file(path: str | Path) -> dict[str, Any]:
    """Read ``--inputs-file``: the same rules as ``--inputs-json``."""
    file = Path(path)
    try:
        size = file.stat().st_size
    except OSError as exc:
        raise InputsError(f"inputs file {file} cannot be read: {exc.strerror}") from exc
    if size > INPUTS_LIMIT_BYTES:
        raise InputsError(f"inputs file {file} exceeds {INPUTS_LIMIT_BYTES} bytes")
    try:
        text = file.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputsError(f"inputs file {file} is not readable UTF-8 text: {exc}") from exc
    return parse_inputs_json(text)


def check_timeout(timeout_s: float | None, default_s: float) -> float:
    """The wall-clock limit of a run: ``timeout_s``, else the registry's; ``ERR_INPUTS`` outside
    ``(0, MAX_TIMEOUT_S]``."""
    limit = float(timeout_s) if timeout_s is not None else default_s
    if not (math.isfinite(limit) and 0 < limit <= MAX_TIMEOUT_S):
        raise InputsError(f"timeout must be within (0, {MAX_TIMEOUT_S}] seconds (--timeout-s, "
                          f"else the registry's timeout_s), got {limit:g}")
    return limit


def _check_inputs(inputs: Any) -> dict[str, Any]:
    if not isinstance(inputs, dict):
        raise InputsError(f"inputs must be a JSON object, got {type(inputs).__name__}")
    try:
        # UTF-8 as the kit will write it: a lone surrogate ("\ud800" in JSON) is refused here
        # rather than crashing the processor when it encodes its outputs or hashes.
        encoded = json.dumps(inputs, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise InputsError(f"inputs are not JSON-serialisable UTF-8: {exc}") from exc
    if len(encoded) > INPUTS_LIMIT_BYTES:
        raise InputsError(f"inputs exceed {INPUTS_LIMIT_BYTES} bytes")
    return inputs


def inputs_check(processor: ResolvedProcessor) -> Callable[[Any], dict[str, Any]]:
    """The one inputs check of a run (shape, JSON/UTF-8 encodability, size, the input schema),
    with the version's schema loaded once: ``run_processor`` applies it to its inputs and a batch
    to every line before any item runs. The returned function raises ``ERR_INPUTS``."""
    against_schema = input_validator(processor)

    def check(inputs: Any) -> dict[str, Any]:
        checked = _check_inputs(inputs)
        against_schema(checked)
        return checked

    return check


def _prepare_prefix(write_prefix: Path) -> Path:
    if write_prefix.is_symlink():
        raise InputsError(f"write prefix {write_prefix} is a symlink")
    if write_prefix.exists():
        if not write_prefix.is_dir():
            raise InputsError(f"write prefix {write_prefix} exists and is not a folder")
        if any(write_prefix.iterdir()):
            raise InputsError(f"write prefix {write_prefix} is not empty (use a fresh folder)")
    write_prefix.mkdir(parents=True, exist_ok=True)
    return write_prefix.resolve()


def _reset_prefix(write_prefix: Path) -> None:
    """Empty the prefix before a retry so an attempt never sees its predecessor's files."""
    for child in write_prefix.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def _discard_partial_writes(prefix: Path, execution_dir: Path, log: Any) -> None:
    """A failed child may die mid-write (SIGKILL, timeout): drop its stray temp files."""
    removed = [*remove_partial_writes(prefix), *remove_partial_writes(execution_dir)]
    if removed:
        log.warning("execution.partial_writes.removed", count=len(removed))


def run_processor(
    ref: str,
    *,
    inputs: dict[str, Any] | None = None,
    mode: str = "mock",
    adapter: str = "local",
    env: str = "dev",
    write_prefix: str | Path | None = None,
    artifacts_root: str | Path | None = None,
    timeout_s: float | None = None,
    execution_id: str | None = None,
    image_override: str | None = None,
    root: str | Path | None = None,
    adapter_options: dict[str, Any] | None = None,
    evidence: str | Path | bool | None = None,
) -> Envelope:
    """Run the processor ``ref`` once (plus one retry on a timeout) and return its envelope.

    ``mode`` is explicit (``mock`` by default, never inferred). ``evidence`` records the run's
    envelope and events (``True``: under ``evidence/runs/<execution_id>/``; a path: under
    ``<path>/<execution_id>/``). Raises the canon: ``ERR_INPUTS`` (bad ref/inputs/flags),
    ``ERR_CI_SAFETY`` (real under ``CI=true``), ``ERR_MISSING_SECRET``, ``ERR_ADAPTER_INVOCATION``
    (child failure or contract breach) and the adapter-specific image/Modal codes. The raised
    error carries ``execution_id`` and ``meta``.
    """
    eid = new_execution_id() if execution_id is None else execution_id
    execute = functools.partial(
        _execute, ref, eid, inputs=inputs, mode=mode, adapter=adapter, env=env,
        write_prefix=write_prefix, artifacts_root=artifacts_root, timeout_s=timeout_s,
        image_override=image_override, root=root, adapter_options=adapter_options)
    if not evidence:
        return execute()
    from runtime.evidence.record import EvidenceRecorder, run_folder

    # The id names the evidence folder: run_folder checks it (the same check the run makes)
    # before anything is recorded, so the run itself need not check it again.
    project = Path(root).resolve() if root else project_root()
    folder = run_folder(None if evidence is True else evidence, eid, project)
    with EvidenceRecorder(folder, inputs=inputs, execution_id=eid) as recorder:
        envelope = execute(id_checked=True)
        recorder.record(envelope)
    return envelope


def _execute(
    ref: str,
    eid: str,
    *,
    inputs: dict[str, Any] | None,
    mode: str,
    adapter: str,
    env: str,
    write_prefix: str | Path | None,
    artifacts_root: str | Path | None,
    timeout_s: float | None,
    image_override: str | None,
    root: str | Path | None,
    adapter_options: dict[str, Any] | None,
    id_checked: bool = False,
) -> Envelope:
    started = time.monotonic()
    context: dict[str, Any] = {"adapter": adapter, "mode": mode, "env": env,
                               "processor_ref": str(ref)}
    log = get_logger(execution_id=eid, **context)
    log.info("execution.start")
    attempts = 0
    prefix: Path | None = None
    artifacts: Path | None = None
    runner: Adapter | None = None
    try:
        if not id_checked:
            check_execution_id(eid)
        check_mode(mode)
        check_env(env)
        check_image_override(env, image_override)
        check_pinned_env(env, adapter)
        runner = get_adapter(adapter)  # an unknown name is refused before any folder is created
        project = Path(root).resolve() if root else project_root()
        registry = Registry.load(project)
        resolved = registry.resolve(ref)
        context["processor_ref"] = str(resolved.ref)
        limit = check_timeout(timeout_s, resolved.version.timeout_s)
        register_secret_names(registry.all_secret_names())
        register_sensitive_environ()
        checked_inputs = inputs_check(resolved)({} if inputs is None else inputs)
        artifacts = Path(artifacts_root) if artifacts_root else default_artifacts_root(project)
        artifacts.mkdir(parents=True, exist_ok=True)
        artifacts = artifacts.resolve()
        execution_dir = artifacts / "execution" / eid
        if execution_dir.exists() and any(execution_dir.iterdir()):
            # A reused id would overwrite an earlier run's receipt: lose nothing, refuse instead.
            raise InputsError(f"execution id {eid} was already used under {artifacts}")
        prefix = _prepare_prefix(Path(write_prefix) if write_prefix else artifacts / "runs" / eid)
        request = RunRequest(
            execution_id=eid, processor=resolved, mode=mode, env=env, inputs=checked_inputs,
            write_prefix=prefix, artifacts_root=artifacts, timeout_s=limit, root=project,
            image_override=image_override, options=dict(adapter_options or {}),
        )
        invoke_log = log.bind(adapter=adapter)

        def attempt() -> tuple[Envelope, dict[str, Any]]:
            nonlocal attempts
            attempts += 1
            if attempts > 1:
                _reset_prefix(prefix)
                if execution_dir.is_dir():
                    _reset_prefix(execution_dir)
            try:
                result = runner.run(request)
            except ProcessorRuntimeError as exc:
                invoke_log.error("adapter.invoke.error", code=exc.code,
                                 elapsed_ms=exc.meta.get("elapsed_ms"))
                raise
            return judge_attempt(result, request, invoke_log), result.meta

        def on_retry(number: int, exc: BaseException) -> None:
            log.warning("execution.retry", attempt=number, code=getattr(exc, "code", None))

        envelope, adapter_meta = call_with_retry(attempt, on_retry=on_retry)
        validate_outputs(resolved, envelope, prefix)
    except ProcessorRuntimeError as err:
        if prefix is not None and artifacts is not None and attempts:
            _discard_partial_writes(prefix, artifacts / "execution" / eid, log)
        elapsed = int((time.monotonic() - started) * 1000)
        err.execution_id = eid
        err.meta = {**err.meta, **context, "elapsed_ms": elapsed, "attempts": attempts}
        log.error("execution.settle", status="error", code=err.code, elapsed_ms=elapsed,
                  attempts=attempts)
        raise
    finally:
        if runner is not None:
            runner.close()
    elapsed = int((time.monotonic() - started) * 1000)
    meta = {**envelope.meta, **adapter_meta, **context, "elapsed_ms": elapsed,
            "attempts": attempts}
    settled = envelope.model_copy(update={"meta": meta})
    log.info("execution.settle", status="success", elapsed_ms=elapsed, attempts=attempts,
             outputs=len(settled.outputs))
    return settled
