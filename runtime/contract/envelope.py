"""Host-side envelope handling: parse a child's stdout, prove the contract, build error envelopes.

The envelope's shape is defined once, in :mod:`runtime.kit.message` (the child side builds it
there too); :class:`~runtime.contract.wire.Envelope` validates it.

Every adapter funnels the processor's stdout through :func:`parse_envelope` and
:func:`check_success_files`, so a local, docker or Modal run is judged identically.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runtime.contract.shapes import WireEnvelope, quick_envelope
from runtime.errors import (
    AdapterInvocationError,
    ProcessorRuntimeError,
    bound_message,
    error_class,
)
from runtime.kit import message
from runtime.kit.hashing import canonical_json
from runtime.kit.layout import DETERMINISM_NAME, RECEIPT_NAME, execution_dir
from runtime.redaction import redact, redact_text

if TYPE_CHECKING:  # pydantic loads only when an envelope is not in the canonical shape
    from runtime.contract.wire import Envelope


def _violation(reason: str, stdout: bytes) -> AdapterInvocationError:
    preview = redact_text(stdout[:200].decode("utf-8", "replace"))
    return AdapterInvocationError(
        f"processor broke the envelope contract: {reason}; stdout starts {preview!r}"
    )


def parse_envelope(stdout: bytes) -> WireEnvelope:
    """Parse exactly one JSON envelope line from ``stdout``; anything else is
    ``ERR_ADAPTER_INVOCATION`` with the reason.

    An envelope in the canonical shape the kit prints is checked without pydantic
    (:func:`~runtime.contract.shapes.quick_envelope`); any other is judged by the pydantic
    :class:`~runtime.contract.wire.Envelope`, which words every violation."""
    text = stdout.decode("utf-8", "strict") if _is_utf8(stdout) else None
    if text is None:
        raise _violation("stdout is not valid UTF-8", stdout)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines or lines == [""]:
        raise _violation("stdout is empty (expected one envelope line)", stdout)
    if len(lines) > 1:
        raise _violation(f"stdout has {len(lines)} lines (expected exactly one)", stdout)
    try:
        raw = json.loads(lines[0])
    except json.JSONDecodeError as exc:
        raise _violation(f"stdout is not JSON ({exc.msg})", stdout) from exc
    except RecursionError as exc:
        raise _violation("stdout JSON nests too deeply", stdout) from exc
    if not isinstance(raw, dict):
        raise _violation("the envelope is not a JSON object", stdout)
    quick = quick_envelope(raw)
    if quick is not None:
        return quick
    from pydantic import ValidationError

    from runtime.contract.wire import Envelope

    try:
        return WireEnvelope.from_model(Envelope.model_validate(raw))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "<root>"
        raise _violation(f"invalid envelope at {where}: {first['msg']}", stdout) from exc


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _links_under(root: str) -> list[str]:
    """Every symlink under ``root`` (links to folders are listed, not followed)."""
    links: list[str] = []
    pending = [root]
    while pending:
        try:
            entries = list(os.scandir(pending.pop()))
        except OSError:
            continue
        for entry in entries:
            if entry.is_symlink():
                links.append(entry.path)
            elif entry.is_dir(follow_symlinks=False):
                pending.append(entry.path)
    return links


def _resolver(prefix: str, linkless: bool) -> Callable[[str], str]:
    """``realpath`` of a path under ``prefix``. With no link under the prefix a relative path
    without ``..`` resolves to itself joined to the prefix, so the per-component ``lstat`` of
    ``realpath`` is skipped; any other path is resolved by the kernel's answers."""

    def resolve(path: str) -> str:
        if linkless and not os.path.isabs(path) and ".." not in path.split("/"):
            return os.path.normpath(os.path.join(prefix, path))
        return os.path.realpath(os.path.join(prefix, path))

    return resolve


def check_success_files(envelope: WireEnvelope | Envelope, write_prefix: Path, execution_id: str) -> None:
    """Prove a success envelope tells the truth about the files under ``write_prefix``.

    ``index_path`` must resolve (links and ``..`` included) to ``<prefix>/outputs.json``; each
    output must resolve inside ``<prefix>/outputs`` with its declared size; the index must list
    the same outputs; no symlink under the prefix may point outside it. Raises
    ``ERR_ADAPTER_INVOCATION``.
    """
    if envelope.execution_id != execution_id:
        raise AdapterInvocationError(
            f"envelope execution_id {envelope.execution_id!r} != requested {execution_id!r}"
        )
    prefix = os.path.realpath(write_prefix)
    links = _links_under(prefix)
    resolve = _resolver(prefix, not links)
    index_file = os.path.join(prefix, "outputs.json")
    index = envelope.index_path
    if index == index_file:
        index = "outputs.json"  # the usual report: the prefix's own index, named in full
    resolved_index = resolve(index)
    if resolved_index != index_file:
        raise AdapterInvocationError(
            f"index_path {envelope.index_path!r} resolves outside the write prefix {prefix}"
        )
    try:
        # As named, not resolved: an index reached through a link is not a regular file.
        regular = stat.S_ISREG(os.lstat(os.path.join(prefix, index)).st_mode)
    except OSError:
        regular = False
    if not regular:
        raise AdapterInvocationError(f"index_path {envelope.index_path!r} is not a regular file")
    outputs_root = os.path.join(prefix, "outputs")
    for item in envelope.outputs:
        target = resolve(item.path)
        if not _inside(target, outputs_root):
            raise AdapterInvocationError(f"output {item.path!r} resolves outside {outputs_root}")
        try:
            found = os.stat(target)
            right = stat.S_ISREG(found.st_mode) and found.st_size == item.size
        except OSError:
            right = False
        if not right:
            raise AdapterInvocationError(f"output {item.path!r} is missing or has the wrong size")
    for link in links:
        if not _inside(os.path.realpath(link), prefix):
            raise AdapterInvocationError(
                f"{os.path.relpath(link, prefix)} is a link pointing outside the write prefix"
            )
    try:
        with open(index_file, encoding="utf-8") as handle:
            indexed = json.loads(handle.read())
    except (OSError, ValueError) as exc:
        raise AdapterInvocationError(f"outputs.json is unreadable: {exc}") from exc
    declared = [item.model_dump() for item in envelope.outputs]
    if canonical_json(indexed) != canonical_json(declared):
        raise AdapterInvocationError("outputs.json does not list the envelope's outputs")


def check_receipts(write_prefix: Path, artifacts_root: Path, execution_id: str) -> str:
    """Prove both receipt copies exist and are byte-identical; returns the receipt text."""
    first = write_prefix / RECEIPT_NAME
    second = execution_dir(artifacts_root, execution_id) / DETERMINISM_NAME
    try:
        a, b = first.read_bytes(), second.read_bytes()
    except OSError as exc:
        raise AdapterInvocationError(f"determinism receipt missing: {exc}") from exc
    if a != b:
        raise AdapterInvocationError("receipt.json and determinism.json differ")
    return a.decode("utf-8")


def raise_for_error_envelope(envelope: WireEnvelope | Envelope) -> None:
    """Turn a processor-reported error envelope into its canon exception."""
    if envelope.status != "error" or envelope.error is None:
        return
    cls = error_class(envelope.error.code)
    raise cls(redact_text(envelope.error.message), retryable=envelope.error.retryable,
              meta=dict(envelope.meta))


def error_envelope(err: ProcessorRuntimeError, execution_id: str | None = None,
                   meta: dict[str, Any] | None = None) -> Envelope:
    """The canonical error envelope for a canon exception (message bounded and redacted)."""
    from runtime.contract.wire import Envelope

    merged = {**err.meta, **(meta or {})}
    return Envelope.model_validate(message.error_envelope(
        execution_id or err.execution_id or "unassigned", err.code,
        bound_message(redact_text(err.message)), retryable=err.retryable, meta=redact(merged)))
