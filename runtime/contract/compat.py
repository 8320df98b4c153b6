"""Contract compatibility: a processor version's schemas may only change compatibly.

Callers pin ``ns/name@ver``; so while the version stays the same, its contract must keep every
promise it made. The rules reason about the set of documents each schema accepts, not its text
(``runtime/contract/_subschema.py``), so reorderings and equivalent spellings are not breaks:

inputs — the new schema must accept everything the old one accepted (what a caller may send);
outputs — the new schema must accept nothing the old one did not (what a consumer relies on):
  the values a field may take (``type``, ``enum``/``const``, bounds, ``multipleOf``, lengths,
  ``pattern``, ``format``), ``required``, ``properties``/``additionalProperties``, ``items``/
  ``prefixItems`` and item counts, through ``allOf``/``anyOf``/``oneOf`` and local ``$ref``.

A keyword the rules cannot model (``not``, ``if``, ``patternProperties``, ``contains``, …)
counts as breaking when it changes: the gate prefers a false alarm (bump the version) to a
silent break. Each break names the path, the rule and the fix.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from runtime import _git as git
from runtime.contract._subschema import ADDITIONAL, INPUTS, ITEMS, OUTPUTS, FieldPath, Gap, gaps
from runtime.contract.schemas import parse_schema_text
from runtime.errors import InputsError
from runtime.paths import REGISTRY_RELATIVE
from runtime.registry.load import Registry, registry_at
from runtime.registry.models import VersionEntry

__all__ = ["ADDITIONAL", "ITEMS", "Break", "ContractReport", "FieldPath", "Gap", "check_contracts",
           "default_base", "input_breaks", "output_breaks", "render_input_path",
           "render_output_path"]



@dataclass(frozen=True)
class Break:
    """One broken promise: which version, which side, where, which rule, why, and the fix."""

    ref: str
    side: str
    where: str
    rule: str
    reason: str
    fix: str

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
        for each in self.breaks:
            lines += [f"  BREAK {each}", f"    fix: {each.fix}"]
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)


# -- rules ---------------------------------------------------------------------------------------
def input_breaks(old: Any, new: Any) -> list[Gap]:
    """Every input ``old`` accepted that ``new`` rejects (what a caller may no longer send)."""
    return gaps(old, new, INPUTS)


def output_breaks(old: Any, new: Any) -> list[Gap]:
    """Every output ``new`` allows that ``old`` ruled out (what a consumer did not expect)."""
    return gaps(new, old, OUTPUTS)


def render_input_path(parts: FieldPath) -> str:
    """``inputs.tags[*].name``, ``inputs.pair[0]``, ``inputs.<additional>``."""
    text = "inputs"
    for part in parts:
        text += ("[*]" if part == ITEMS else f"[{part}]") if isinstance(part, int) else f".{part}"
    return text


def render_output_path(parts: FieldPath) -> str:
    """``outputs/stats.json#/top_words/*``."""
    if not parts:
        return "outputs"
    head, rest = (str(parts[0]), parts[1:]) if isinstance(parts[0], str) else ("outputs", parts)
    steps = ["*" if p == ITEMS else str(p) for p in rest]
    return head + ("#/" + "/".join(steps) if steps else "")


def _fix(key: str, versions: list[str], side: str, rule: str) -> str:
    """The way out: restore the old rule, or ship the change under the next version number."""
    numbers = [int(v) for v in versions if v.isdigit()]
    nxt = str(max(numbers) + 1) if numbers else "<next>"
    return (f"restore the old `{rule}`, or ship the change as {key}@{nxt} "
            f"(schemas/v{nxt}.{side}.schema.json and a \"{nxt}\" entry under versions)")


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
            versions = sorted({*entry.versions, *old_entry.versions})
            _judge(report, ref, (old_in, new_in), (old_out, new_out),
                   partial(_fix, key, versions))
    return report


def _judge(report: ContractReport, ref: str, inputs: tuple[Any, Any], outputs: tuple[Any, Any],
           fix: Callable[[str, str], str]) -> None:
    (old_in, new_in), (old_out, new_out) = inputs, outputs
    if old_in is None and new_in is not None:
        report.notes.append(f"{ref}: input schema declared for the first time (nothing to compare)")
    elif old_in is not None:
        for gap in input_breaks(old_in, True if new_in is None else new_in):
            report.breaks.append(Break(ref, "inputs", render_input_path(gap.path), gap.rule,
                                       gap.reason, fix("inputs", gap.rule)))
    if old_out is None and new_out is not None:
        report.notes.append(f"{ref}: output schema declared for the first time (nothing to compare)")
    elif old_out is not None and new_out is None:
        report.breaks.append(Break(ref, "outputs", "outputs", "schema", "output schema removed",
                                   fix("outputs", "output schema")))
    elif old_out is not None:
        for gap in output_breaks(old_out, new_out):
            report.breaks.append(Break(ref, "outputs", render_output_path(gap.path), gap.rule,
                                       gap.reason, fix("outputs", gap.rule)))
