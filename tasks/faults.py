"""``inv test-faults``: run the fault matrix and print the reliability figure.

The fault matrix (tests/contracts/test_fault_matrix.py for ``local`` and ``modal`` through its
fake's host-subprocess worker, tests/integration/test_fault_matrix_docker.py for ``docker`` and
for ``modal`` again in the pinned images, the fake's docker worker) has one test per
``<adapter>-<case>``; with the engine up, the ``modal`` row counts both runs. pytest writes
JUnit XML; this module tallies it per adapter: cases tried (run, not skipped) and passed.
``inv test`` prints the same table from its lanes' XML.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from invoke.context import Context
from invoke.exceptions import Exit

from tasks.cli import task

if TYPE_CHECKING:  # the parser loads when a report is read, not with every `inv` call
    import xml.etree.ElementTree as ET

ROOT = Path(__file__).resolve().parent.parent
JUNIT_RELATIVE = Path(".state") / "junit"  # where lanes and the matrix leave JUnit XML
JUNIT_DIR = ROOT / JUNIT_RELATIVE
LOCAL_MATRIX = "tests/contracts/test_fault_matrix.py"
DOCKER_MATRIX = "tests/integration/test_fault_matrix_docker.py"
CASE_TEST = "test_fault_case_settles_cleanly"
# The adapters whose matrix column runs without docker (tests/contracts/test_fault_matrix.py).
HERMETIC_ADAPTERS = ("local", "modal")


def matrix_adapters() -> list[str]:
    """Every adapter the runtime offers: each one is a row of the reliability table."""
    from runtime.adapters import adapter_names

    return adapter_names()


def _cases(reports: Iterable[Path]) -> Iterator[ET.Element]:
    import xml.etree.ElementTree as ET

    for report in reports:
        if report.is_file():
            yield from ET.parse(report).iter("testcase")  # noqa: S314 - pytest's own report


def tally(reports: Iterable[Path], adapters: Iterable[str] = ()) -> dict[str, dict[str, Any]]:
    """Per adapter: ``tried``, ``passed``, ``skipped`` and the ``failed`` case names.

    Every name in ``adapters`` gets a row, with zeros when no case of it was found, so a column
    that silently did not run shows as an empty row instead of disappearing.
    """
    table: dict[str, dict[str, Any]] = {
        adapter: {"tried": 0, "passed": 0, "skipped": 0, "failed": []} for adapter in adapters}
    for case in _cases(reports):
        name = case.get("name", "")
        if not name.startswith(f"{CASE_TEST}[") or not name.endswith("]"):
            continue
        param = name[len(CASE_TEST) + 1:-1]
        adapter, _, scenario = param.partition("-")
        row = table.setdefault(adapter, {"tried": 0, "passed": 0, "skipped": 0, "failed": []})
        outcome = {child.tag for child in case}
        if "skipped" in outcome:
            row["skipped"] += 1
            continue
        row["tried"] += 1
        if outcome & {"failure", "error"}:
            row["failed"].append(scenario)
        else:
            row["passed"] += 1
    return dict(sorted(table.items()))


def missing_rows(table: dict[str, dict[str, Any]], expected: Iterable[str]) -> list[str]:
    """The adapters in ``expected`` for which the table holds no case that ran."""
    return [adapter for adapter in expected if not table.get(adapter, {}).get("tried")]


def totals(reports: Iterable[Path]) -> dict[str, int]:
    """Every test case of the JUnit reports: ``passed``, ``failed``, ``errors``, ``skipped``.

    ``errors`` holds set-up/tear-down errors and collection errors (a module that could not be
    collected is one ``error`` case named after the module; see :func:`collection_errors`).
    """
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    for case in _cases(reports):
        outcome = {child.tag for child in case}
        if "failure" in outcome:
            counts["failed"] += 1
        elif "error" in outcome:
            counts["errors"] += 1
        elif "skipped" in outcome:
            counts["skipped"] += 1
        else:
            counts["passed"] += 1
    return counts


def collection_errors(reports: Iterable[Path]) -> list[str]:
    """The test modules pytest could not collect (none of their tests ran)."""
    return [case.get("name", "") for case in _cases(reports)
            if any(child.tag == "error" and child.get("message") == "collection failure"
                   for child in case)]


def failures(reports: Iterable[Path], limit: int = 300) -> list[str]:
    """Each failed or erroring case as ``classname::name: message`` (the message cut to ``limit``
    characters), so a run whose log is cut short still names what failed and why."""
    found = []
    for case in _cases(reports):
        for child in case:
            if child.tag in ("failure", "error"):
                where = "::".join(part for part in (case.get("classname"), case.get("name"))
                                  if part)
                message = " ".join((child.get("message") or child.text or "").split())
                if len(message) > limit:
                    message = message[:limit] + " …"
                found.append(f"{where}: {message}")
                break
    return found


def render(table: dict[str, dict[str, Any]], missing: Iterable[str] = ()) -> str:
    """The reliability table: one row per adapter (``MISSING`` when it should have run), the total."""
    absent = set(missing)
    lines = [f"{'adapter':<10} {'tried':>6} {'passed':>7} {'skipped':>8}  failed"]
    for adapter, row in table.items():
        failed = ", ".join(row["failed"]) or "-"
        if adapter in absent:
            failed = "MISSING: no case of this adapter ran"
        lines.append(f"{adapter:<10} {row['tried']:>6} {row['passed']:>7} {row['skipped']:>8}"
                     f"  {failed}")
    tried = sum(row["tried"] for row in table.values())
    passed = sum(row["passed"] for row in table.values())
    lines.append(f"{'total':<10} {tried:>6} {passed:>7}")
    return "\n".join(lines)


def _run_matrix(files: list[str], report: Path) -> int:
    report.parent.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "pytest", *files, "-q", f"--junitxml={report}"]
    print(f"== faults: {' '.join(argv[1:])}", file=sys.stderr, flush=True)
    env = dict(os.environ, TEST_LANE="faults")
    # pytest's report goes to stderr: stdout is the table (or the one --json line).
    return subprocess.run(argv, cwd=ROOT, env=env, stdout=sys.stderr, check=False).returncode


@task(name="test-faults", help={
    "json": "print one JSON line (per adapter: tried, passed, skipped, failed) on stdout",
    "docker": "include the docker column (needs the engine; --no-docker skips it)",
})
def test_faults(c: Context, json: bool = False, docker: bool = True) -> None:
    """Run the fault matrix on every adapter here and print cases tried/passed per adapter."""
    import json as jsonlib

    from tasks.test import docker_lanes

    reports = [JUNIT_DIR / "faults-hermetic.xml", JUNIT_DIR / "faults-docker.xml"]
    for stale in reports:
        stale.unlink(missing_ok=True)
    rcs = [_run_matrix([LOCAL_MATRIX], reports[0])]
    expected = list(HERMETIC_ADAPTERS)
    if docker:
        with docker_lanes() as available:
            if available:
                rcs.append(_run_matrix([DOCKER_MATRIX], reports[1]))
                expected.append("docker")
    table = tally(reports, adapters=matrix_adapters())
    missing = missing_rows(table, expected)
    if json:
        sys.stdout.write(jsonlib.dumps({"adapters": table, "missing": missing},
                                       separators=(",", ":")) + "\n")
    else:
        sys.stdout.write(render(table, missing) + "\n")
    if any(rcs) or missing or any(row["failed"] for row in table.values()):
        raise Exit(code=1)


TASKS = [test_faults]
