"""Load and validate ``registry/processors.yaml``; resolve refs to processors on disk.

Validation errors name the file and the field path (``processors.demo/echo.versions.1.timeout_s``)
and are raised as ``ERR_INPUTS``: the registry is configuration the user supplied.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runtime import _cache
from runtime.errors import InputsError
from runtime.paths import REGISTRY_RELATIVE
from runtime.registry.refs import ProcessorRef, parse_ref

if TYPE_CHECKING:  # the pydantic models load when a caller asks for them (or on a cache miss)
    from runtime.registry.models import ProcessorEntry, RegistryFile, VersionEntry

MAX_REGISTRY_BYTES = 4 * 1024 * 1024
#: Deepest nesting of collections accepted. The composer recurses per level (in C for libyaml:
#: a 100,000-deep value segfaults it), so depth is measured on the event stream first.
MAX_YAML_DEPTH = 64


@functools.cache
def _loaders() -> tuple[type[Any], type[Any]]:
    """(base loader, strict loader), built on first use: an unchanged registry is read from the
    cache without loading PyYAML (10 to 40 ms with libyaml)."""
    import yaml

    # libyaml's safe loader when PyYAML was built with it: ~9x faster than the pure-Python one.
    base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class _StrictLoader(base):  # type: ignore[misc,valid-type]
        """The safe loader, refusing duplicate mapping keys (YAML keeps the last one silently)."""

        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
            seen: set[Any] = set()
            for key_node, _value in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r}", key_node.start_mark)
                seen.add(key)
            return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return]

    return base, _StrictLoader


_CACHE_KIND = "registry"
# What the validated document depends on besides the YAML bytes: the code of the models.
_MODEL_SOURCES = ("registry/models.py", "contract/wire.py", "contract/shapes.py")
_RUNTIME_DIR = Path(__file__).resolve().parent.parent


def check_yaml_depth(text: str, source: str) -> None:
    """``ERR_INPUTS`` when collections nest deeper than ``MAX_YAML_DEPTH`` (an iterative scan of
    the parser's events: nothing recursive has run yet)."""
    import yaml

    depth = 0
    try:
        for event in yaml.parse(text, Loader=_loaders()[0]):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_YAML_DEPTH:
                    raise InputsError(f"{source}: values nest deeper than {MAX_YAML_DEPTH} levels")
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError as exc:
        raise InputsError(f"{source}: not valid YAML: {exc}") from exc


@dataclass(frozen=True)
class VersionSettings:
    """The settings of one version a run reads, as plain data (the registry's normalised values)."""

    entrypoint: str
    timeout_s: float
    memory_mb: int
    secrets: tuple[str, ...]
    input_schema: str | None
    output_schema: str | None

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> VersionSettings:
        """From a version entry of the validated document's plain data."""
        return cls(data["entrypoint"], data["timeout_s"], data["memory_mb"],
                   tuple(data["secrets"]), data["input_schema"], data["output_schema"])


@dataclass(frozen=True)
class ResolvedProcessor:
    """A ref resolved against the registry: its version settings and files on disk.

    ``settings`` is what a run needs; ``entry`` and ``version`` are the pydantic registry models,
    built on first use (a plain local run never needs them).
    """

    ref: ProcessorRef
    directory: Path
    entrypoint: Path
    settings: VersionSettings
    registry: Registry = field(repr=False, compare=False)

    @functools.cached_property
    def entry(self) -> ProcessorEntry:
        """The processor's registry entry (pydantic)."""
        return self.registry.document.processors[self.ref.key]

    @functools.cached_property
    def version(self) -> VersionEntry:
        """The version's registry entry (pydantic)."""
        return self.entry.versions[self.ref.version]


def _field_path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "<root>"


def load_registry(path: Path) -> RegistryFile:
    """Parse and validate the registry YAML at ``path``; ``ERR_INPUTS`` names file and field."""
    try:
        raw_bytes = path.read_bytes()
    except FileNotFoundError as exc:
        raise InputsError(f"{path}: registry file not found") from exc
    return validate_document(raw_bytes, str(path))


def validate_document(raw_bytes: bytes, source: str) -> RegistryFile:
    """Validate registry YAML bytes (also used before an edit is written); ``ERR_INPUTS``."""
    if len(raw_bytes) > MAX_REGISTRY_BYTES:
        raise InputsError(f"{source}: registry file exceeds {MAX_REGISTRY_BYTES} bytes")
    try:
        text = raw_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputsError(f"{source}: not valid YAML: {exc}") from exc
    from pydantic import ValidationError

    from runtime.registry.models import RegistryFile

    check_yaml_depth(text, source)
    import yaml

    try:
        document: Any = yaml.load(text, Loader=_loaders()[1])  # noqa: S506 - safe, keys unique
    except (yaml.YAMLError, RecursionError) as exc:
        raise InputsError(f"{source}: not valid YAML: {exc}") from exc
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise InputsError(f"{source}: <root>: must be a mapping, got {type(document).__name__}")
    try:
        return RegistryFile.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise InputsError(f"{source}: {_field_path(first['loc'])}: {first['msg']}{more}") from exc


def registry_at(root: Path, rev: str) -> RegistryFile | None:
    """The registry as committed at ``rev``: ``None`` when the file did not exist there.

    An invalid registry at ``rev`` is ``ERR_INPUTS`` for every reader (change detection and the
    contract gate alike): a base revision nobody can interpret decides nothing silently.
    """
    from runtime import _git

    raw = _git.show(root, rev, REGISTRY_RELATIVE.as_posix())
    if raw is None:
        return None
    return validate_document(raw, f"{REGISTRY_RELATIVE.as_posix()} at {rev}")


def _shown(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` when inside it (entry paths may also be absolute)."""
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


@functools.cache
def _models_tag() -> bytes:
    """The source of the models that validate the registry: part of every cache key (read once
    per process: the models in memory are the ones this process validates with)."""
    return b"".join((_RUNTIME_DIR / relative).read_bytes() for relative in _MODEL_SOURCES)


def load_registry_data(path: Path) -> tuple[dict[str, Any], RegistryFile | None]:
    """The validated registry at ``path`` as plain data (``model_dump(mode="json")``), plus the
    pydantic document when this call had to build it.

    Validation depends only on the file's bytes and the models' code, so its result is kept in
    the state folder under a hash of both (:mod:`runtime._cache`): an unchanged registry is
    read back without YAML or pydantic. Errors are :func:`load_registry`'s.
    """
    try:
        raw_bytes = path.read_bytes()
    except FileNotFoundError as exc:
        raise InputsError(f"{path}: registry file not found") from exc
    entry = _cache.key(b"registry/1", _models_tag(), raw_bytes)
    cached = _cache.read(_CACHE_KIND, entry)
    if cached is not None:
        try:
            data = json.loads(cached)
        except ValueError:
            data = None
        if isinstance(data, dict):
            return data, None
    document = validate_document(raw_bytes, str(path))
    data = document.model_dump(mode="json")
    _cache.write(_CACHE_KIND, entry, json.dumps(data, separators=(",", ":")).encode("utf-8"))
    return data, document


class Registry:
    """The validated registry of one project root.

    Kept as the document's plain data; :attr:`document` (the pydantic ``RegistryFile``) is built
    on first use.
    """

    def __init__(self, root: Path, document: RegistryFile | None, path: Path,
                 data: dict[str, Any] | None = None) -> None:
        if document is None and data is None:
            raise ValueError("a Registry needs its document or its validated data")
        self.root = root
        self.path = path
        self._document = document
        self._data: dict[str, Any] = (data if data is not None
                                      else document.model_dump(mode="json"))  # type: ignore[union-attr]

    @classmethod
    def load(cls, root: Path) -> Registry:
        """Load ``<root>/registry/processors.yaml``."""
        path = root / REGISTRY_RELATIVE
        data, document = load_registry_data(path)
        return cls(root, document, path, data)

    @property
    def document(self) -> RegistryFile:
        """The whole document as the pydantic ``RegistryFile``."""
        if self._document is None:
            from runtime.registry.models import RegistryFile

            self._document = RegistryFile.model_validate(self._data)
        return self._document

    def refs(self) -> list[ProcessorRef]:
        """Every registered ``ns/name@ver``, sorted."""
        found: list[ProcessorRef] = []
        for key, entry in self._data["processors"].items():
            ns, _, name = key.partition("/")
            found.extend(ProcessorRef(ns, name, ver) for ver in entry["versions"])
        return sorted(found)

    def resolve(self, ref: ProcessorRef | str) -> ResolvedProcessor:
        """Resolve a ref to its entry and entrypoint; ``ERR_INPUTS`` for an unknown one."""
        parsed = parse_ref(ref) if isinstance(ref, str) else ref
        entry = self._data["processors"].get(parsed.key)
        version = entry["versions"].get(parsed.version) if entry else None
        if entry is None or version is None:
            known = ", ".join(str(r) for r in self.refs()) or "none"
            raise InputsError(f"unknown ref {str(parsed)!r} (known: {known})")
        directory = (self.root / entry["path"]).resolve()
        entrypoint = directory / version["entrypoint"]
        if not entrypoint.is_file():
            raise InputsError(
                f"{self.path}: processors.{parsed.key}.versions.{parsed.version}.entrypoint: "
                f"{_shown(entrypoint, self.root)} does not exist"
            )
        return ResolvedProcessor(parsed, directory, entrypoint, VersionSettings.from_data(version),
                                 self)

    def all_secret_names(self) -> list[str]:
        """Every secret name any processor version declares (for redaction and sync)."""
        return sorted({name for entry in self._data["processors"].values()
                       for version in entry["versions"].values() for name in version["secrets"]})
