"""``run_batch``: many inputs through ``run_processor``, a bounded pool, one batch result.

Every item is one :func:`runtime.runner.run_processor` call — input schema, guards, judging,
receipts, redaction and the retry policy are that function's, never re-implemented here. The
batch adds what only a batch has: up-front validation of every line, item ids derived from the
batch id, the journal that makes a re-run resume, input-order output and the batch receipt.

Each item is a subprocess or a container, so the pool is a thread pool: a process pool measured
no faster (``python -m bench.worker pool-choice``, ``bench/README.md``) and would pickle every
envelope across a pipe and carry an interpreter per worker.
On ``modal`` the items share one adapter opened for the batch (:func:`runtime.adapters.fan_out`):
each item is still one ``run_processor`` call, but its attempt is an input of one
``Function.map`` call that Modal schedules (the SDK's own fan-out), not a ``spawn`` of its own;
``concurrency`` then bounds the inputs in flight.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from runtime._files import file_lock, write_atomic
from runtime.adapters import fan_out, get_adapter
from runtime.adapters.outcome import expect_many_runs
from runtime.batch.inputs import inputs_sha256, iter_items, validate_file
from runtime.batch.progress import Progress, ProgressSink
from runtime.batch.store import BatchFolder, ItemsWriter, ReceiptChain, check_batch_id, new_batch_id
from runtime.contract.envelope import error_envelope
from runtime.errors import InputsError, ProcessorRuntimeError
from runtime.guards import (
    SOURCE_ADAPTERS,
    check_env,
    check_image_override,
    check_mode,
    check_pinned_env,
)
from runtime.kit.hashing import canonical_json, sha256_file, sha256_hex
from runtime.kit.layout import RECEIPT_NAME
from runtime.logging import get_logger
from runtime.paths import default_artifacts_root, project_root
from runtime.registry.load import Registry
from runtime.runner import check_timeout, inputs_check, run_processor_wire

MAX_CONCURRENCY = 256
SUCCESS, ERROR, NOT_RUN = "success", "error", "not_run"


@dataclass(frozen=True)
class _Item:
    """One settled item as the batch needs it (its envelope line is in ``line``)."""

    index: int
    execution_id: str
    status: str
    line: str = ""
    code: str | None = None
    receipt_sha256: str | None = None
    reused: bool = False


@dataclass(frozen=True)
class BatchResult:
    """The outcome of one ``run_batch`` call; :meth:`to_envelope` is the ``--json`` line."""

    batch_id: str
    processor_ref: str
    adapter: str
    mode: str
    total: int
    counts: dict[str, int]
    errors: dict[str, int]
    reused: int
    elapsed_ms: int
    items_path: Path
    receipt_path: Path | None
    receipt_sha256: str | None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether every item ran and succeeded (the CLI's exit code says this)."""
        return self.counts[SUCCESS] == self.total

    def to_envelope(self) -> dict[str, Any]:
        """The batch envelope: id, counts by status and by error code, elapsed, where items are."""
        return {
            "status": "success" if self.ok else "error",
            "batch_id": self.batch_id,
            "items": self.total,
            "counts": dict(self.counts),
            "errors": dict(sorted(self.errors.items())),
            "reused": self.reused,
            "items_path": str(self.items_path),
            "receipt_path": str(self.receipt_path) if self.receipt_path else None,
            "receipt_sha256": self.receipt_sha256,
            "meta": {"processor_ref": self.processor_ref, "adapter": self.adapter,
                     "mode": self.mode, "elapsed_ms": self.elapsed_ms, **self.extra},
        }


def _check_concurrency(concurrency: int) -> int:
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) \
            or not 1 <= concurrency <= MAX_CONCURRENCY:
        raise InputsError(f"concurrency must be an integer within 1..{MAX_CONCURRENCY}, "
                          f"got {concurrency!r}")
    return concurrency


def run_batch(
    ref: str,
    inputs_ndjson: str | Path,
    *,
    mode: str = "mock",
    adapter: str = "local",
    env: str = "dev",
    concurrency: int = 2,
    batch_id: str | None = None,
    fail_fast: bool = False,
    artifacts_root: str | Path | None = None,
    timeout_s: float | None = None,
    image_override: str | None = None,
    root: str | Path | None = None,
    adapter_options: dict[str, Any] | None = None,
    on_progress: ProgressSink | None = None,
) -> BatchResult:
    """Run ``ref`` once per line of ``inputs_ndjson`` and return the batch result.

    Nothing runs unless every line is one valid inputs object and the request passes the same
    guards as a single run (``ERR_INPUTS`` naming the bad lines, ``ERR_CI_SAFETY`` for ``real``
    under ``CI=true``, ``ERR_IMAGE_UNPINNED`` for a source adapter outside dev). Item failures do
    not raise: each is counted by its code and recorded in ``items.ndjson``; with ``fail_fast``
    no further item starts after the first failure. Re-running the same ``batch_id`` runs only
    the items whose earlier success no longer verifies.
    """
    started = time.monotonic()
    bid = check_batch_id(batch_id if batch_id is not None else new_batch_id())
    try:
        return _run_batch(ref, Path(inputs_ndjson), bid, started, mode=mode, adapter=adapter,
                          env=env, concurrency=concurrency, fail_fast=fail_fast,
                          artifacts_root=artifacts_root, timeout_s=timeout_s,
                          image_override=image_override, root=root,
                          adapter_options=adapter_options, on_progress=on_progress)
    except ProcessorRuntimeError as err:
        err.meta.setdefault("batch_id", bid)  # the error envelope names the batch it refused
        raise


def _run_batch(ref: str, source: Path, bid: str, started: float, *, mode: str, adapter: str,
               env: str, concurrency: int, fail_fast: bool, artifacts_root: str | Path | None,
               timeout_s: float | None, image_override: str | None, root: str | Path | None,
               adapter_options: dict[str, Any] | None,
               on_progress: ProgressSink | None) -> BatchResult:
    check_mode(mode)
    check_env(env)
    check_image_override(env, image_override)
    check_pinned_env(env, adapter)
    get_adapter(adapter).close()  # an unknown adapter name is refused before anything runs
    workers = _check_concurrency(concurrency)
    project = Path(root).resolve() if root else project_root()
    resolved = Registry.load(project).resolve(ref)
    check_timeout(timeout_s, resolved.version.timeout_s)
    check = inputs_check(resolved)
    total, inputs_digest = validate_file(source, check)
    artifacts = Path(artifacts_root) if artifacts_root else default_artifacts_root(project)
    artifacts.mkdir(parents=True, exist_ok=True)
    folder = BatchFolder.under(artifacts.resolve(), bid)
    folder.root.mkdir(parents=True, exist_ok=True)
    manifest = {"batch_id": bid, "processor_ref": str(resolved.ref), "mode": mode, "env": env,
                "adapter": adapter, "items": total, "inputs_sha256": inputs_digest}
    log = get_logger(batch_id=bid, processor_ref=str(resolved.ref), adapter=adapter, mode=mode,
                     env=env)
    exclusive = contextlib.ExitStack()
    try:
        exclusive.enter_context(file_lock(folder.lock_path, wait=False))
    except BlockingIOError:
        raise InputsError(f"batch {bid} is being run by another process; wait for it or use a "
                          "new --batch-id") from None
    if adapter in SOURCE_ADAPTERS and total > 1:
        expect_many_runs()  # every item leaves a folder in execution/: watch it, do not list it
    with exclusive, fan_out(adapter) as via:
        run = _BatchRun(folder, str(resolved.ref), mode, total, on_progress, started)

        def execute(index: int, inputs: dict[str, Any]) -> _Item:
            eid = folder.item_id(index)
            if run.stop.is_set():
                return _Item(index, eid, NOT_RUN)
            folder.reset_item(eid)
            try:
                # The run_processor run, in its light wire form: the item's line is all we keep.
                envelope = run_processor_wire(
                    ref, inputs=inputs, mode=mode, adapter=adapter, env=env,
                    write_prefix=folder.item_prefix(eid), artifacts_root=folder.artifacts_root,
                    timeout_s=timeout_s, execution_id=eid, image_override=image_override,
                    root=project, adapter_options=adapter_options, via=via)
            except ProcessorRuntimeError as err:
                if fail_fast:
                    run.stop.set()
                body = error_envelope(err).model_dump(exclude_none=True)
                item = _Item(index, eid, ERROR, code=err.code)
            else:
                body = envelope.model_dump(exclude_none=True)
                receipt = sha256_file(folder.item_prefix(eid) / RECEIPT_NAME)
                item = _Item(index, eid, SUCCESS, receipt_sha256=receipt)
            body["meta"] = {**body.get("meta", {}), "batch_id": bid, "batch_index": index}
            line = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
            folder.record_result(eid, line)
            return replace(item, line=line)

        try:
            resuming = folder.claim(manifest)  # opens the journal: closed (and synced) below
            log.info("batch.start", items=total, concurrency=workers, resuming=resuming)
            run.drive(iter_items(source, check), execute, workers)
        finally:
            folder.journal.close()
        receipt_path, receipt_sha = run.write_receipt(manifest)
    elapsed = int((time.monotonic() - started) * 1000)
    result = BatchResult(bid, str(resolved.ref), adapter, mode, total, dict(run.counts),
                         dict(run.errors), run.reused, elapsed, folder.items_path, receipt_path,
                         receipt_sha, {"env": env, "concurrency": workers})
    log.info("batch.settle", status="success" if result.ok else "error", elapsed_ms=elapsed,
             **{f"count_{key}": value for key, value in result.counts.items()},
             reused=result.reused, errors=result.errors)
    return result


class _BatchRun:
    """The moving parts of one run: the pool window, the in-order commit, counts, progress."""

    def __init__(self, folder: BatchFolder, ref: str, mode: str, total: int,
                 on_progress: ProgressSink | None, started: float) -> None:
        self.folder = folder
        self.ref = ref
        self.mode = mode
        self.total = total
        self.on_progress = on_progress
        self.started = started
        self.stop = threading.Event()
        self.chain = ReceiptChain()
        self.counts = {SUCCESS: 0, ERROR: 0, NOT_RUN: 0}
        self.errors: dict[str, int] = {}
        self.reused = 0

    def drive(self, items: Iterator[tuple[int, dict[str, Any]]],
              execute: Callable[[int, dict[str, Any]], _Item], workers: int) -> None:
        """Submit items through a bounded window and commit them in input order.

        At most ``window`` items are in flight or waiting to be committed, so memory stays flat
        whatever the batch size; a slow item at the head holds the window, not the workers.
        """
        window = max(4 * workers, 16)
        writer = ItemsWriter(self.folder)
        queue: deque[Future[_Item]] = deque()
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="batch")
        try:
            for index, inputs in items:
                if self.stop.is_set():
                    break
                queue.append(self._reused(index, inputs) or pool.submit(execute, index, inputs))
                while queue and (len(queue) >= window or queue[0].done()):
                    self._commit(queue.popleft().result(), writer)
            while queue:
                self._commit(queue.popleft().result(), writer)
            self.counts[NOT_RUN] = self.total - self.counts[SUCCESS] - self.counts[ERROR]
            writer.commit()
        except BaseException:
            writer.discard()
            raise
        finally:
            self.stop.set()  # queued items return at once instead of starting
            pool.shutdown(wait=True, cancel_futures=True)
        self._report(final=True)

    def write_receipt(self, manifest: dict[str, Any]) -> tuple[Path | None, str | None]:
        """Write the batch receipt once every item has run; (path, sha256), else (None, None)
        and any older receipt removed: an incomplete batch has none."""
        if self.counts[NOT_RUN]:
            self.folder.receipt_path.unlink(missing_ok=True)
            return None, None
        document = self.chain.receipt(manifest, dict(self.counts), dict(self.errors))
        receipt = canonical_json(document) + "\n"
        write_atomic(self.folder.receipt_path, receipt)
        return self.folder.receipt_path, sha256_hex(receipt)

    def _reused(self, index: int, inputs: dict[str, Any]) -> Future[_Item] | None:
        """A finished future for an item an earlier run completed (its receipts verify)."""
        eid = self.folder.item_id(index)
        found = self.folder.verified_result(eid, self.ref, self.mode, lambda: inputs_sha256(inputs))
        if found is None:
            return None
        done: Future[_Item] = Future()
        done.set_result(_Item(index, eid, SUCCESS, found[0], receipt_sha256=found[1],
                              reused=True))
        return done

    def _commit(self, item: _Item, writer: ItemsWriter) -> None:
        if item.status == NOT_RUN:
            return
        writer.append(item.line)
        self.chain.add(item.index, item.execution_id, item.receipt_sha256, item.code)
        self.counts[item.status] += 1
        if item.code is not None:
            self.errors[item.code] = self.errors.get(item.code, 0) + 1
        self.reused += item.reused
        self._report()

    def _report(self, final: bool = False) -> None:
        if self.on_progress is None:
            return
        done = self.counts[SUCCESS] + self.counts[ERROR]
        self.on_progress(Progress(self.folder.batch_id, self.total, done, self.counts[ERROR],
                                  self.reused, time.monotonic() - self.started, final))
