"""Round-trip edits of ``registry/processors.yaml``: pins and the base image.

The file is a human document (comments, key order, quoting), so edits go through ruamel.yaml's
round-trip mode and only the touched keys change. Every edit is validated with the pydantic
:class:`~runtime.contract.wire.RegistryFile` model *before* anything is written, and written
atomically (temp file, fsync, rename) under a lock on the registry folder: the YAML is either the
old document or the whole new one, never half-written.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runtime._files import file_lock
from runtime.contract.wire import is_digest
from runtime.errors import InputsError
from runtime.kit.files import atomic_write
from runtime.registry.load import MAX_REGISTRY_BYTES, check_yaml_depth, validate_document
from runtime.registry.refs import ProcessorRef, parse_ref

Mutation = Callable[[Any], None]


def _yaml() -> Any:
    from ruamel.yaml import YAML  # lazy: only the editing tasks need it

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap long descriptions
    yaml.indent(mapping=2, sequence=4, offset=2)
    # Keep the file's spelling of nulls (``key: null``) instead of ruamel's empty value.
    yaml.representer.add_representer(
        type(None), lambda rep, _value: rep.represent_scalar("tag:yaml.org,2002:null", "null"))
    return yaml


def render_edit(text: str, mutate: Mutation, *, source: str = "<registry>") -> str:
    """Apply ``mutate`` to the round-trip document parsed from ``text``; return the new text.

    Raises ``ERR_INPUTS`` when the text is not YAML or the edited document fails validation.
    """
    from ruamel.yaml.error import YAMLError

    check_yaml_depth(text, source)  # the round-trip composer recurses per level too
    yaml = _yaml()
    try:
        document = yaml.load(text)
    except (YAMLError, RecursionError) as exc:
        raise InputsError(f"{source}: not valid YAML: {exc}") from exc
    mutate(document)
    out = io.StringIO()
    yaml.dump(document, out)
    rendered = out.getvalue()
    validate_document(rendered.encode("utf-8"), source)
    return rendered


def edit_registry(path: Path, mutate: Mutation) -> bool:
    """Edit the registry YAML at ``path`` in place; returns False when nothing changed.

    Comments and key order survive; the result is validated before the atomic replace.
    Raises ``ERR_INPUTS`` (missing/invalid file or an edit the schema refuses).
    """
    with file_lock(path.parent):
        try:
            raw = path.read_bytes()
        except FileNotFoundError as exc:
            raise InputsError(f"{path}: registry file not found") from exc
        if len(raw) > MAX_REGISTRY_BYTES:
            raise InputsError(f"{path}: registry file exceeds {MAX_REGISTRY_BYTES} bytes")
        rendered = render_edit(raw.decode("utf-8"), mutate, source=str(path)).encode("utf-8")
        if rendered == raw:
            return False
        # Root passes os.access whatever the mode, so the write bits are asked too.
        if not os.access(path, os.W_OK) or not path.stat().st_mode & 0o222:
            # A rename would replace a read-only file without complaint: honour the mode.
            raise InputsError(f"{path}: registry file is read-only; not replaced")
        try:
            atomic_write(path, rendered, path.parent, mode=path.stat().st_mode & 0o7777)
        except PermissionError as exc:  # an immutable file or a read-only folder
            raise InputsError(f"{path}: registry file cannot be replaced: {exc.strerror}") from exc
        return True


def _set(mapping: Any, key: str, value: Any) -> None:
    """Set ``key`` keeping its position; a new key goes last, before the trailing blank lines.

    ruamel attaches the blank lines (and comments) that follow a block to its last value, so a
    key appended naively would land after them; the tail moves to the new last key instead.
    """
    if key not in mapping and len(mapping) and not isinstance(value, dict):
        last = list(mapping)[-1]
        slots = mapping.ca.items.get(last)
        token = slots[2] if slots and len(slots) > 2 else None
        if token is not None and "\n" in token.value:
            from ruamel.yaml.tokens import CommentToken

            head, _, rest = token.value.partition("\n")
            mapping[key] = value
            if rest:
                slots[2] = CommentToken(head + "\n", token.start_mark) if head.strip() else None
                mapping.ca.items[key] = [None, None, CommentToken("\n" + rest, token.start_mark),
                                         None]
            return
    mapping[key] = value


def _version_block(document: Any, ref: ProcessorRef, source: str) -> Any:
    try:
        return document["processors"][ref.key]["versions"][ref.version]
    except (KeyError, TypeError) as exc:
        raise InputsError(f"{source}: unknown ref {str(ref)!r}") from exc


def _check_digest(value: str, what: str) -> None:
    if not is_digest(value):
        raise InputsError(f"{what} {value!r} must look like 'sha256:<64 lowercase hex>'")


def set_image_pin(
    path: Path,
    ref: ProcessorRef | str,
    *,
    repository: str,
    digest: str,
    config_digest: str | None,
    verified_at: str | None,
    verified_by: str | None = None,
) -> bool:
    """Write ``image.{repository,digest,config_digest,verified_at,verified_by}`` for one version
    atomically: the pin and the record of its verification land together or not at all.

    Raises ``ERR_INPUTS`` for an unknown ref, a malformed digest, or half a verification record
    (``verified_at`` without ``verified_by`` or the reverse); nothing is written then.
    """
    parsed = parse_ref(ref) if isinstance(ref, str) else ref
    _check_digest(digest, "digest")
    if config_digest is not None:
        _check_digest(config_digest, "config digest")
    if bool(verified_at) != bool(verified_by):
        raise InputsError(f"{parsed}: a pin's verification needs both verified_at and "
                          f"verified_by (got verified_at={verified_at!r}, "
                          f"verified_by={verified_by!r})")

    def mutate(document: Any) -> None:
        from ruamel.yaml.comments import CommentedMap

        version = _version_block(document, parsed, str(path))
        image = version.get("image")
        if image is None:
            image = CommentedMap()
            _set(version, "image", image)
        for key, value in (("repository", repository), ("digest", digest),
                           ("config_digest", config_digest), ("verified_at", verified_at),
                           ("verified_by", verified_by)):
            if value is None and key == "verified_by" and key not in image:
                continue  # an unverified pin keeps the file's shape (no new null key)
            _set(image, key, value)

    return edit_registry(path, mutate)


def set_base_image(path: Path, *, repository: str, digest: str) -> bool:
    """Record the base image every processor builds FROM (``base_image.repository/digest``)."""
    _check_digest(digest, "base image digest")

    def mutate(document: Any) -> None:
        from ruamel.yaml.comments import CommentedMap

        base = document.get("base_image")
        if base is None:
            base = CommentedMap()
            _set(document, "base_image", base)
        _set(base, "repository", repository)
        _set(base, "digest", digest)

    return edit_registry(path, mutate)
