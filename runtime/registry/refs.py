"""Processor references: ``<ns>/<name>@<version>``, parsed once and strictly."""

from __future__ import annotations

import re
from dataclasses import dataclass

from runtime.errors import InputsError

_PART = r"[a-z0-9](?:[a-z0-9_-]{0,38}[a-z0-9])?"
_VERSION = r"[0-9]{1,6}(?:\.[0-9]{1,6}){0,2}"
_REF_RE = re.compile(rf"^(?P<ns>{_PART})/(?P<name>{_PART})@(?P<version>{_VERSION})$")


@dataclass(frozen=True, order=True)
class ProcessorRef:
    """A parsed processor reference; ``str(ref)`` round-trips to the canonical text."""

    ns: str
    name: str
    version: str

    @property
    def key(self) -> str:
        """The registry key (``ns/name``) without the version."""
        return f"{self.ns}/{self.name}"

    def __str__(self) -> str:
        return f"{self.ns}/{self.name}@{self.version}"


def parse_ref(text: object) -> ProcessorRef:
    """Parse ``ns/name@ver``; raises ``ERR_INPUTS`` with the expected shape on any other text."""
    if not isinstance(text, str):
        raise InputsError(f"ref must be a string like 'demo/echo@1', got {type(text).__name__}")
    match = _REF_RE.fullmatch(text.strip())
    if match is None:
        shown = text if len(text) <= 80 else text[:77] + "..."
        raise InputsError(
            f"invalid ref {shown!r}: expected '<ns>/<name>@<version>' with lowercase "
            "letters, digits, '-' or '_' and a numeric version (e.g. 'demo/echo@1')"
        )
    return ProcessorRef(match["ns"], match["name"], match["version"])
