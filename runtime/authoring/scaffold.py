"""``new_processor``: scaffold a processor that passes the whole suite as generated.

It writes ``processors/<ns>/<name>/`` (``main.py`` over the kit, optional ``provider.py`` with a
lazy vendor import, both schemas, one golden fixture), a PR-lane acceptance test, and the
registry entry (a round-trip edit that keeps comments and order, written atomically). The
fixture's hashes are then recorded by actually running the new processor in ``mock`` through
``run_processor`` — the fixture is true from its first commit, and ``inv test-golden --update``
re-records it after edits.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from runtime.authoring.golden import GoldenReport, run_golden
from runtime.errors import InputsError
from runtime.kit.files import atomic_write
from runtime.paths import REGISTRY_RELATIVE
from runtime.registry.load import Registry
from runtime.registry.models import RegistryFile, VersionEntry
from runtime.registry.refs import ProcessorRef, parse_ref

FIXTURE_NAME = "basic.json"
FIXTURE_INPUTS = {"text": "Scaffolded processors start with one golden fixture."}


@dataclass
class ScaffoldResult:
    """What :func:`new_processor` wrote, and the golden run that recorded the fixture."""

    ref: str
    files: list[str] = field(default_factory=list)
    golden: GoldenReport | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (for ``--json``)."""
        return {"ref": self.ref, "files": self.files,
                "golden": self.golden.to_dict() if self.golden else None}


def parse_new_name(text: str) -> ProcessorRef:
    """``ns/name`` (or ``ns/name@1``) → the ref of version 1; ``ERR_INPUTS`` otherwise."""
    ref = parse_ref(text if "@" in text else f"{text}@1")
    if ref.version != "1":
        raise InputsError(f"a new processor starts at version 1, got {ref.version!r}")
    return ref


def default_secret(ref: ProcessorRef) -> str:
    """``ACME_SUMMARIZE_API_KEY`` for ``acme/summarize``."""
    return re.sub(r"[^A-Z0-9]", "_", f"{ref.ns}_{ref.name}_API_KEY".upper())


# -- templates -----------------------------------------------------------------------------------
_MAIN_LOCAL = '''"""{ref}: count the words of a text (mock and real both run offline)."""

from runtime.kit import Context, serve


def handle(ctx: Context) -> None:
    """Write ``outputs/result.json`` with the word and character counts of ``inputs.text``."""
    text = ctx.require("text", str)
    ctx.write_json("result.json", {{"words": len(text.split()), "characters": len(text)}})


if __name__ == "__main__":
    raise SystemExit(serve(handle))
'''

_MAIN_PROVIDER = '''"""{ref}: ask a hosted provider about a text; ``mock`` never imports the vendor SDK."""

from runtime.kit import Context, serve


def handle(ctx: Context) -> None:
    """``real`` calls ``provider.call`` with the declared secret; ``mock`` answers offline."""
    text = ctx.require("text", str)
    if ctx.mode == "real":
        import provider  # the vendor call lives there and imports its SDK lazily

        ctx.log("provider.call", chars=len(text))
        answer = provider.call(text, api_key=ctx.secret("{secret}"))
        ctx.log("provider.response", chars=len(answer))
    else:
        ctx.log("provider.call", provider="mock", chars=len(text))
        answer = f"mock answer for {{len(text.split())}} words"
        ctx.log("provider.response", provider="mock", chars=len(answer))
    ctx.write_json("result.json", {{"answer": answer, "words": len(text.split())}})


if __name__ == "__main__":
    raise SystemExit(serve(handle))
'''

_PROVIDER = '''"""The vendor call for {ref}; only ``real`` mode imports this module."""

from __future__ import annotations


def call(text: str, *, api_key: str) -> str:
    """Send ``text`` to the vendor and return its answer.

    Import the vendor SDK here, inside the function, so mock runs and the host never load it::

        from vendor_sdk import Client
        return Client(api_key=api_key, timeout=30.0).complete(text)
    """
    raise NotImplementedError("provider.call: wire the vendor SDK here (see the docstring)")
'''

_TEST = '''"""{ref}: a mock run matches its golden fixture; a missing field is refused before spawn."""

import json

import pytest

from runtime.errors import InputsError
from runtime.runner import run_processor

REF = "{ref}"
FIXTURE = "{path}/fixtures/{fixture}"


def test_{ident}_mock_run_matches_its_golden_fixture(tmp_path, project_root):
    fixture = json.loads((project_root / FIXTURE).read_text())
    envelope = run_processor(REF, inputs=fixture["inputs"], artifacts_root=tmp_path,
                             root=project_root)
    assert {{item.path: item.sha256 for item in envelope.outputs}} == fixture["expected"]["outputs"]


def test_{ident}_missing_text_is_refused_by_the_input_schema(tmp_path, project_root):
    with pytest.raises(InputsError, match=r"inputs\\.text: required"):
        run_processor(REF, inputs={{}}, artifacts_root=tmp_path, root=project_root)
'''


def _schemas(ref: ProcessorRef, with_provider: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    draft = "https://json-schema.org/draft/2020-12/schema"
    inputs = {
        "$schema": draft, "title": f"{ref} inputs", "type": "object", "required": ["text"],
        "properties": {"text": {"description": "The text to process.", "type": "string",
                                "minLength": 1, "maxLength": 100000}},
        "additionalProperties": False,
    }
    fields: dict[str, Any] = {"words": {"type": "integer", "minimum": 0}}
    fields.update({"answer": {"type": "string"}} if with_provider
                  else {"characters": {"type": "integer", "minimum": 0}})
    outputs = {
        "$schema": draft, "title": f"{ref} outputs",
        "description": "Keys are output paths; a JSON output is checked by its content.",
        "type": "object", "required": ["outputs/result.json"],
        "properties": {"outputs/result.json": {
            "type": "object", "required": sorted(fields), "properties": fields,
            "additionalProperties": False}},
    }
    return inputs, outputs


def _json(value: Any) -> str:
    return json.dumps(value, indent=2) + "\n"


def _files(ref: ProcessorRef, path: str, with_provider: bool, secret: str | None
           ) -> dict[str, str]:
    """Relative path (inside the processor folder) → text."""
    inputs, outputs = _schemas(ref, with_provider)
    fixture = {"ref": str(ref), "description": "A short text, run in mock.",
               "inputs": FIXTURE_INPUTS, "expected": {"outputs": None}}
    files = {
        "__init__.py": "",
        "main.py": (_MAIN_PROVIDER.format(ref=ref, secret=secret) if with_provider
                    else _MAIN_LOCAL.format(ref=ref)),
        "schemas/v1.inputs.schema.json": _json(inputs),
        "schemas/v1.outputs.schema.json": _json(outputs),
        f"fixtures/{FIXTURE_NAME}": _json(fixture),
    }
    if with_provider:
        files["provider.py"] = _PROVIDER.format(ref=ref)
    return files


# -- registry ------------------------------------------------------------------------------------
def _round_trip_yaml() -> Any:
    from ruamel.yaml import YAML  # only the editing paths need the round-trip parser

    editor = YAML()
    editor.preserve_quotes = True
    editor.indent(mapping=2, sequence=4, offset=2)
    editor.width = 4096
    editor.representer.add_representer(
        type(None), lambda rep, _data: rep.represent_scalar("tag:yaml.org,2002:null", "null"))
    return editor


def add_registry_entry(registry_path: Path, key: str, entry: dict[str, Any]) -> None:
    """Append ``processors.<key>`` to the registry YAML, keeping comments and order.

    The new document is validated before an atomic replace, so the file is never half-written
    or invalid. Raises ``ERR_INPUTS`` if the key exists or the result does not validate.
    """
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    editor = _round_trip_yaml()
    document = editor.load(registry_path.read_text("utf-8"))
    processors = document.setdefault("processors", CommentedMap())
    if key in processors:
        raise InputsError(f"{registry_path}: processors.{key} already exists")
    versions = CommentedMap()
    for ver, settings in entry["versions"].items():
        block = CommentedMap()
        for name, value in settings.items():
            if isinstance(value, list):
                value = CommentedSeq(value)
                value.fa.set_flow_style()
            elif isinstance(value, dict):
                value = CommentedMap(value)
            block[name] = value
        versions[DoubleQuotedScalarString(ver)] = block
    processors[key] = CommentedMap([("path", entry["path"]), ("versions", versions)])
    if len(processors) > 1:
        processors.yaml_set_comment_before_after_key(key, before="\n")
    buffer = io.StringIO()
    editor.dump(document, buffer)
    text = buffer.getvalue().replace("\n#\n", "\n\n")
    try:
        RegistryFile.model_validate(yaml.safe_load(text))
    except (yaml.YAMLError, ValidationError) as exc:
        raise InputsError(f"{registry_path}: the edited registry would be invalid: {exc}") from exc
    write_source(registry_path, text, mode=registry_path.stat().st_mode & 0o777)


def write_source(path: Path, text: str, mode: int = 0o644) -> None:
    """Atomically write a file meant for the repository, readable by all (not mkstemp's 0600)."""
    atomic_write(path, text.encode("utf-8"), confine_to=path.parent)
    path.chmod(mode)


# -- the scaffold --------------------------------------------------------------------------------
def new_processor(name: str, root: Path, *, with_provider: bool = False,
                  secrets: Sequence[str] = (), record_fixture: bool = True) -> ScaffoldResult:
    """Scaffold ``ns/name`` at version 1 under ``root`` and record its fixture in mock.

    Refuses to overwrite anything (an existing registry key, folder or test file). Raises
    ``ERR_INPUTS`` for a bad name or secret, or an existing target.
    """
    ref = parse_new_name(name)
    names = list(secrets) or ([default_secret(ref)] if with_provider else [])
    try:
        VersionEntry(secrets=names)
    except ValidationError as exc:
        raise InputsError(f"--secret: {exc.errors()[0]['msg']}") from exc
    registry = Registry.load(root)
    rel_dir = f"processors/{ref.ns}/{ref.name}"
    ident = re.sub(r"[^a-z0-9_]", "_", f"{ref.ns}_{ref.name}")
    test_rel = f"tests/acceptance/pr/test_processor_{ident}.py"
    if ref.key in registry.document.processors:
        raise InputsError(f"{ref.key} is already registered in {REGISTRY_RELATIVE}")
    for existing in (rel_dir, test_rel):
        if (root / existing).exists():
            raise InputsError(f"{existing} already exists; refusing to overwrite")
    files = _files(ref, rel_dir, with_provider, names[0] if names else None)
    result = ScaffoldResult(ref=str(ref))
    ns_dir = root / "processors" / ref.ns
    ns_dir.mkdir(parents=True, exist_ok=True)
    if not (ns_dir / "__init__.py").exists():
        write_source(ns_dir / "__init__.py", "")
        result.files.append(f"processors/{ref.ns}/__init__.py")
    _write_tree(ns_dir, ref.name, files)
    result.files += [f"{rel_dir}/{rel}" for rel in sorted(files)]
    test_text = _TEST.format(ref=ref, path=rel_dir, fixture=FIXTURE_NAME, ident=ident)
    try:
        write_source(root / test_rel, test_text)
        add_registry_entry(registry.path, ref.key, _entry(rel_dir, ref, names, with_provider))
    except BaseException:
        shutil.rmtree(root / rel_dir, ignore_errors=True)
        (root / test_rel).unlink(missing_ok=True)
        raise
    result.files += [test_rel, REGISTRY_RELATIVE.as_posix()]
    if record_fixture:
        result.golden = run_golden(root, update=True, processor=ref.key)
    return result


def _write_tree(parent: Path, name: str, files: dict[str, str]) -> None:
    """Write every file into a hidden staging folder, then rename it into place at once."""
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.scaffold-", dir=parent))
    try:
        for rel, text in files.items():
            target = staging / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            write_source(target, text)
        staging.chmod(0o755)
        staging.rename(parent / name)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _entry(path: str, ref: ProcessorRef, secrets: list[str], with_provider: bool
           ) -> dict[str, Any]:
    description = ("Ask a hosted provider about a text (mock stays offline)." if with_provider
                   else "Count the words of a text; mock and real both run offline.")
    return {"path": path, "versions": {ref.version: {
        "description": description,
        "entrypoint": "main.py",
        "timeout_s": 60,
        "memory_mb": 256,
        "secrets": secrets,
        "deterministic": True,
        "input_schema": "schemas/v1.inputs.schema.json",
        "output_schema": "schemas/v1.outputs.schema.json",
        "image": {"repository": None, "digest": None},
    }}}
