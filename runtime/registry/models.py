"""The registry's models: ``registry/processors.yaml`` as validated pydantic documents.

A version entry names its entrypoint, limits, secrets, schemas and its image pin; the document
also names the base image every processor builds ``FROM``.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from runtime.contract.wire import Digest, StrictModel


class ImagePin(StrictModel):
    """Where a version's image lives and the digest it is pinned to (``None`` = unpinned).

    ``verified_at``/``verified_by`` record that the digest was proven pullable from
    ``repository`` before the pin was written; staging/main deploys refuse a pin without them.
    """

    repository: str | None = None
    digest: Digest | None = None
    config_digest: Digest | None = None
    verified_at: str | None = None
    verified_by: str | None = None

    @property
    def verified(self) -> bool:
        """True when the pin carries its verification record."""
        return bool(self.verified_at and self.verified_by)


class VersionEntry(StrictModel):
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


class ProcessorEntry(StrictModel):
    """A processor (``ns/name``) and its versions."""

    path: str = Field(min_length=1)
    versions: dict[str, VersionEntry] = Field(min_length=1)

    @field_validator("path")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        if "\0" in value:
            raise ValueError("may not contain a NUL byte")
        return value


class BaseImage(StrictModel):
    """The Debian + python3 base every processor image builds FROM, by digest."""

    repository: str | None = None
    digest: Digest | None = None


class RegistryFile(StrictModel):
    """The whole ``registry/processors.yaml`` document."""

    schema_version: Literal[1] = 1
    # ``host[:port][/prefix]`` pushes go to and pins point at; ``None``: the local registry
    # ``inv infra.up`` runs (PROCESSOR_IMAGE_REGISTRY overrides both; see runtime/images/location.py).
    image_registry: str | None = None
    base_image: BaseImage = Field(default_factory=BaseImage)
    processors: dict[str, ProcessorEntry] = Field(default_factory=dict)
