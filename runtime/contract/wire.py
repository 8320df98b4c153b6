"""Pydantic models of the wire contracts: payload, envelope, receipt, and the ``Digest`` type.

These are the host-side validators; the processor kit produces the same shapes with the standard
library only. :func:`json_schemas` exports them as JSON Schema for processor authors and CI. The
constants (modes, envs, id and digest shapes) live in :mod:`runtime.contract.shapes`, with the
light envelope a run's hot path carries, and are re-exported here.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from runtime.contract.shapes import (  # re-exported: `from runtime.contract.wire import MODES`
    DEFAULT_MEDIA_TYPE,
    DIGEST_RE,
    ENVS,
    EXECUTION_ID_RE,
    MESSAGE_MAX_CHARS,
    META_MAX_DEPTH,
    MODES,
    is_digest,
    nesting_depth,
    output_path_ok,
)

__all__ = ["DIGEST_RE", "ENVS", "EXECUTION_ID_RE", "META_MAX_DEPTH", "MODES", "Digest", "Env",
           "Envelope", "ErrorInfo", "Mode", "OutputItem", "Payload", "Receipt", "StrictModel",
           "is_digest", "json_schemas", "nesting_depth"]

Mode = Literal["mock", "real"]
Env = Literal["dev", "staging", "main"]


def _digest(value: str) -> str:
    if not is_digest(value):
        raise ValueError("must look like 'sha256:<64 lowercase hex>'")
    return value


#: The one digest type: every model field that holds a digest is a ``Digest``.
Digest = Annotated[str, AfterValidator(_digest)]


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
    media_type: str = DEFAULT_MEDIA_TYPE

    @field_validator("path")
    @classmethod
    def _relative_under_outputs(cls, value: str) -> str:
        if not output_path_ok(value):
            raise ValueError("must be a relative path under 'outputs/' without '..'")
        return value


class ErrorInfo(StrictModel):
    """The error block of an error envelope; ``code`` comes from the canon."""

    code: str = Field(pattern=r"^ERR_[A-Z_]+$")
    message: str = Field(max_length=MESSAGE_MAX_CHARS)
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
