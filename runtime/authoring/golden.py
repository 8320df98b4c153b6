"""Golden fixtures: recorded inputs plus the expected output hashes of a ``mock`` run.

A fixture is ``processors/<ns>/<name>/fixtures/<case>.json``::

    {"ref": "text/stats@1", "description": "…", "inputs": {…},
     "expected": {"outputs": {"outputs/stats.json": "<sha256>", …}}}

or, for a case that must fail, ``"expected": {"error": "ERR_INPUTS"}``. ``"outputs": null`` is a
placeholder that ``--update`` fills. Replays go through ``run_processor`` (the one execution
surface), always in ``mock`` mode; the fixtures folder is excluded from the code hash, so adding
a fixture never changes a processor's identity.
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.errors import InputsError, ProcessorRuntimeError
from runtime.kit.files import atomic_write
from runtime.logging import expecting_failure
from runtime.registry.load import Registry
from runtime.runner import run_processor

FIXTURE_LIMIT_BYTES = 1024 * 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class Fixture:
    """One parsed fixture file."""

    path: Path
    ref: str
    inputs: dict[str, Any]
    outputs: dict[str, str] | None
    error: str | None
    document: dict[str, Any]

    @property
    def kind(self) -> str:
        """``error`` when the case must fail, else ``outputs``."""
        return "error" if self.error is not None else "outputs"


@dataclass
class GoldenResult:
    """The verdict on one fixture: ``pass``, ``fail`` or ``updated``, with readable problems."""

    fixture: str
    ref: str
    status: str
    problems: list[str] = field(default_factory=list)


@dataclass
class GoldenReport:
    """Every fixture's result for one adapter; ``ok`` when none failed."""

    adapter: str
    results: list[GoldenResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every fixture passed (or was updated)."""
        return all(result.status != "fail" for result in self.results)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (for ``--json``)."""
        return {"ok": self.ok, "adapter": self.adapter,
                "results": [result.__dict__ for result in self.results]}

    def to_text(self) -> str:
        """Verdict first, then one line per failing or updated fixture and its problems."""
        counts = {s: sum(r.status == s for r in self.results) for s in ("pass", "fail", "updated")}
        lines = [f"golden ({self.adapter}): {len(self.results)} fixture(s), {counts['pass']} "
                 f"passed, {counts['fail']} failed, {counts['updated']} updated"]
        for result in self.results:
            if result.status != "pass":
                lines.append(f"  {result.status.upper()} {result.fixture} ({result.ref})")
                was = "was: " if result.status == "updated" else ""
                lines += [f"    {was}{problem}" for problem in result.problems]
        return "\n".join(lines)


def load_fixture(path: Path, expected_key: str) -> Fixture:
    """Parse one fixture file; ``ERR_INPUTS`` naming the file and the broken field."""
    try:
        if path.stat().st_size > FIXTURE_LIMIT_BYTES:
            raise InputsError(f"{path}: fixture exceeds {FIXTURE_LIMIT_BYTES} bytes")
        document = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputsError(f"{path}: fixture is not readable JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise InputsError(f"{path}: a fixture must be a JSON object")
    ref, inputs, expected = document.get("ref"), document.get("inputs", {}), document.get("expected")
    if not isinstance(ref, str) or ref.partition("@")[0] != expected_key:
        raise InputsError(f"{path}: ref: must be '{expected_key}@<version>'")
    if not isinstance(inputs, dict):
        raise InputsError(f"{path}: inputs: must be a JSON object")
    if not isinstance(expected, dict) or ("outputs" in expected) == ("error" in expected):
        raise InputsError(f"{path}: expected: must hold either 'outputs' or 'error'")
    outputs, error = expected.get("outputs"), expected.get("error")
    if outputs is not None and not (
            isinstance(outputs, dict)
            and all(isinstance(h, str) and _SHA256.fullmatch(h) for h in outputs.values())):
        raise InputsError(f"{path}: expected.outputs: must map output paths to sha256 hex")
    if "error" in expected and not (isinstance(error, str) and error.startswith("ERR_")):
        raise InputsError(f"{path}: expected.error: must be an ERR_* code")
    return Fixture(path, ref, inputs, outputs, error, document)


def discover_fixtures(root: Path, processor: str | None = None) -> list[Fixture]:
    """Every fixture of every registered processor (or of ``processor``, ``ns/name``)."""
    registry = Registry.load(root)
    found: list[Fixture] = []
    for key, entry in sorted(registry.document.processors.items()):
        if processor and key != processor.partition("@")[0]:
            continue
        for path in sorted((root / entry.path / "fixtures").glob("*.json")):
            found.append(load_fixture(path, key))
    return found


def _replay(fixture: Fixture, adapter: str, root: Path, work: Path
            ) -> tuple[dict[str, str] | None, str | None]:
    try:
        # A fixture meant to fail logs its failure as an expected outcome, not as an error.
        with expecting_failure(fixture.kind == "error"):
            envelope = run_processor(fixture.ref, inputs=fixture.inputs, mode="mock",
                                     adapter=adapter, artifacts_root=work, root=root)
    except ProcessorRuntimeError as err:
        return None, f"{err.code}: {err.message}"
    return {item.path: item.sha256 for item in envelope.outputs}, None


def _compare(fixture: Fixture, actual: dict[str, str] | None, error: str | None) -> list[str]:
    if fixture.kind == "error":
        if error is None:
            return [f"expected {fixture.error}, but the run succeeded"]
        code = error.partition(":")[0]
        return [] if code == fixture.error else [f"expected {fixture.error}, got {error}"]
    if error is not None:
        return [f"run failed: {error}"]
    if fixture.outputs is None:
        return ["no expected hashes yet (placeholder): run `inv test-golden --update`"]
    assert actual is not None
    problems = [f"{path}: missing (expected sha256 {digest[:12]}…)"
                for path, digest in sorted(fixture.outputs.items()) if path not in actual]
    problems += [f"{path}: unexpected output (sha256 {digest[:12]}…)"
                 for path, digest in sorted(actual.items()) if path not in fixture.outputs]
    problems += [f"{path}: sha256 {actual[path][:12]}… != expected {digest[:12]}…"
                 for path, digest in sorted(fixture.outputs.items())
                 if path in actual and actual[path] != digest]
    return problems


def _rewrite(fixture: Fixture, actual: dict[str, str] | None, error: str | None) -> bool:
    """Record the actual result when it is of the fixture's kind; False when the kind differs."""
    if (fixture.kind == "error") != (error is not None):
        return False
    expected: dict[str, Any] = ({"error": error.partition(":")[0]} if error
                                else {"outputs": dict(sorted((actual or {}).items()))})
    document = {**fixture.document, "expected": expected}
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    mode = fixture.path.stat().st_mode & 0o777
    atomic_write(fixture.path, text.encode("utf-8"), confine_to=fixture.path.parent)
    fixture.path.chmod(mode)  # atomic_write's temp file is 0600; a committed file keeps its mode
    return True


def run_golden(root: Path, *, adapter: str = "local", update: bool = False,
               processor: str | None = None) -> GoldenReport:
    """Replay every fixture through ``run_processor`` in ``mock`` mode and compare hashes.

    With ``update``, a mismatching fixture (or a placeholder) is rewritten atomically with the
    actual hashes instead of failing. Raises ``ERR_INPUTS`` for a malformed fixture; run failures
    are reported per fixture, not raised.
    """
    fixtures = discover_fixtures(root, processor)
    report = GoldenReport(adapter=adapter)
    with tempfile.TemporaryDirectory(prefix="golden-") as tmp:
        for fixture in fixtures:
            actual, error = _replay(fixture, adapter, root, Path(tmp))
            problems = _compare(fixture, actual, error)
            name = fixture.path.relative_to(root).as_posix()
            status = "pass"
            if problems and update and _rewrite(fixture, actual, error):
                status = "updated"
            elif problems:
                status = "fail"
            report.results.append(GoldenResult(name, fixture.ref, status, problems))
    return report
