"""Pydantic models of the wire contracts: payload, envelope, receipt and registry entries.

These are the host-side validators; the processor kit produces the same shapes with the standard
library only. :func:`json_schemas` exports them as JSON Schema for processor authors and CI.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Mode = Literal["mock", "real"]
Env = Literal["dev", "staging", "main"]
MODES: tuple[str, ...] = ("mock", "real")
ENVS: tuple[str, ...] = ("dev", "staging", "main")
DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
EXECUTION_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# A processor controls its envelope's meta; the host walks it recursively (redaction, dumps).
META_MAX_DEPTH = 32


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


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Payload(_Strict):
    """What a processor reads on stdin: one JSON object."""

    execution_id: str = Field(pattern=EXECUTION_ID_RE.pattern)
    ref: str
    mode: Mode
    inputs: dict[str, Any]
    write_prefix: str
    artifacts_root: str


class OutputItem(_Strict):
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


class ErrorInfo(_Strict):
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


class Receipt(_Strict):
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


class ImagePin(_Strict):
    """Where a version's image lives and the digest it is pinned to (``None`` = unpinned)."""

    repository: str | None = None
    digest: str | None = None
    config_digest: str | None = None
    verified_at: str | None = None

    @field_validator("digest", "config_digest")
    @classmethod
    def _digest_shape(cls, value: str | None) -> str | None:
        if value is not None and not DIGEST_RE.match(value):
            raise ValueError("must look like 'sha256:<64 lowercase hex>'")
        return value


class VersionEntry(_Strict):
    """One processor version in the registry YAML."""

    entrypoint: str = "main.py"
    timeout_s: float = Field(default=60, gt=0, le=86400)
    memory_mb: int = Field(default=512, ge=64, le=65536)
    gpu: str | None = None
    secrets: list[str] = Field(default_factory=list)
    deterministic: bool = True
    description: str = ""
    image: ImagePin = Field(default_factory=ImagePin)
    # JSON Schema files (draft 2020-12), relative to the processor folder; see runtime/contract/schemas.py.
    input_schema: str | None = None
    output_schema: str | None = None

    @field_validator("entrypoint")
    @classmethod
    def _entrypoint_inside(cls, value: str) -> str:
        # Inside the processor folder: the image runs it as /opt/processor/<entrypoint>.
        parts = value.split("/")
        if value.startswith("/") or "\0" in value or any(p in ("", ".", "..") for p in parts):
            raise ValueError("must be a relative path inside the processor folder "
                             "(no '/', '.', '..' or empty parts, no NUL)")
        return value

    @field_validator("input_schema", "output_schema")
    @classmethod
    def _schema_file(cls, value: str | None) -> str | None:
        if value is None:
            return value
        parts = value.split("/")
        if value.startswith("/") or "\0" in value or any(p in ("", ".", "..") for p in parts) \
                or not value.endswith(".json"):
            raise ValueError("must be a relative '.json' path inside the processor folder")
        return value

    @field_validator("secrets")
    @classmethod
    def _secret_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not re.fullmatch(r"[A-Z][A-Z0-9_]{0,127}", name):
                raise ValueError(f"secret name {name!r} must be UPPER_SNAKE_CASE")
        return value


class ProcessorEntry(_Strict):
    """A processor (``ns/name``) and its versions."""

    path: str = Field(min_length=1)
    versions: dict[str, VersionEntry] = Field(min_length=1)

    @field_validator("path")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        if "\0" in value:
            raise ValueError("may not contain a NUL byte")
        return value


class BaseImage(_Strict):
    """The Debian + python3 base every processor image builds FROM, by digest."""

    repository: str | None = None
    digest: str | None = None

    @field_validator("digest")
    @classmethod
    def _digest_shape(cls, value: str | None) -> str | None:
        if value is not None and not DIGEST_RE.match(value):
            raise ValueError("must look like 'sha256:<64 lowercase hex>'")
        return value


class RegistryFile(_Strict):
    """The whole ``registry/processors.yaml`` document."""

    schema_version: Literal[1] = 1
    base_image: BaseImage = Field(default_factory=BaseImage)
    processors: dict[str, ProcessorEntry] = Field(default_factory=dict)


def json_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schemas of every wire contract, keyed by file name (``payload.schema.json``, …)."""
    return {
        "payload.schema.json": Payload.model_json_schema(),
        "envelope.schema.json": Envelope.model_json_schema(),
        "receipt.schema.json": Receipt.model_json_schema(),
        "registry.schema.json": RegistryFile.model_json_schema(),
    }
