"""``run_processor``: the one execution surface for every adapter.

One straight path: the request is validated once, here (execution id, mode, env, adapter, ref,
inputs, timeout, paths, CI guard); the adapter makes one attempt and returns the finished child
plus its meta; the runner judges it once (:func:`runtime.adapters.outcome.judge_attempt`), applies
the one retry policy, validates the outputs once and merges meta once. It settles with a complete
envelope — or raises the canon error carrying the same context for the error envelope.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import shutil
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runtime.adapters import Adapter, RunRequest, get_adapter
from runtime.adapters.outcome import Confinement, judge_attempt, watch_confinement
from runtime.contract.schemas import input_validator, validate_outputs
from runtime.contract.shapes import WireEnvelope
from runtime.errors import CancelledError, InputsError, ProcessorRuntimeError
from runtime.guards import (
    SOURCE_ADAPTERS,
    check_env,
    check_execution_id,
    check_image_override,
    check_mode,
    check_pinned_env,
    new_execution_id,
)
from runtime.kit.files import remove_partial_writes
from runtime.kit.layout import execution_dir, run_prefix
from runtime.kit.message import CUT_MARK, INPUTS_LIMIT_BYTES
from runtime.logging import get_logger
from runtime.paths import default_artifacts_root, project_root
from runtime.redaction import register_secret_names, register_sensitive_environ
from runtime.registry.load import Registry, ResolvedProcessor
from runtime.retry import call_with_retry

if TYPE_CHECKING:  # pydantic loads when a Python caller gets its Envelope, not for the CLI
    from runtime.contract.wire import Envelope

MAX_TIMEOUT_S = 86400
#: Deepest nesting of inputs accepted: every walk of them (the kit's hashing, validation,
#: redaction) then stays far from Python's recursion limit.
MAX_INPUTS_DEPTH = 100
_SHOWN_ID_CHARS = 80  # an execution id that fails its check is echoed this far, no further

__all__ = ["check_timeout", "inputs_check", "load_inputs_file", "new_execution_id", "parse_inputs_json",
           "run_processor", "run_processor_wire"]


def parse_inputs_json(text: str) -> dict[str, Any]:
    """Parse ``--inputs-json`` text into an object (``ERR_INPUTS`` when it is not one JSON object).

    The size bound here is a read bound (untrusted text is not parsed past the limit); the content
    of the parsed object is checked once, by :func:`run_processor`.
    """
    if len(text) > INPUTS_LIMIT_BYTES:
        raise InputsError(f"inputs JSON exceeds {INPUTS_LIMIT_BYTES} bytes")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:  # argv bytes that were not UTF-8 arrive as surrogates
        raise InputsError(f"inputs JSON is not UTF-8 text (byte at position {exc.start})") from exc
    if size > INPUTS_LIMIT_BYTES:
        raise InputsError(f"inputs JSON exceeds {INPUTS_LIMIT_BYTES} bytes")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputsError(f"inputs are not valid JSON: {exc.msg} at line {exc.lineno} "
                          f"column {exc.colno}") from exc
    except RecursionError as exc:
        raise InputsError(f"inputs nest deeper than {MAX_INPUTS_DEPTH} levels") from exc
    except ValueError as exc:  # e.g. an integer past sys.get_int_max_str_digits()
        raise InputsError(f"inputs are not valid JSON: {str(exc)[:200]}") from exc
    if not isinstance(value, dict):
        raise InputsError(f"inputs must be a JSON object, got {type(value).__name__}")
    return value


def load_inputs_file(path: str | Path) -> dict[str, Any]:
    """Read ``--inputs-file``: the same rules as ``--inputs-json``.

    Only a regular file is read (a FIFO, a device or ``/dev/zero`` is ``ERR_INPUTS``: opened
    non-blocking, so a FIFO without a writer cannot hang the run), and never more than the limit
    plus one byte, whatever its size claims.
    """
    file = Path(path)
    try:
        fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise InputsError(f"inputs file {file} cannot be read: {reason}") from exc
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InputsError(f"inputs file {file} is not a regular file")
        try:
            data = handle.read(INPUTS_LIMIT_BYTES + 1)
        except OSError as exc:
            raise InputsError(f"inputs file {file} cannot be read: {exc.strerror}") from exc
    if len(data) > INPUTS_LIMIT_BYTES:
        raise InputsError(f"inputs file {file} exceeds {INPUTS_LIMIT_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputsError(f"inputs file {file} is not readable UTF-8 text: {exc.reason} at byte "
                          f"{exc.start}") from exc
    return parse_inputs_json(text)


def _depth_exceeds(value: Any, limit: int) -> bool:
    """True when ``value`` nests containers deeper than ``limit`` (an iterative walk)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list | tuple):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


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
    if _depth_exceeds(inputs, MAX_INPUTS_DEPTH):
        raise InputsError(f"inputs nest deeper than {MAX_INPUTS_DEPTH} levels")
    try:
        # UTF-8 as the kit will write it: a lone surrogate ("\ud800" in JSON) is refused here
        # rather than crashing the processor when it encodes its outputs or hashes.
        encoded = json.dumps(inputs, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:
        raise InputsError(f"inputs are not JSON-serialisable UTF-8: {str(exc)[:200]}") from exc
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


def _check_path_text(label: str, path: Path) -> None:
    """A path the child receives in its JSON payload must be UTF-8 text (``ERR_INPUTS``)."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputsError(f"{label} is not UTF-8 text (byte at position {exc.start})") from exc


def _make_dir(label: str, path: Path, *, exclusive: bool) -> None:
    """Create ``path`` (parents too). ``exclusive``: it must not exist yet — ``mkdir`` is the
    atomic claim, no check-then-act — else ``FileExistsError``. ``ERR_INPUTS`` when the
    filesystem refuses (``/proc``, ``/dev/null``, under a file, read-only)."""
    if not exclusive and path.is_dir():
        return  # one stat: a mkdir that fails locks the parent folder against its other writers
    try:
        try:
            path.mkdir()
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.mkdir()
    except FileExistsError:
        if exclusive:
            raise
    except OSError as exc:
        raise InputsError(f"{label} {path} cannot be created: {exc.strerror}") from exc
    else:
        return  # made here: a folder, whatever raced us for the name
    if not path.is_dir():
        raise InputsError(f"{label} {path} exists and is not a folder")


def _prepare_prefix(write_prefix: Path, code_folder: Path) -> tuple[Path, bool]:
    """The write prefix, created (or found empty); returns it resolved and whether we made it."""
    _check_path_text("write prefix", write_prefix)
    if write_prefix.is_symlink():
        raise InputsError(f"write prefix {write_prefix} is a symlink")
    resolved = write_prefix.resolve()
    if resolved == code_folder or code_folder in resolved.parents:
        # The run's own outputs would change the code hash: receipts would stop being stable.
        raise InputsError(f"write prefix {write_prefix} lies inside the processor's code folder")
    try:
        _make_dir("write prefix", write_prefix, exclusive=True)
    except FileExistsError:
        pass
    else:
        return resolved, True  # the folder made here is no link: it resolves as it did before
    if not write_prefix.is_dir():
        raise InputsError(f"write prefix {write_prefix} exists and is not a folder")
    if any(write_prefix.iterdir()):
        raise InputsError(f"write prefix {write_prefix} is not empty (use a fresh folder)")
    return write_prefix.resolve(), False


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


def _release(created: list[Path], *, wipe: bool) -> None:
    """Give back the folders a failed run claimed: empty ones always (a run refused before its
    child wrote anything leaves no ``runs/<id>``), all of them when the run was cancelled, so the
    execution id can be used again."""
    for folder in reversed(created):
        if wipe:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                for sub in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
                    if sub.is_dir() and not sub.is_symlink():
                        sub.rmdir()  # only empty folders go; a file stops it (OSError)
                folder.rmdir()


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
    via: Adapter | None = None,
) -> Envelope:
    """Run the processor ``ref`` once (plus one retry on a timeout) and return its envelope.

    ``mode`` is explicit (``mock`` by default, never inferred). ``evidence`` records the run's
    envelope and events (``True``: under ``evidence/runs/<execution_id>/``; a path: under
    ``<path>/<execution_id>/``). Raises the canon: ``ERR_INPUTS`` (bad ref/inputs/flags),
    ``ERR_CI_SAFETY`` (real under ``CI=true``), ``ERR_MISSING_SECRET``, ``ERR_ADAPTER_INVOCATION``
    (child failure or contract breach) and the adapter-specific image/Modal codes. The raised
    error carries ``execution_id`` and ``meta``.

    ``via`` is an adapter instance already open for many runs — a batch's fan-out
    (:func:`runtime.adapters.fan_out`) — that makes this run's attempts; its name must be
    ``adapter``, and it is the caller's to close. Everything else of the run is the same.
    """
    return run_processor_wire(
        ref, inputs=inputs, mode=mode, adapter=adapter, env=env, write_prefix=write_prefix,
        artifacts_root=artifacts_root, timeout_s=timeout_s, execution_id=execution_id,
        image_override=image_override, root=root, adapter_options=adapter_options,
        evidence=evidence, via=via).to_model()


def run_processor_wire(
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
    via: Adapter | None = None,
) -> WireEnvelope:
    """:func:`run_processor`, returning the settled envelope in its light wire form.

    The same run, checks and errors; the envelope is a :class:`~runtime.contract.shapes.WireEnvelope`
    (same fields, ``model_dump``), so a caller that only prints it (the CLI) never loads pydantic.
    """
    if via is not None and via.name != adapter:
        raise ValueError(f"via is a {via.name!r} adapter, the run asks for {adapter!r}")
    eid = new_execution_id() if execution_id is None else execution_id
    execute = functools.partial(
        _execute, ref, eid, inputs=inputs, mode=mode, adapter=adapter, env=env,
        write_prefix=write_prefix, artifacts_root=artifacts_root, timeout_s=timeout_s,
        image_override=image_override, root=root, adapter_options=adapter_options, via=via)
    if not evidence:
        return execute()
    from runtime.evidence.record import EvidenceRecorder, run_folder

    # The id names the evidence folder: run_folder checks it (the same check the run makes)
    # before anything is recorded, so the run itself need not check it again.
    project = Path(root).resolve() if root else project_root()
    folder = run_folder(None if evidence is True else evidence, eid, project)
    with EvidenceRecorder(folder, inputs=inputs, execution_id=eid) as recorder:
        envelope = execute(id_checked=True)
        recorder.record(envelope.to_model())
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
    via: Adapter | None = None,
    id_checked: bool = False,
) -> WireEnvelope:
    started = time.monotonic()
    # Until it passes its check the id is untrusted text: never echoed in full.
    shown_id = eid if len(eid) <= _SHOWN_ID_CHARS else eid[:_SHOWN_ID_CHARS] + CUT_MARK
    context: dict[str, Any] = {"adapter": adapter, "mode": mode, "env": env,
                               "processor_ref": str(ref)[:_SHOWN_ID_CHARS]}
    log = get_logger(execution_id=shown_id, **context)
    log.info("execution.start")
    attempts = 0
    prefix: Path | None = None
    artifacts: Path | None = None
    runner: Adapter | None = None
    created: list[Path] = []  # folders this run claimed, innermost last
    confinement: Confinement | None = None
    try:
        if not id_checked:
            check_execution_id(eid)
        check_mode(mode)
        check_env(env)
        check_image_override(env, image_override)
        check_pinned_env(env, adapter)
        # An unknown name is refused before any folder is created.
        runner = via if via is not None else get_adapter(adapter)
        project = Path(root).resolve() if root else project_root()
        registry = Registry.load(project)
        resolved = registry.resolve(ref)
        context["processor_ref"] = str(resolved.ref)
        limit = check_timeout(timeout_s, resolved.settings.timeout_s)
        register_secret_names(registry.all_secret_names())
        register_sensitive_environ()
        checked_inputs = inputs_check(resolved)({} if inputs is None else inputs)
        artifacts = Path(artifacts_root) if artifacts_root else default_artifacts_root(project)
        _check_path_text("artifacts root", artifacts)
        _make_dir("artifacts root", artifacts, exclusive=False)
        artifacts = artifacts.resolve()
        if artifacts == resolved.directory or resolved.directory in artifacts.parents:
            raise InputsError(f"artifacts root {artifacts} lies inside the processor's code folder")
        receipts = execution_dir(artifacts, eid)
        try:
            # The atomic claim of the id: of two runs with one id, exactly one gets here.
            _make_dir("execution folder", receipts, exclusive=True)
        except FileExistsError:
            # A reused id would overwrite an earlier run's receipt: lose nothing, refuse instead.
            raise InputsError(f"execution id {eid} was already used under {artifacts} "
                              "(use a fresh id)") from None
        created.append(receipts)
        prefix, made = _prepare_prefix(
            Path(write_prefix) if write_prefix else run_prefix(artifacts, eid), resolved.directory)
        if made:
            created.append(prefix)
        confinement = (watch_confinement(artifacts, eid, prefix) if adapter in SOURCE_ADAPTERS
                       else None)
        request = RunRequest(
            execution_id=eid, processor=resolved, mode=mode, env=env, inputs=checked_inputs,
            write_prefix=prefix, artifacts_root=artifacts, timeout_s=limit, root=project,
            image_override=image_override, options=dict(adapter_options or {}),
        )
        invoke_log = log.bind(adapter=adapter)

        def attempt() -> tuple[WireEnvelope, dict[str, Any]]:
            nonlocal attempts
            attempts += 1
            if attempts > 1:
                _reset_prefix(prefix)
                if receipts.is_dir():
                    _reset_prefix(receipts)
            try:
                result = runner.run(request)
            except ProcessorRuntimeError as exc:
                invoke_log.error("adapter.invoke.error", code=exc.code,
                                 elapsed_ms=exc.meta.get("elapsed_ms"))
                raise
            envelope = judge_attempt(result, request, invoke_log)
            if confinement is not None:
                confinement.check(invoke_log)
            return envelope, result.meta

        def on_retry(number: int, exc: BaseException) -> None:
            log.warning("execution.retry", attempt=number, code=getattr(exc, "code", None))

        envelope, adapter_meta = call_with_retry(attempt, on_retry=on_retry)
        validate_outputs(resolved, envelope, prefix)
    except ProcessorRuntimeError as err:
        if prefix is not None and artifacts is not None and attempts:
            _discard_partial_writes(prefix, execution_dir(artifacts, eid), log)
        _release(created, wipe=isinstance(err, CancelledError))
        elapsed = int((time.monotonic() - started) * 1000)
        err.execution_id = shown_id
        err.meta = {**err.meta, **context, "elapsed_ms": elapsed, "attempts": attempts}
        log.error("execution.settle", status="error", code=err.code, elapsed_ms=elapsed,
                  attempts=attempts)
        raise
    finally:
        if confinement is not None:
            confinement.close()
        if runner is not None and via is None:
            runner.close()
    elapsed = int((time.monotonic() - started) * 1000)
    meta = {**envelope.meta, **adapter_meta, **context, "elapsed_ms": elapsed,
            "attempts": attempts}
    settled = envelope.model_copy(update={"meta": meta})
    log.info("execution.settle", status="success", elapsed_ms=elapsed, attempts=attempts,
             outputs=len(settled.outputs))
    return settled
