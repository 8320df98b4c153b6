"""Processor contracts: each version's input and output JSON Schemas, enforced on the host.

A registry version names two hand-written JSON Schema files (draft 2020-12), relative to the
processor folder (``schemas/v1.inputs.schema.json``, ``schemas/v1.outputs.schema.json``).

- The **input schema** validates the ``inputs`` object before anything is spawned, for every
  adapter; a violation is ``ERR_INPUTS`` whose message names the field path and the rule
  (``inputs.text: required``, ``inputs.top_n: must be integer``, ``inputs.extra: not allowed``).
- The **output schema** validates one *output document* built from a success envelope: an object
  keyed by output path (``outputs/stats.json``). A JSON output (media type ``application/json``)
  contributes its parsed content; any other output contributes its index item (``path``,
  ``sha256``, ``size``, ``media_type``). ``required`` lists the output paths a run must produce.
  A violation is ``ERR_ADAPTER_INVOCATION``: the processor broke its declared contract.

Messages never quote input or output values (they may be secret); only paths and schema rules.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runtime import _cache
from runtime.contract.quickcheck import Check, compile_check
from runtime.contract.shapes import MODES, WireEnvelope
from runtime.errors import AdapterInvocationError, InputsError
from runtime.registry.load import Registry, ResolvedProcessor

SCHEMA_LIMIT_BYTES = 1024 * 1024
JSON_OUTPUT_LIMIT_BYTES = 16 * 1024 * 1024
MAX_REPORTED = 5
JSON_MEDIA_TYPES = ("application/json",)
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
# Cache kind of "this schema text passed Draft 2020-12 check_schema"; bump the tag when the check
# itself changes (a stricter metaschema check would otherwise trust an older verdict).
_CHECKED = "schema-checked"
_CHECKED_TAG = b"Draft202012Validator.check_schema/1"

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

    from runtime.contract.wire import Envelope


@dataclass(frozen=True)
class ProcessorSchemas:
    """The parsed input and output schemas of one version (``None`` = not declared)."""

    inputs: dict[str, Any] | None
    outputs: dict[str, Any] | None
    input_file: str | None
    output_file: str | None


def parse_schema_text(text: str, label: str) -> dict[str, Any]:
    """Parse and check one JSON Schema document; ``ERR_INPUTS`` naming ``label`` if unusable."""
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputsError(f"{label}: not valid JSON: {exc.msg} at line {exc.lineno}") from exc
    if not isinstance(schema, dict):
        raise InputsError(f"{label}: a schema must be a JSON object")
    # The metaschema check depends on the text alone: a text that passed once is remembered by
    # its content hash, so a run does not load jsonschema to re-check an unchanged file.
    entry = _cache.key(_CHECKED_TAG, text.encode("utf-8", "surrogatepass"))
    if _cache.read(_CHECKED, entry) is None:
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            where = "/".join(str(p) for p in exc.absolute_path) or "<root>"
            raise InputsError(f"{label}: not a valid JSON Schema at {where}: "
                              f"{exc.validator} rule is malformed") from exc
        _cache.write(_CHECKED, entry, b"")
    return schema


def load_schema_file(directory: Path, relative: str) -> dict[str, Any]:
    """Read ``relative`` (inside ``directory``) as a JSON Schema; ``ERR_INPUTS`` if unusable."""
    text, path = _schema_text(directory, relative)
    return parse_schema_text(text, str(path))


#: Parsed schema and its compiled quick check per schema text (sha256), for this process: a warm
#: caller (many runs in one process) parses and compiles each schema once. Only the run's own
#: checks read these (never handed out, so never mutated).
_COMPILED: dict[str, tuple[dict[str, Any], Check | None]] = {}
_COMPILED_ENTRIES = 64


def _compiled_schema(directory: Path, relative: str) -> tuple[dict[str, Any], Check | None]:
    """The schema file's parsed document and quick check (``ERR_INPUTS`` as
    :func:`load_schema_file`)."""
    text, path = _schema_text(directory, relative)
    entry = _cache.key(b"compiled-schema", text.encode("utf-8", "surrogatepass"))
    found = _COMPILED.get(entry)
    if found is None:
        schema = parse_schema_text(text, str(path))
        found = (schema, compile_check(schema))
        if len(_COMPILED) >= _COMPILED_ENTRIES:
            _COMPILED.clear()
        _COMPILED[entry] = found
    return found


#: Where each schema name resolved, with the (device, inode) it reached: a warm caller resolves
#: a schema's path again only when its name leads to another file. The text is read every time.
_RESOLVED: dict[tuple[str, str], tuple[tuple[int, int], Path]] = {}


def _resolved_schema(directory: Path, relative: str) -> Path:
    key = (str(directory), relative)
    known = _RESOLVED.get(key)
    if known is not None:
        with contextlib.suppress(OSError):
            found = (directory / relative).stat()
            if (found.st_dev, found.st_ino) == known[0]:
                return known[1]
    path = (directory / relative).resolve()
    if directory.resolve() not in path.parents:
        raise InputsError(f"schema {relative!r} resolves outside {directory}")
    with contextlib.suppress(OSError):
        found = path.stat()
        if len(_RESOLVED) >= _COMPILED_ENTRIES:
            _RESOLVED.clear()
        _RESOLVED[key] = ((found.st_dev, found.st_ino), path)
    return path


def _schema_text(directory: Path, relative: str) -> tuple[str, Path]:
    path = _resolved_schema(directory, relative)
    try:
        if path.stat().st_size > SCHEMA_LIMIT_BYTES:
            raise InputsError(f"{path}: schema exceeds {SCHEMA_LIMIT_BYTES} bytes")
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputsError(f"{path}: schema cannot be read: {exc}") from exc
    return text, path


def load_schemas(processor: ResolvedProcessor) -> ProcessorSchemas:
    """Load the schemas a resolved version declares; ``ERR_INPUTS`` for a missing/bad file."""
    version = processor.settings
    inputs = (load_schema_file(processor.directory, version.input_schema)
              if version.input_schema else None)
    outputs = (load_schema_file(processor.directory, version.output_schema)
               if version.output_schema else None)
    return ProcessorSchemas(inputs, outputs, version.input_schema, version.output_schema)


# -- messages ------------------------------------------------------------------------------------
def field_path(root: str, parts: Iterable[str | int]) -> str:
    """``inputs.top_n``, ``inputs.items[0]``, ``inputs["odd key"]``: a readable field path."""
    text = root
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _IDENTIFIER.fullmatch(part):
            text += f".{part}"
        else:
            text += f"[{json.dumps(part)}]"
    return text


def output_path(parts: Sequence[str | int]) -> str:
    """``outputs/stats.json#/top_words/0``: the output file, then a JSON pointer into it."""
    if not parts:
        return "outputs"
    head, rest = str(parts[0]), parts[1:]
    return head + ("#/" + "/".join(str(p) for p in rest) if rest else "")


def _short(value: Any, limit: int = 120) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_BOUNDS = {
    "minimum": "must be >= {}", "maximum": "must be <= {}",
    "exclusiveMinimum": "must be > {}", "exclusiveMaximum": "must be < {}",
    "minLength": "must be at least {} characters", "maxLength": "must be at most {} characters",
    "minItems": "must have at least {} items", "maxItems": "must have at most {} items",
    "minProperties": "must have at least {} fields", "maxProperties": "must have at most {} fields",
    "multipleOf": "must be a multiple of {}",
}


def _expected(error: ValidationError) -> Any:
    value: Any = error.validator_value
    return value


def _rule(error: ValidationError) -> str:
    """The rule an error broke, phrased from the schema (never from the offending value)."""
    keyword, expected = str(error.validator), _expected(error)
    if keyword == "type":
        kinds = [expected] if isinstance(expected, str) else list(expected)
        return "must be " + (kinds[0] if len(kinds) == 1 else "one of " + ", ".join(kinds))
    if keyword in _BOUNDS:
        return _BOUNDS[keyword].format(expected)
    if keyword == "enum":
        return f"must be one of {_short(expected)}"
    if keyword == "const":
        return f"must equal {_short(expected)}"
    if keyword == "pattern":
        return f"must match pattern {_short(expected)}"
    if keyword == "format":
        return f"must be a valid {expected}"
    if keyword == "uniqueItems":
        return "items must be unique"
    if keyword in ("anyOf", "oneOf"):
        return f"must match {'exactly ' if keyword == 'oneOf' else ''}one of the allowed shapes"
    if keyword == "not":
        return "matches a shape the schema forbids"
    if error.schema is False:
        return "not allowed"
    return f"breaks the {keyword!r} rule"


def _violations(error: ValidationError) -> list[tuple[list[str | int], str]]:
    """(path, rule) pairs for one error; ``required``/``additionalProperties`` name each field."""
    where: list[str | int] = list(error.absolute_path)
    instance = error.instance
    if error.validator == "required" and isinstance(instance, dict):
        missing = [name for name in _expected(error) if name not in instance]
        return [([*where, name], "required") for name in missing]
    if error.validator in ("additionalProperties", "unevaluatedProperties") \
            and isinstance(instance, dict) and _expected(error) is False:
        schema = error.schema if isinstance(error.schema, dict) else {}
        known = schema.get("properties", {})
        patterns = list(schema.get("patternProperties", {}))
        extra = [key for key in instance
                 if key not in known and not any(re.search(p, key) for p in patterns)]
        return [([*where, key], "not allowed") for key in extra] or [(where, "not allowed")]
    return [(where, _rule(error))]


def schema_violations(schema: dict[str, Any], instance: Any) -> list[tuple[list[str | int], str]]:
    """Every (path, rule) the instance breaks, de-duplicated and sorted by path."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    found: dict[str, tuple[list[str | int], str]] = {}
    for error in validator.iter_errors(instance):
        for where, rule in _violations(error):
            found.setdefault(json.dumps([where, rule]), (where, rule))
    return sorted(found.values(), key=lambda item: ([str(p) for p in item[0]], item[1]))


def _summarise(lines: list[str]) -> str:
    shown = "; ".join(lines[:MAX_REPORTED])
    more = len(lines) - MAX_REPORTED
    return shown + (f" (+{more} more)" if more > 0 else "")


# -- enforcement ---------------------------------------------------------------------------------
def input_validator(processor: ResolvedProcessor) -> Callable[[dict[str, Any]], None]:
    """The check of :func:`validate_inputs` with the version's input schema loaded once.

    A batch checks every line of its input file before anything runs; reading and checking the
    schema file once per line would cost more than the validation itself.
    """
    version = processor.settings
    if not version.input_schema:
        return _accept_any
    schema, quick = _compiled_schema(processor.directory, version.input_schema)

    def check(inputs: dict[str, Any]) -> None:
        if quick is not None and quick(inputs):
            return
        problems = schema_violations(schema, inputs)
        if problems:
            lines = [f"{field_path('inputs', where)}: {rule}" for where, rule in problems]
            raise InputsError(f"{_summarise(lines)} (input schema of {processor.ref}: "
                              f"{version.input_schema})")

    return check


def _accept_any(_inputs: dict[str, Any]) -> None:
    """A version without an input schema accepts any JSON object."""


def validate_inputs(processor: ResolvedProcessor, inputs: dict[str, Any]) -> None:
    """Check ``inputs`` against the version's input schema before any spawn.

    Raises ``ERR_INPUTS`` naming each failing field and rule, e.g.
    ``inputs.top_n: must be integer; inputs.extra: not allowed (input schema of text/stats@1)``.
    A version without an input schema accepts any JSON object.
    """
    input_validator(processor)(inputs)


def output_document(envelope: WireEnvelope | Envelope, write_prefix: Path) -> dict[str, Any]:
    """The instance an output schema sees: path → parsed JSON content, or → the index item.

    Raises ``ERR_ADAPTER_INVOCATION`` for a JSON output that is unreadable, not JSON, or larger
    than :data:`JSON_OUTPUT_LIMIT_BYTES` (memory stays bounded).
    """
    document: dict[str, Any] = {}
    prefix = write_prefix.resolve()
    for item in envelope.outputs:
        if item.media_type.split(";")[0].strip() not in JSON_MEDIA_TYPES:
            document[item.path] = item.model_dump()
            continue
        if item.size > JSON_OUTPUT_LIMIT_BYTES:
            raise AdapterInvocationError(
                f"{item.path}: JSON output of {item.size} bytes exceeds the "
                f"{JSON_OUTPUT_LIMIT_BYTES}-byte limit for output-schema checks")
        try:
            document[item.path] = json.loads((prefix / item.path).read_bytes())
        except (OSError, ValueError) as exc:
            raise AdapterInvocationError(
                f"{item.path}: declared application/json but is not readable JSON") from exc
    return document


def validate_outputs(processor: ResolvedProcessor, envelope: WireEnvelope | Envelope,
                     write_prefix: Path) -> None:
    """Check a success envelope's outputs against the version's output schema.

    Raises ``ERR_ADAPTER_INVOCATION`` naming each missing output path and each broken field
    (``outputs/stats.json#/words: must be integer``). Error envelopes and versions without an
    output schema pass through unchecked.
    """
    version = processor.settings
    if envelope.status != "success" or not version.output_schema:
        return
    schema, quick = _compiled_schema(processor.directory, version.output_schema)
    document = output_document(envelope, write_prefix)
    if quick is not None and quick(document):
        return
    problems = schema_violations(schema, document)
    if problems:
        lines = [f"{output_path(where)}: {rule}" for where, rule in problems]
        raise AdapterInvocationError(
            f"processor outputs break the output schema of {processor.ref} "
            f"({version.output_schema}): {_summarise(lines)}")


# -- description ---------------------------------------------------------------------------------
def describe_processor(ref: str, root: Path) -> dict[str, Any]:
    """Everything a caller needs to know about one version: entry, modes, secret *names*,
    timeouts, pin and both schemas. ``ERR_INPUTS`` for an unknown ref or a broken schema."""
    registry = Registry.load(root)
    processor = registry.resolve(ref)
    version = processor.version
    schemas = load_schemas(processor)
    fixtures = sorted(p.name for p in (processor.directory / "fixtures").glob("*.json"))
    return {
        "ref": str(processor.ref),
        "path": processor.entry.path,
        "description": version.description,
        "entrypoint": version.entrypoint,
        "modes": list(MODES),
        "secrets": list(version.secrets),
        "timeout_s": version.timeout_s,
        "memory_mb": version.memory_mb,
        "gpu": version.gpu,
        "deterministic": version.deterministic,
        "pin": version.image.model_dump(),
        "input_schema_file": schemas.input_file,
        "output_schema_file": schemas.output_file,
        "input_schema": schemas.inputs,
        "output_schema": schemas.outputs,
        "fixtures": fixtures,
    }
