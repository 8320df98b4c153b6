"""Contract compatibility: a processor version's schemas may only change compatibly.

Callers pin ``ns/name@ver``; so while the version stays the same, its contract must keep every
promise it made. The rules (each has a breaking and a compatible example in the unit tests):

inputs — the new schema must accept everything the old one accepted:
  no new required field; no removed property when ``additionalProperties`` is false; no
  newly forbidden additional properties; no narrowed type; no narrowed enum/const; no tightened
  minimum/maximum/length/item/field bound; no added or changed pattern or other narrowing keyword.
outputs — the new schema must still guarantee what the old one guaranteed:
  no output path or field dropped from ``required``; no property dropped; no widened type.

Keywords this module cannot reason about (``anyOf``, ``$ref``, …) count as breaking when they
change: the gate prefers a false alarm (bump the version) to a silent break.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime import _git as git
from runtime.contract.schemas import parse_schema_text
from runtime.errors import InputsError
from runtime.paths import REGISTRY_RELATIVE
from runtime.registry.load import Registry, registry_at
from runtime.registry.models import VersionEntry

ITEMS = -1  # path marker: "every item of this array"
_LOWER = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_UPPER = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")
_HANDLED = {"type", "enum", "const", "required", "properties", "additionalProperties", "items",
            "pattern", *_LOWER, *_UPPER}
_ANNOTATIONS = {"$schema", "$id", "$comment", "title", "description", "default", "examples",
                "deprecated", "readOnly", "writeOnly", "$defs", "definitions"}

FieldPath = list[str | int]


@dataclass(frozen=True)
class Break:
    """One broken promise: which version, which side, where, and why."""

    ref: str
    side: str
    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.ref} {self.side}: {self.where}: {self.reason}"


@dataclass
class ContractReport:
    """The outcome of :func:`check_contracts`; ``ok`` is false when any break was found."""

    base: str
    compared: list[str] = field(default_factory=list)
    breaks: list[Break] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no version broke its contract."""
        return not self.breaks

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (for ``--json``)."""
        return {"ok": self.ok, "base": self.base, "compared": self.compared,
                "breaks": [b.__dict__ for b in self.breaks], "notes": self.notes}

    def to_text(self) -> str:
        """A readable report: verdict first, then each break with its fix."""
        lines = [f"contracts vs {self.base}: "
                 + ("OK" if self.ok else f"{len(self.breaks)} breaking change(s)")
                 + f" ({len(self.compared)} changed version(s) compared)"]
        lines += [f"  BREAK {b}" for b in self.breaks]
        if self.breaks:
            lines.append("  fix: keep the old contract, or register the change as a new version "
                         "(schemas/v<next>.*.schema.json and a new versions entry)")
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)


# -- rules ---------------------------------------------------------------------------------------
def _as_schema(value: Any) -> dict[str, Any] | bool:
    return value if isinstance(value, bool | dict) else {}


def _types(schema: dict[str, Any]) -> set[str] | None:
    kind = schema.get("type")
    if kind is None:
        return None
    return {kind} if isinstance(kind, str) else set(kind)


def _values(schema: dict[str, Any]) -> list[Any] | None:
    if "const" in schema:
        return [schema["const"]]
    enum = schema.get("enum")
    return list(enum) if isinstance(enum, list) else None


def _accepts_type(kinds: set[str], kind: str) -> bool:
    return kind in kinds or (kind == "integer" and "number" in kinds)


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def input_breaks(old: Any, new: Any, where: FieldPath | None = None) -> list[tuple[FieldPath, str]]:
    """Every way ``new`` accepts less than ``old`` (inputs side), as (path, reason) pairs."""
    here: FieldPath = list(where or [])
    old_s, new_s = _as_schema(old), _as_schema(new)
    if old_s is False or new_s is True:
        return []
    if new_s is False:
        return [(here, "no longer accepts any value")]
    old_d: dict[str, Any] = {} if old_s is True else old_s
    new_d: dict[str, Any] = new_s
    found: list[tuple[FieldPath, str]] = []
    old_types, new_types = _types(old_d), _types(new_d)
    if new_types is not None:
        if old_types is None:
            found.append((here, f"type narrowed from any to {'/'.join(sorted(new_types))}"))
        else:
            lost = sorted(t for t in old_types if not _accepts_type(new_types, t))
            if lost:
                found.append((here, f"type narrowed: {'/'.join(lost)} no longer accepted"))
    old_vals, new_vals = _values(old_d), _values(new_d)
    if new_vals is not None:
        if old_vals is None:
            found.append((here, f"enum narrowed: now restricted to {_show(new_vals)}"))
        else:
            lost_vals = [v for v in old_vals if v not in new_vals]
            if lost_vals:
                found.append((here, f"enum narrowed: {_show(lost_vals)} no longer accepted"))
    for key in _LOWER:
        if key in new_d and (key not in old_d or new_d[key] > old_d[key]):
            found.append((here, f"{key} tightened from {old_d.get(key, 'none')} to {new_d[key]}"))
    for key in _UPPER:
        if key in new_d and (key not in old_d or new_d[key] < old_d[key]):
            found.append((here, f"{key} tightened from {old_d.get(key, 'none')} to {new_d[key]}"))
    if "pattern" in new_d and new_d["pattern"] != old_d.get("pattern"):
        found.append((here, f"pattern changed from {_show(old_d.get('pattern'))} to "
                            f"{_show(new_d['pattern'])}"))
    for name in sorted(set(new_d.get("required", [])) - set(old_d.get("required", []))):
        found.append(([*here, name], "new required field"))
    found += _property_breaks(old_d, new_d, here)
    if "items" in new_d:
        found += input_breaks(old_d.get("items", True), new_d["items"], [*here, ITEMS])
    found += _unchecked(old_d, new_d, here)
    return found


def _property_breaks(old: dict[str, Any], new: dict[str, Any], here: FieldPath
                     ) -> list[tuple[FieldPath, str]]:
    found: list[tuple[FieldPath, str]] = []
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    old_extra, new_extra = old.get("additionalProperties", True), new.get("additionalProperties", True)
    for name, old_prop in sorted(old_props.items()):
        if name in new_props:
            found += input_breaks(old_prop, new_props[name], [*here, name])
        elif new_extra is False:
            found.append(([*here, name], "property removed while additionalProperties is false"))
        else:
            found += input_breaks(old_prop, new_extra, [*here, name])
    if new_extra is False and old_extra is not False:
        found.append((here, "additional properties are now forbidden"))
    elif isinstance(new_extra, dict) and old_extra is not False:
        found += input_breaks(old_extra, new_extra, [*here, "<additional>"])
    return found


def _unchecked(old: dict[str, Any], new: dict[str, Any], here: FieldPath) -> list[tuple[FieldPath, str]]:
    keys = (set(old) | set(new)) - _HANDLED - _ANNOTATIONS
    return [(here, f"{key!r} changed (cannot prove compatible)")
            for key in sorted(keys) if key in new and old.get(key) != new.get(key)]


def output_breaks(old: Any, new: Any, where: FieldPath | None = None) -> list[tuple[FieldPath, str]]:
    """Every promise of ``old`` that ``new`` no longer makes (outputs side)."""
    here: FieldPath = list(where or [])
    if not isinstance(old, dict):
        return []
    new_d: dict[str, Any] = new if isinstance(new, dict) else {}
    found: list[tuple[FieldPath, str]] = []
    old_types, new_types = _types(old), _types(new_d)
    if old_types is not None:
        if new_types is None:
            found.append((here, f"type widened from {'/'.join(sorted(old_types))} to any"))
        else:
            gained = sorted(t for t in new_types if not _accepts_type(old_types, t))
            if gained:
                found.append((here, f"type widened: now also {'/'.join(gained)}"))
    for name in sorted(set(old.get("required", [])) - set(new_d.get("required", []))):
        found.append(([*here, name], "dropped from required"))
    old_props, new_props = old.get("properties", {}), new_d.get("properties", {})
    for name, old_prop in sorted(old_props.items()):
        if name in new_props:
            found += output_breaks(old_prop, new_props[name], [*here, name])
        else:
            found.append(([*here, name], "property dropped"))
    if isinstance(old.get("items"), dict):
        found += output_breaks(old["items"], new_d.get("items", {}), [*here, ITEMS])
    return found


def render_input_path(parts: FieldPath) -> str:
    """``inputs.tags[*].name``."""
    text = "inputs"
    for part in parts:
        text += "[*]" if part == ITEMS else f".{part}"
    return text


def render_output_path(parts: FieldPath) -> str:
    """``outputs/stats.json#/top_words/*``."""
    if not parts:
        return "outputs"
    rest = ["*" if p == ITEMS else str(p) for p in parts[1:]]
    return str(parts[0]) + ("#/" + "/".join(rest) if rest else "")


# -- the gate ------------------------------------------------------------------------------------


Reader = Callable[[str], "str | None"]


def _version_schemas(read: Reader, entry_path: str, version: VersionEntry, label: str
                     ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Both schemas of one version as read by ``read``; a declared but absent file is an error."""
    found: list[dict[str, Any] | None] = []
    for side, relative in (("input", version.input_schema), ("output", version.output_schema)):
        if not relative:
            found.append(None)
            continue
        text = read(f"{entry_path}/{relative}")
        if text is None:
            raise InputsError(f"{label}: {side} schema {entry_path}/{relative} does not exist")
        found.append(parse_schema_text(text, f"{label} {side} schema {entry_path}/{relative}"))
    return found[0], found[1]


def _read_now(root: Path) -> Reader:
    def read(relative: str) -> str | None:
        path = root / relative
        return path.read_text("utf-8") if path.is_file() else None
    return read


def default_base(root: Path) -> str:
    """The ref a PR is judged against when none is given.

    ``CONTRACTS_BASE`` if set; else the merge-base with ``main`` (or ``origin/main``) when HEAD
    is ahead of it; else ``HEAD~1`` (the last commit on main); else ``HEAD`` (a first commit).
    """
    chosen = os.environ.get("CONTRACTS_BASE", "").strip()
    if chosen:
        return chosen
    head = git.git(root, "rev-parse", "--verify", "--quiet", "HEAD").stdout.decode().strip()
    for branch in ("main", "origin/main"):
        proc = git.git(root, "merge-base", "HEAD", branch)
        merge_base = proc.stdout.decode().strip()
        if proc.returncode == 0 and merge_base and merge_base != head:
            return merge_base
    if git.git(root, "rev-parse", "--verify", "--quiet", "HEAD~1").returncode == 0:
        return "HEAD~1"
    return "HEAD"


def check_contracts(base: str, root: Path) -> ContractReport:
    """Compare every version present both at ``base`` and now; report contract breaks.

    An empty ``base`` means :func:`default_base`. The working tree (committed or not) is "now".

    A version whose schema files are unchanged is skipped; new processors and new versions are
    noted, not compared (a new version is how a breaking change ships). Raises ``ERR_INPUTS``
    when ``base`` is not a commit, git is unusable, or a schema/registry does not parse.
    """
    base = base or default_base(root)
    if not git.commit_exists(root, base):
        raise InputsError(f"--base {base!r} is not a commit in the git repository at {root}")
    report = ContractReport(base=base)
    old_registry = registry_at(root, base)
    if old_registry is None:
        report.notes.append(f"{REGISTRY_RELATIVE} did not exist at {base}: nothing to compare")
        return report
    registry = Registry.load(root)
    read_now = _read_now(root)

    def read_then(relative: str) -> str | None:
        return git.text_at(root, base, relative)

    for key, entry in sorted(registry.document.processors.items()):
        old_entry = old_registry.processors.get(key)
        if old_entry is None:
            report.notes.append(f"{key}: new processor")
            continue
        for ver, version in sorted(entry.versions.items()):
            ref = f"{key}@{ver}"
            old_version = old_entry.versions.get(ver)
            if old_version is None:
                report.notes.append(f"{ref}: new version")
                continue
            old_in, old_out = _version_schemas(read_then, old_entry.path, old_version,
                                               f"{ref} at {base}")
            new_in, new_out = _version_schemas(read_now, entry.path, version, ref)
            if (old_in, old_out) == (new_in, new_out):
                continue
            report.compared.append(ref)
            _judge(report, ref, (old_in, new_in), (old_out, new_out))
    return report


def _judge(report: ContractReport, ref: str, inputs: tuple[Any, Any], outputs: tuple[Any, Any]
           ) -> None:
    (old_in, new_in), (old_out, new_out) = inputs, outputs
    if old_in is None and new_in is not None:
        report.notes.append(f"{ref}: input schema declared for the first time (nothing to compare)")
    elif old_in is not None:
        for where, reason in input_breaks(old_in, True if new_in is None else new_in):
            report.breaks.append(Break(ref, "inputs", render_input_path(where), reason))
    if old_out is None and new_out is not None:
        report.notes.append(f"{ref}: output schema declared for the first time (nothing to compare)")
    elif old_out is not None and new_out is None:
        report.breaks.append(Break(ref, "outputs", "outputs", "output schema removed"))
    elif old_out is not None:
        for where, reason in output_breaks(old_out, new_out):
            report.breaks.append(Break(ref, "outputs", render_output_path(where), reason))
