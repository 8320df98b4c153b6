"""Pydantic models of the wire contracts: payload, envelope, receipt, and the ``Digest`` type.

These are the host-side validators; the processor kit produces the same shapes with the standard
library only. :func:`json_schemas` exports them as JSON Schema for processor authors and CI.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

Mode = Literal["mock", "real"]
Env = Literal["dev", "staging", "main"]
MODES: tuple[str, ...] = ("mock", "real")
ENVS: tuple[str, ...] = ("dev", "staging", "main")
DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
EXECUTION_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# A processor controls its envelope's meta; the host walks it recursively (redaction, dumps).
META_MAX_DEPTH = 32


def is_digest(value: object) -> bool:
    """Whether ``value`` is a manifest/config digest, ``sha256:<64 lowercase hex>`` (whole string)."""
    return isinstance(value, str) and DIGEST_RE.fullmatch(value) is not None


def _digest(value: str) -> str:
    if not is_digest(value):
        raise ValueError("must look like 'sha256:<64 lowercase hex>'")
    return value


#: The one digest type: every model field that holds a digest is a ``Digest``.
Digest = Annotated[str, AfterValidator(_digest)]


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


class StrictModel(BaseModel):
    """A frozen model that refuses unknown keys: every wire and registry document is one."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Payload(StrictModel):
    """What a processor reads on stdin: one JSON object."""

    execution_id: str = Field(pattern=EXECUTION_ID_RE.pattern)
    ref: str
    mode: Mode
    inputs: dict[str, Any]
    write_prefix: str
    artifacts_root: str


class OutputItem(StrictModel):
    """One artifact under ``<write_prefix>/outputs/``; ``path`` is relative to the prefix."""

    path: str = Field(min_length=1)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)
    media_type: str = "application/octet-stream"

    @field_validator("path")
    @classmethod
    def _relative_under_outputs(cls, value: str) -> str:
        parts = value.split("/")
        if value.startswith("/") or ".." in parts or parts[0] != "outputs" or "" in parts:
            raise ValueError("must be a relative path under 'outputs/' without '..'")
        return value


class ErrorInfo(StrictModel):
    """The error block of an error envelope; ``code`` comes from the canon."""

    code: str = Field(pattern=r"^ERR_[A-Z_]+$")
    message: str = Field(max_length=4000)
    retryable: bool


class Envelope(BaseModel):
    """The one stdout line. ``meta`` is open: adapters may add keys, never rewrite outputs."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["success", "error"]
    execution_id: str = Field(min_length=1)
    outputs: list[OutputItem] = Field(default_factory=list)
    index_path: str = ""
    error: ErrorInfo | None = None
    meta: dict[str, Any] = Field(default_factory=dict)

    @field_validator("meta", mode="before")
    @classmethod
    def _bounded_meta(cls, value: Any) -> Any:
        if nesting_depth(value, META_MAX_DEPTH) > META_MAX_DEPTH:
            raise ValueError(f"nests deeper than {META_MAX_DEPTH} levels")
        return value

    @model_validator(mode="after")
    def _shape_matches_status(self) -> Envelope:
        if self.status == "success":
            if self.error is not None:
                raise ValueError("a success envelope carries no 'error'")
            if not self.index_path.endswith("/outputs.json"):
                raise ValueError("success 'index_path' must end with '/outputs.json'")
        elif self.error is None:
            raise ValueError("an error envelope needs 'error' with code, message, retryable")
        return self

    def to_line(self) -> str:
        """Serialise as exactly one compact JSON line (no trailing newline)."""
        return self.model_dump_json(exclude_none=True)


class Receipt(StrictModel):
    """The determinism receipt, written byte-identically twice by the processor side."""

    schema_version: Literal["determinism/1"] = "determinism/1"
    execution_id: str
    processor_ref: str
    mode: Mode
    inputs_sha256: str
    outputs_sha256: str
    outputs: list[dict[str, str]]
    code_sha256: str
    image_digest: str | None = None
    env_fingerprint: str


def _registry_schema() -> dict[str, Any]:
    from runtime.registry.models import RegistryFile

    return RegistryFile.model_json_schema()


def json_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schemas of every wire contract, keyed by file name (``payload.schema.json``, …)."""
    return {
        "payload.schema.json": Payload.model_json_schema(),
        "envelope.schema.json": Envelope.model_json_schema(),
        "receipt.schema.json": Receipt.model_json_schema(),
        "registry.schema.json": _registry_schema(),
    }
