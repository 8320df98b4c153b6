"""Judge one adapter attempt the same way for every adapter: the runner calls this, once.

An adapter returns an :class:`Attempt`: the finished child as the one
:class:`~runtime.child.spawn.SpawnResult` shape (a local process, a container and a Modal call all
end as one), plus the adapter's own meta. :func:`judge_attempt` turns it into the validated
success envelope, or raises the canon error that explains the run, and logs the
``adapter.invoke.complete|error`` breadcrumb.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runtime.child.spawn import STDERR_TAIL_BYTES, TIMEOUT_RC, SpawnResult
from runtime.contract.envelope import (
    check_receipts,
    check_success_files,
    parse_envelope,
    raise_for_error_envelope,
)
from runtime.contract.shapes import EXECUTION_ID_RE, WireEnvelope
from runtime.errors import AdapterInvocationError, ProcessorRuntimeError
from runtime.kit.hashing import sha256_hex
from runtime.kit.layout import (
    DETERMINISM_NAME,
    EXECUTION_DIRNAME,
    ROOT_FOLDERS,
    RUNS_DIRNAME,
    execution_dir,
)
from runtime.redaction import redact_tail

if TYPE_CHECKING:
    from runtime._dirwatch import DirWatch
    from runtime.adapters.base import RunRequest

__all__ = ["TIMEOUT_RC", "Attempt", "Confinement", "container_failed", "expect_many_runs",
           "failure_meta", "judge", "judge_attempt", "watch_confinement"]


@dataclass(frozen=True)
class Attempt:
    """What one adapter attempt hands the runner.

    ``reported_prefix`` is the write prefix as the child saw it when that differs from the host's
    (a Modal container writes under its volume mount); the envelope's ``index_path`` is judged
    against it and reported under the host prefix.
    """

    outcome: SpawnResult
    meta: dict[str, Any] = field(default_factory=dict)
    reported_prefix: str | None = None


def failure_meta(outcome: SpawnResult) -> dict[str, object]:
    """Diagnostics attached to every failed child: timing, stderr digest, stdout length."""
    return {
        "rc": outcome.rc,
        "elapsed_ms": outcome.elapsed_ms,
        "stderr_sha256": sha256_hex(outcome.stderr_tail),
        "stdout_len": outcome.stdout_len,
        "timed_out": outcome.timed_out,
    }


def container_failed(outcome: SpawnResult) -> AdapterInvocationError:
    """The SPEC §7 failure: ``Container failed with exit code <rc>. STDERR:\\n<tail>``."""
    # Redact first, cut afterwards: spawn kept a margin beyond the bound for exactly this.
    raw = outcome.stderr_tail.decode("utf-8", "replace")
    tail = redact_tail(raw, STDERR_TAIL_BYTES, cut_start=outcome.stderr_len > len(outcome.stderr_tail))
    return AdapterInvocationError(
        f"Container failed with exit code {outcome.rc}. STDERR:\n{tail}",
        retryable=outcome.timed_out,
        meta=failure_meta(outcome),
    )


def _host_index(envelope: WireEnvelope, reported_prefix: str | None, write_prefix: Path) -> WireEnvelope:
    """Move ``index_path`` from the child's view of the prefix to the host's (the one rewrite)."""
    if not reported_prefix or not envelope.index_path.startswith(reported_prefix.rstrip("/") + "/"):
        return envelope
    relative = envelope.index_path[len(reported_prefix.rstrip("/")) + 1:]
    return envelope.model_copy(update={"index_path": str(write_prefix / relative)})


def judge(outcome: SpawnResult, write_prefix: Path, artifacts_root: Path, execution_id: str,
          reported_prefix: str | None = None) -> WireEnvelope:
    """Return the validated success envelope or raise the canon error that explains the run."""
    if outcome.timed_out or outcome.rc == TIMEOUT_RC:
        raise container_failed(outcome)
    if outcome.stdout_overflow:
        raise AdapterInvocationError(
            f"processor printed {outcome.stdout_len} bytes on stdout (expected one envelope line)",
            meta=failure_meta(outcome),
        )
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
    envelope = _host_index(envelope, reported_prefix, write_prefix)
    try:
        check_success_files(envelope, write_prefix, execution_id)
        check_receipts(write_prefix, artifacts_root, execution_id)
    except AdapterInvocationError as exc:
        exc.meta.update(failure_meta(outcome))
        raise
    return envelope


def judge_attempt(attempt: Attempt, request: RunRequest, log: Any) -> WireEnvelope:
    """:func:`judge` plus the ``adapter.invoke.complete|error`` breadcrumb.

    The adapter's meta (e.g. the docker image digest) is logged with either event and added to
    the meta of an error the judge raises; on success the runner merges it, once, when it settles.
    """
    outcome, extra = attempt.outcome, dict(attempt.meta)
    try:
        envelope = judge(outcome, request.write_prefix, request.artifacts_root,
                         request.execution_id, attempt.reported_prefix)
    except ProcessorRuntimeError as exc:
        exc.meta.update({key: value for key, value in extra.items() if key not in exc.meta})
        log.error("adapter.invoke.error", rc=outcome.rc, elapsed_ms=outcome.elapsed_ms,
                  code=exc.code, **_loggable(extra))
        raise
    log.info("adapter.invoke.complete", rc=outcome.rc, elapsed_ms=outcome.elapsed_ms,
             outputs=len(envelope.outputs), **_loggable(extra))
    return envelope


def _loggable(meta: dict[str, Any]) -> dict[str, Any]:
    """Adapter meta minus the keys every breadcrumb already binds."""
    return {key: value for key, value in meta.items() if key not in ("adapter", "elapsed_ms", "rc")}


# Listing a folder costs ~0.6 µs an entry, twice a run; loading ctypes for inotify ~4 ms once.
# A folder's st_size grows with its entries (ext4 ~65 bytes each, tmpfs 20): past these sizes a
# folder is watched instead of listed (the smaller one once inotify is loaded: by a batch, or
# once this process's listings have cost more than loading it would).
WATCH_ABOVE_BYTES = 128 * 1024
WATCH_ABOVE_BYTES_LOADED = 8 * 1024
_LOAD_COST_S = 0.004
_listing_spent = [0.0]


class Confinement:
    """What a source-run child could reach beside its prefix, listed before the run.

    The local adapter runs the processor from source with our permissions, so nothing stops it
    writing ``prefix/../x`` or into ``execution/``; SPEC §16 makes that an error. The artifacts
    root, ``runs/``, ``execution/`` and every folder between the write prefix and the artifacts
    root (a batch item's ``items/`` and its batch folder) are listed before the attempt and
    compared after it: a new entry there that is not another run's folder, or anything in this
    run's execution folder but its receipt, is ``ERR_ADAPTER_INVOCATION``. A large folder
    (``execution/`` after a big batch) is watched with inotify (:mod:`runtime._dirwatch`)
    instead of listed, so the check does not grow with the runs before it; ``watch`` forces
    either way (tests run both). A prefix outside the root adds no folder: its surroundings are
    the caller's, and other writers there are no child's breach.
    """

    def __init__(self, artifacts_root: Path, execution_id: str, *, prefix: Path | None = None,
                 watch: bool | None = None) -> None:
        self._root = artifacts_root
        self._execution_id = execution_id
        areas = [artifacts_root, artifacts_root / RUNS_DIRNAME, artifacts_root / EXECUTION_DIRNAME]
        if prefix is not None and artifacts_root in prefix.parents:
            # A prefix of its own inside the root (a batch's items/<id>): what lies between it
            # and the root is as reachable as runs/ is for the default prefix.
            between = prefix.parents[:prefix.parents.index(artifacts_root)]
            areas += [folder for folder in between if folder not in areas]
        self._areas = tuple(areas)
        self._watch: DirWatch | None = None
        watched = [area for area in self._areas if self._watched(area, watch)]
        if watched:
            from runtime._dirwatch import DirWatch, UnwatchableError

            try:
                self._watch = DirWatch(watched)
            except UnwatchableError:
                if watch:
                    raise
        self._before = {area: self._names(area) for area in self._areas
                        if self._watch is None or area not in watched}

    @staticmethod
    def _watched(area: Path, watch: bool | None) -> bool:
        try:
            size = area.stat().st_size
        except OSError:
            return False  # not there yet: listed afterwards, when all it holds is new
        if watch is not None:
            return watch
        if size > WATCH_ABOVE_BYTES_LOADED and _listing_spent[0] > _LOAD_COST_S:
            expect_many_runs()  # a warm caller: listing already cost more than inotify will
        loaded = "runtime._dirwatch" in sys.modules
        return size > (WATCH_ABOVE_BYTES_LOADED if loaded else WATCH_ABOVE_BYTES)

    @staticmethod
    def _names(folder: Path) -> set[str]:
        started = time.perf_counter()
        try:
            return {entry.name for entry in os.scandir(folder)}
        except OSError:
            return set()
        finally:
            _listing_spent[0] += time.perf_counter() - started

    def _added(self, area: Path) -> set[str]:
        if area in self._before:
            return self._names(area) - self._before[area]
        assert self._watch is not None
        return self._watch.added(area)

    def escapes(self) -> list[str]:
        """Artifacts-root-relative paths written outside the prefix since the listing."""
        found = []
        if self._watch is not None:
            found += [f"{area.relative_to(self._root).as_posix()} (moved, removed or too busy "
                      "to watch)" for area in self._watch.doubtful()]
        for area in self._areas:
            for name in sorted(self._added(area)):
                path = area / name
                legit = (area != self._root and path.is_dir() and not path.is_symlink()
                         and EXECUTION_ID_RE.fullmatch(name))
                if not legit and not (area == self._root and name in ROOT_FOLDERS):
                    found.append(path.relative_to(self._root).as_posix())
        receipt_dir = execution_dir(self._root, self._execution_id)
        found += [(receipt_dir / name).relative_to(self._root).as_posix()
                  for name in sorted(self._names(receipt_dir) - {DETERMINISM_NAME})]
        return found

    def check(self, log: Any) -> None:
        """Raise ``ERR_ADAPTER_INVOCATION`` naming what the child wrote outside its prefix."""
        escaped = self.escapes()
        if escaped:
            log.error("adapter.confinement.breach", paths=escaped[:20])
            shown = ", ".join(escaped[:5]) + (f" (+{len(escaped) - 5} more)" if len(escaped) > 5
                                              else "")
            raise AdapterInvocationError(f"processor wrote outside its write prefix: {shown}")

    def close(self) -> None:
        """Release the inotify watch, if one was taken."""
        if self._watch is not None:
            self._watch.close()


def expect_many_runs() -> None:
    """This process is about to run many items into one artifacts root (a batch): pay for
    inotify now, so folders are watched from :data:`WATCH_ABOVE_BYTES_LOADED` on."""
    import runtime._dirwatch  # noqa: F401 - its being loaded is what Confinement reads


def watch_confinement(artifacts_root: Path, execution_id: str, prefix: Path) -> Confinement:
    """List (or watch) what the child could reach beside its prefix now; ``.check`` after the
    attempt, ``.close`` when the run is over."""
    return Confinement(artifacts_root, execution_id, prefix=prefix)
