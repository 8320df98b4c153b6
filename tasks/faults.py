"""``inv test-faults``: run the fault matrix and print the reliability figure.

The fault matrix (tests/contracts/test_fault_matrix.py for ``local`` and ``modal`` through its
fake, tests/integration/test_fault_matrix_docker.py for ``docker``) has one test per
``<adapter>-<case>``. pytest writes JUnit XML; this module tallies it per adapter: cases tried
(run, not skipped) and passed. ``inv test`` prints the same table from its lanes' XML.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from invoke.context import Context
from invoke.exceptions import Exit

from tasks.cli import task

ROOT = Path(__file__).resolve().parent.parent
JUNIT_DIR = ROOT / ".state" / "junit"
LOCAL_MATRIX = "tests/contracts/test_fault_matrix.py"
DOCKER_MATRIX = "tests/integration/test_fault_matrix_docker.py"
CASE_TEST = "test_fault_case_settles_cleanly"


def tally(reports: Iterable[Path]) -> dict[str, dict[str, Any]]:
    """Per adapter: ``tried``, ``passed``, ``skipped`` and the ``failed`` case names."""
    table: dict[str, dict[str, Any]] = {}
    for report in reports:
        if not report.is_file():
            continue
        for case in ET.parse(report).iter("testcase"):  # noqa: S314 - pytest's own report
            name = case.get("name", "")
            if not name.startswith(f"{CASE_TEST}[") or not name.endswith("]"):
                continue
            param = name[len(CASE_TEST) + 1:-1]
            adapter, _, scenario = param.partition("-")
            row = table.setdefault(adapter, {"tried": 0, "passed": 0, "skipped": 0,
                                             "failed": []})
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


def totals(reports: Iterable[Path]) -> dict[str, int]:
    """All test cases of the lanes' JUnit reports: ``passed``, ``failed`` (incl. errors), ``skipped``."""
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    for report in reports:
        if not report.is_file():
            continue
        for case in ET.parse(report).iter("testcase"):  # noqa: S314 - pytest's own report
            outcome = {child.tag for child in case}
            if outcome & {"failure", "error"}:
                counts["failed"] += 1
            elif "skipped" in outcome:
                counts["skipped"] += 1
            else:
                counts["passed"] += 1
    return counts


def render(table: dict[str, dict[str, Any]]) -> str:
    """The reliability table: one row per adapter, then the total."""
    lines = [f"{'adapter':<10} {'tried':>6} {'passed':>7} {'skipped':>8}  failed"]
    for adapter, row in table.items():
        failed = ", ".join(row["failed"]) or "-"
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
    if docker:
        with docker_lanes() as available:
            if available:
                rcs.append(_run_matrix([DOCKER_MATRIX], reports[1]))
    table = tally(reports)
    if json:
        sys.stdout.write(jsonlib.dumps({"adapters": table}, separators=(",", ":")) + "\n")
    else:
        sys.stdout.write(render(table) + "\n")
    if any(rcs) or any(row["failed"] for row in table.values()):
        raise Exit(code=1)


TASKS = [test_faults]
