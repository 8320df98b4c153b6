"""The wire facts without pydantic: modes, envs, id and digest shapes, and the light envelope.

:mod:`runtime.contract.wire` (pydantic) re-exports the constants and stays the definition of the
envelope's rules. This module holds what a plain mock run needs on its hot path:
:func:`quick_envelope` accepts a child's envelope only in the canonical shape the kit prints and
only when every rule of :class:`~runtime.contract.wire.Envelope` holds, and returns it as a
:class:`WireEnvelope`; anything else (lax coercions such as ``"size": "5"``, every violation)
returns ``None`` and the caller asks pydantic, which keeps every verdict and message. A hypothesis
test (``tests/property/test_quick_envelope.py``) holds that whatever this accepts, pydantic
accepts with the same data.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runtime.contract.wire import Envelope

MODES: tuple[str, ...] = ("mock", "real")
ENVS: tuple[str, ...] = ("dev", "staging", "main")
DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
EXECUTION_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# A processor controls its envelope's meta; the host walks it recursively (redaction, dumps).
META_MAX_DEPTH = 32
DEFAULT_MEDIA_TYPE = "application/octet-stream"
MESSAGE_MAX_CHARS = 4000
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_ERROR_CODE = re.compile(r"ERR_[A-Z_]+")
# pydantic refuses a str holding a lone surrogate (it cannot be UTF-8); json.loads makes them.
_SURROGATE = re.compile("[\ud800-\udfff]")
_INT64_MAX = 2**63 - 1
_ENVELOPE_KEYS = frozenset({"status", "execution_id", "outputs", "index_path", "error", "meta"})
_OUTPUT_KEYS = frozenset({"path", "sha256", "size", "media_type"})
_ERROR_KEYS = frozenset({"code", "message", "retryable"})


def is_digest(value: object) -> bool:
    """Whether ``value`` is a manifest/config digest, ``sha256:<64 lowercase hex>`` (whole string)."""
    return isinstance(value, str) and DIGEST_RE.fullmatch(value) is not None


def nesting_depth(value: Any, limit: int) -> int:
    """How deeply ``value``'s lists/dicts nest, counted without recursion; stops past ``limit``."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if deepest > limit:
            break
        stack.extend((child, level + 1) for child in children)
    return deepest


def output_path_ok(value: str) -> bool:
    """An output path is relative, under ``outputs/``, without ``..`` or empty parts."""
    parts = value.split("/")
    return not (value.startswith("/") or ".." in parts or parts[0] != "outputs" or "" in parts)


class WireOutput:
    """One validated output item (what :class:`~runtime.contract.wire.OutputItem` holds)."""

    __slots__ = ("media_type", "path", "sha256", "size")

    def __init__(self, path: str, sha256: str, size: int, media_type: str) -> None:
        self.path, self.sha256, self.size, self.media_type = path, sha256, size, media_type

    def model_dump(self) -> dict[str, Any]:
        """The item as the index lists it (field order as the pydantic model's)."""
        return {"path": self.path, "sha256": self.sha256, "size": self.size,
                "media_type": self.media_type}


class WireError:
    """The error block of an error envelope (what :class:`~runtime.contract.wire.ErrorInfo` holds)."""

    __slots__ = ("code", "message", "retryable")

    def __init__(self, code: str, message: str, retryable: bool) -> None:
        self.code, self.message, self.retryable = code, message, retryable

    def model_dump(self) -> dict[str, Any]:
        """The block as a dict."""
        return {"code": self.code, "message": self.message, "retryable": self.retryable}


class WireEnvelope:
    """A validated envelope as plain data: what a run carries and the CLI prints.

    Attribute names and ``model_dump``/``model_copy`` are those of the pydantic
    :class:`~runtime.contract.wire.Envelope`, so host code reads either; :meth:`to_model` builds
    the pydantic object where a Python caller gets one (``runtime.run_processor``).
    """

    __slots__ = ("error", "execution_id", "index_path", "meta", "outputs", "status")

    def __init__(self, status: str, execution_id: str, outputs: list[WireOutput], index_path: str,
                 error: WireError | None, meta: dict[str, Any]) -> None:
        self.status, self.execution_id, self.outputs = status, execution_id, outputs
        self.index_path, self.error, self.meta = index_path, error, meta

    @classmethod
    def from_model(cls, model: Envelope) -> WireEnvelope:
        """The same envelope from its pydantic form (after pydantic validated a lax shape)."""
        return cls(model.status, model.execution_id,
                   [WireOutput(o.path, o.sha256, o.size, o.media_type) for o in model.outputs],
                   model.index_path,
                   WireError(model.error.code, model.error.message, model.error.retryable)
                   if model.error is not None else None, model.meta)

    def model_dump(self, *, exclude_none: bool = False) -> dict[str, Any]:
        """The envelope as a dict, exactly as ``Envelope.model_dump`` gives it."""
        document: dict[str, Any] = {
            "status": self.status, "execution_id": self.execution_id,
            "outputs": [item.model_dump() for item in self.outputs],
            "index_path": self.index_path,
            "error": self.error.model_dump() if self.error is not None else None,
            "meta": self.meta,
        }
        if exclude_none and self.error is None:
            del document["error"]
        return document

    def model_copy(self, *, update: dict[str, Any]) -> WireEnvelope:
        """A copy with some fields replaced (unvalidated, as pydantic's ``model_copy``)."""
        fields = {name: getattr(self, name) for name in self.__slots__}
        fields.update(update)
        return WireEnvelope(**fields)

    def to_model(self) -> Envelope:
        """The pydantic :class:`~runtime.contract.wire.Envelope` of this envelope.

        Validated like any envelope, except ``meta``: it is set as it stands, as the runner's
        ``model_copy(update={"meta": ...})`` always did when it merged the adapter's meta.
        """
        from runtime.contract.wire import Envelope

        document = self.model_dump()
        document["meta"] = {}
        return Envelope.model_validate(document).model_copy(update={"meta": self.meta})


def _text(value: Any) -> bool:
    return type(value) is str and (value.isascii() or _SURROGATE.search(value) is None)


def _output(raw: Any) -> WireOutput | None:
    if type(raw) is not dict or not raw.keys() <= _OUTPUT_KEYS:
        return None
    path, sha256, size = raw.get("path"), raw.get("sha256", ""), raw.get("size")
    media_type = raw.get("media_type", DEFAULT_MEDIA_TYPE)
    if not (_text(path) and _text(sha256) and _text(media_type)):
        return None
    if not path or not output_path_ok(path) or _SHA256_HEX.fullmatch(str(sha256)) is None:
        return None
    if type(size) is not int or not 0 <= size <= _INT64_MAX:
        return None
    return WireOutput(path, str(sha256), size, media_type)


def _error(raw: Any) -> WireError | None:
    if type(raw) is not dict or raw.keys() != _ERROR_KEYS:
        return None
    code, message, retryable = raw["code"], raw["message"], raw["retryable"]
    if not (_text(code) and _text(message)) or type(retryable) is not bool:
        return None
    if _ERROR_CODE.fullmatch(code) is None or len(message) > MESSAGE_MAX_CHARS:
        return None
    return WireError(code, message, retryable)


def quick_envelope(raw: dict[str, Any]) -> WireEnvelope | None:
    """``raw`` as a :class:`WireEnvelope` when it is a canonical, valid envelope, else ``None``
    (then pydantic decides, and words the reason)."""
    if not raw.keys() <= _ENVELOPE_KEYS:
        return None
    status, execution_id = raw.get("status"), raw.get("execution_id")
    index_path, meta = raw.get("index_path", ""), raw.get("meta", {})
    if status not in ("success", "error") or type(status) is not str:
        return None
    if not (_text(execution_id) and execution_id and _text(index_path)):
        return None
    if type(meta) is not dict or not all(type(key) is str for key in meta):
        return None
    if nesting_depth(meta, META_MAX_DEPTH) > META_MAX_DEPTH:
        return None
    raw_outputs = raw.get("outputs", [])
    if type(raw_outputs) is not list:
        return None
    outputs = [_output(item) for item in raw_outputs]
    if any(item is None for item in outputs):
        return None
    raw_error = raw.get("error")
    error = None if raw_error is None else _error(raw_error)
    if raw_error is not None and error is None:
        return None
    if status == "success" and (error is not None or not index_path.endswith("/outputs.json")):
        return None
    if status == "error" and error is None:
        return None
    return WireEnvelope(status, execution_id, outputs, index_path, error, meta)  # type: ignore[arg-type]
