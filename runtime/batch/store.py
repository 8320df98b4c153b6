"""The batch folder: item execution ids, per-item results, receipt checks and the batch receipt.

Layout under ``<artifacts_root>/batches/<batch_id>/``::

    batch.json        what the batch is (ref, mode, env, adapter, item count, inputs hash)
    items/<id>/       each item's write prefix (outputs/, outputs.json, receipt.json)
    results.ndjson    the journal: ``<index>\t<envelope>`` appended as each item settles
    items.ndjson      every item's envelope in input order (replaced atomically per run)
    receipt.json      the batch receipt: the item receipts hashed in input order

An item's id derives from the batch id and its index, so a re-run finds what an earlier run
finished; the journal survives a SIGKILL (one ``write`` a line, in the page cache at once) and
``items.ndjson`` is rebuilt from it. One file appended, not a file an item: creating an inode
costs a millisecond of CPU on some filesystems (this project's CI machine's ext4), a fifth of
what the batch spends on an item.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import uuid
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from runtime._files import write_atomic
from runtime.contract.envelope import check_receipts
from runtime.contract.wire import EXECUTION_ID_RE, Envelope
from runtime.errors import AdapterInvocationError, InputsError
from runtime.kit.files import TEMP_PREFIX, TEMP_SUFFIX
from runtime.kit.hashing import canonical_json, sha256_file, sha256_hex
from runtime.kit.layout import BATCHES_DIRNAME, RECEIPT_NAME, execution_dir

MANIFEST_SCHEMA = "batch/1"
RECEIPT_SCHEMA = "batch-receipt/1"
# An item id is "<batch id>-<index, 6+ digits>" and must stay a valid execution id (64 chars).
BATCH_ID_MAX = 48
_BATCH_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,47}$")


def new_batch_id() -> str:
    """A fresh, path-safe batch id (``b-<24 hex>``)."""
    return f"b-{uuid.uuid4().hex[:24]}"


def check_batch_id(batch_id: str) -> str:
    """A batch id names a folder and prefixes every item id; ``ERR_INPUTS`` unless it matches
    ``[A-Za-z0-9][A-Za-z0-9._-]`` and is at most 48 characters."""
    if not _BATCH_ID_RE.fullmatch(batch_id):
        raise InputsError(f"batch id {batch_id[:80]!r} must match {_BATCH_ID_RE.pattern} "
                          f"(at most {BATCH_ID_MAX} characters)")
    return batch_id


@dataclass(frozen=True)
class BatchFolder:
    """Where one batch keeps everything; every path of an item derives from its index."""

    batch_id: str
    root: Path
    artifacts_root: Path
    journal: ResultJournal = field(compare=False, repr=False)

    @classmethod
    def under(cls, artifacts_root: Path, batch_id: str) -> BatchFolder:
        """The folder of ``batch_id`` under ``<artifacts_root>/batches/``."""
        root = artifacts_root / BATCHES_DIRNAME / batch_id
        return cls(batch_id, root, artifacts_root, ResultJournal(root / "results.ndjson"))

    @property
    def manifest_path(self) -> Path:
        return self.root / "batch.json"

    @property
    def items_path(self) -> Path:
        return self.root / "items.ndjson"

    @property
    def receipt_path(self) -> Path:
        return self.root / RECEIPT_NAME

    @property
    def lock_path(self) -> Path:
        return self.root / ".lock"

    def item_id(self, index: int) -> str:
        """The execution id of item ``index``: the same on every run of this batch."""
        eid = f"{self.batch_id}-{index:06d}"
        if not EXECUTION_ID_RE.fullmatch(eid):  # only past 10**15 items
            raise InputsError(f"item {index} of batch {self.batch_id} has no valid execution id")
        return eid

    def item_prefix(self, eid: str) -> Path:
        return self.root / "items" / eid

    def item_index(self, eid: str) -> int:
        """The index an item id of this batch was made from (:meth:`item_id` inverted)."""
        head, _, digits = eid.rpartition("-")
        if head != self.batch_id or not digits.isdigit():
            raise ValueError(f"{eid!r} is not an item id of batch {self.batch_id}")
        return int(digits)

    def execution_dir(self, eid: str) -> Path:
        return execution_dir(self.artifacts_root, eid)

    # -- the manifest ---------------------------------------------------------------------------
    def claim(self, manifest: dict[str, Any]) -> bool:
        """Record what this batch is, or prove a re-run is the same batch; True when resuming.

        Raises ``ERR_INPUTS`` when the id was used for another ref, mode, env, adapter or other
        inputs: the receipts there belong to that batch, and nothing is overwritten.
        """
        document = {"schema_version": MANIFEST_SCHEMA, **manifest}
        try:
            existing = json.loads(self.manifest_path.read_text("utf-8"))
        except FileNotFoundError:
            self.root.mkdir(parents=True, exist_ok=True)
            write_atomic(self.manifest_path, canonical_json(document) + "\n")
            self._open()
            return False
        except (OSError, ValueError) as exc:
            raise InputsError(f"batch {self.batch_id}: {self.manifest_path.name} is unreadable "
                              f"({exc}); use a new --batch-id") from exc
        differs = sorted(key for key in document if existing.get(key) != document[key])
        if differs:
            raise InputsError(f"batch id {self.batch_id} was started with other "
                              f"{', '.join(differs)}; use a new --batch-id (nothing was run)")
        self._open()
        return True

    def _open(self) -> None:
        """Create ``items/`` and the journal before any item runs: an item's confinement check
        compares this folder before and after its child, so only a child adds entries here."""
        (self.root / "items").mkdir(exist_ok=True)
        self.journal.open()

    # -- items ----------------------------------------------------------------------------------
    def reset_item(self, eid: str) -> None:
        """Remove what an earlier, unfinished or failed attempt of this item left behind, so
        ``run_processor`` finds a fresh write prefix and an unused execution id.

        The execution folder is removed whole only next to this batch's own item prefix (which
        ``run_processor`` creates before any child runs). Without the prefix it goes only when it
        is empty: a kill landed between ``run_processor``'s claim of the id and its prefix, and
        the folder holds nothing to lose (``rmdir`` refuses a non-empty one, atomically). One
        holding anything belongs to another run that chose this id, and ``run_processor`` then
        refuses the item instead.
        """
        prefix = self.item_prefix(eid)
        execution = self.execution_dir(eid)
        try:
            os.lstat(prefix)
        except FileNotFoundError:  # the common case, a fresh item: one lstat, one rmdir
            with contextlib.suppress(OSError):  # missing, not empty, or a link: left alone
                execution.rmdir()
            self.journal.forget(self.item_index(eid))
            return
        owned = prefix.is_dir() and not prefix.is_symlink()
        for folder in (prefix, execution) if owned else (prefix,):
            if folder.is_symlink():
                folder.unlink()
            elif folder.exists():
                shutil.rmtree(folder)
        if not owned and not execution.is_symlink():
            with contextlib.suppress(OSError):  # missing, or not empty: not this batch's to drop
                execution.rmdir()
        self.journal.forget(self.item_index(eid))

    def record_result(self, eid: str, line: str) -> None:
        """Journal one finished item's envelope line (one append: all of it or nothing).

        Not fsynced an item: a killed batch loses nothing, since the page cache outlives the
        process, and a record a power cut lost or tore fails :meth:`verified_result` on the
        next run, which then runs the item again. The journal is fsynced when the batch ends.
        """
        self.journal.append(self.item_index(eid), line)

    def verified_result(self, eid: str, ref: str, mode: str, inputs_sha: Callable[[], str]
                        ) -> tuple[str, str] | None:
        """(envelope line, receipt sha256) of an item that finished successfully earlier and whose
        receipts still verify, else None (the item must run again). ``inputs_sha`` gives the
        hash of the item's inputs, asked for only when there is a receipt to compare it with
        (most items of a fresh batch have none).

        Verified: the recorded envelope is a success for this id; both receipt copies exist and
        are byte-identical; the receipt names this id, ref and mode and these inputs; every output
        it lists is on disk with that sha256.
        """
        try:
            line = self.journal.line(self.item_index(eid))
            if line is None:
                return None
            envelope = Envelope.model_validate_json(line)
        except (OSError, ValueError, ValidationError):
            return None
        if envelope.status != "success" or envelope.execution_id != eid:
            return None
        prefix = self.item_prefix(eid)
        try:
            text = check_receipts(prefix, self.artifacts_root, eid)
            receipt = json.loads(text)
        except (AdapterInvocationError, ValueError):
            return None
        expected = {"execution_id": eid, "processor_ref": ref, "mode": mode,
                    "inputs_sha256": inputs_sha()}
        if not isinstance(receipt, dict) or any(receipt.get(k) != v for k, v in expected.items()):
            return None
        if not _outputs_match(prefix, receipt.get("outputs")):
            return None
        return line, sha256_hex(text)


def _outputs_match(prefix: Path, outputs: Any) -> bool:
    """Every output the receipt lists is a regular file under the prefix with its sha256."""
    if not isinstance(outputs, list):
        return False
    root = prefix.resolve()
    for item in outputs:
        if not isinstance(item, dict):
            return False
        path, digest = item.get("path"), item.get("sha256")
        if not isinstance(path, str) or not isinstance(digest, str):
            return False
        target = prefix / path
        try:
            if target.is_symlink() or root not in target.resolve().parents \
                    or sha256_file(target) != digest:
                return False
        except OSError:
            return False
    return True


class ResultJournal:
    """``results.ndjson``: each settled item's envelope line, prefixed by its index, appended.

    The latest line of an index is that item's result; :meth:`forget` (an item about to run
    again) appends an empty one, so a result recorded before the item's files were reset can
    never be read as the new attempt's. Which line is an item's is learnt by one read of the
    file, at the first :meth:`line` or :meth:`forget` (a resumed batch), and kept as two arrays
    (16 bytes an item, whatever the lines hold). A torn last line (a power cut) is cut off
    then, so the next append starts a line of its own. The batch lock makes this process the
    only writer; its threads append under a lock of their own.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._offsets: array[int] | None = None  # per index: where its line starts, or -1
        self._lengths: array[int] = array("q")

    def _load(self) -> None:
        offsets = array("q")
        lengths = array("q")
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            self._offsets, self._lengths = offsets, lengths
            return
        with handle:
            position = 0
            for raw in handle:
                if not raw.endswith(b"\n"):  # torn: the next append must not join it
                    os.truncate(self.path, position)
                    break
                head, tab, payload = raw.partition(b"\t")
                if tab and head.isdigit():
                    index, start = int(head), position + len(head) + 1
                    _put(offsets, lengths, index, start if payload != b"\n" else -1,
                         len(payload) - 1)
                position += len(raw)
        self._offsets, self._lengths = offsets, lengths

    def _indexed(self) -> tuple[array[int], array[int]]:
        if self._offsets is None:
            self._load()
        assert self._offsets is not None
        return self._offsets, self._lengths

    def open(self) -> None:
        """Create the file (if new) and keep it open for appending."""
        with self._lock:
            self._ensure_open()

    def _ensure_open(self) -> int:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                               0o644)
        return self._fd

    def _write(self, index: int, payload: bytes) -> int:
        """Append one line; returns where its payload starts. Called under the lock."""
        fd = self._ensure_open()
        head = f"{index}\t".encode()
        view = memoryview(head + payload + b"\n")
        while view:
            view = view[os.write(fd, view):]
        end = os.lseek(fd, 0, os.SEEK_CUR)
        return end - len(payload) - 1

    def append(self, index: int, line: str) -> None:
        """Record ``line`` (one envelope, no newline in it) as item ``index``'s result."""
        payload = line.encode("utf-8")
        if b"\n" in payload:
            raise ValueError("a journal line holds no newline")
        with self._lock:
            start = self._write(index, payload)
            if self._offsets is not None:
                _put(self._offsets, self._lengths, index, start, len(payload))

    def forget(self, index: int) -> None:
        """Item ``index`` runs again: whatever it recorded before is no longer its result."""
        with self._lock:
            offsets, _ = self._indexed()
            if index < len(offsets) and offsets[index] >= 0:
                self._write(index, b"")
                offsets[index] = -1

    def line(self, index: int) -> str | None:
        """Item ``index``'s latest recorded line, or None."""
        with self._lock:
            offsets, lengths = self._indexed()
            if index >= len(offsets) or offsets[index] < 0:
                return None
            start, length = offsets[index], lengths[index]
        fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            data = os.pread(fd, length, start)
        finally:
            os.close(fd)
        return data.decode("utf-8") if len(data) == length else None

    def close(self) -> None:
        """Flush the journal to disk (the batch's end) and release it."""
        with self._lock:
            if self._fd is not None:
                os.fsync(self._fd)
                os.close(self._fd)
                self._fd = None


def _put(offsets: array[int], lengths: array[int], index: int, start: int, length: int) -> None:
    if index >= len(offsets):
        grow = index + 1 - len(offsets)
        offsets.extend([-1] * grow)
        lengths.extend([0] * grow)
    offsets[index], lengths[index] = start, length


class ReceiptChain:
    """The batch receipt: each item's receipt hash (or its error code) folded in input order.

    Memory stays constant whatever the batch size; equal item receipts in equal order give an
    equal batch receipt, whether the batch ran in one go or was resumed.
    """

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self.items = 0

    def add(self, index: int, eid: str, receipt_sha: str | None, code: str | None) -> None:
        entry = receipt_sha if receipt_sha is not None else f"error:{code}"
        self._digest.update(f"{index}\t{eid}\t{entry}\n".encode())
        self.items += 1

    def receipt(self, manifest: dict[str, Any], counts: dict[str, int],
                errors: dict[str, int]) -> dict[str, Any]:
        """The batch receipt document (canonical, no timings: it is a determinism record)."""
        return {"schema_version": RECEIPT_SCHEMA, **manifest, "counts": counts,
                "errors": errors, "item_receipts_sha256": self._digest.hexdigest()}


class ItemsWriter:
    """``items.ndjson`` rebuilt for this run: lines appended in input order to a temp file that
    replaces the old file atomically at :meth:`commit` (a reader sees one whole run's file)."""

    def __init__(self, folder: BatchFolder) -> None:
        target = folder.items_path
        for stale in target.parent.glob(f"{TEMP_PREFIX}{target.name}.*{TEMP_SUFFIX}"):
            stale.unlink(missing_ok=True)  # left by a run that was killed
        fd, name = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{target.name}.", suffix=TEMP_SUFFIX,
                                    dir=target.parent)
        self._target = target
        self._tmp = Path(name)
        self._handle: IO[str] = os.fdopen(fd, "w", encoding="utf-8")

    def append(self, line: str) -> None:
        self._handle.write(line + "\n")

    def commit(self) -> None:
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        os.chmod(self._tmp, 0o644)  # noqa: PTH101 - mkstemp makes 0600; results are readable
        self._tmp.replace(self._target)

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self._handle.close()
        self._tmp.unlink(missing_ok=True)
