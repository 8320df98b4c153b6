"""Test lanes: one task per lane, ``inv check`` for the static gates, ``inv test`` for all.

A lane that collects zero tests fails (pytest's exit code 5 is treated as a failure).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

ROOT = Path(__file__).resolve().parent.parent
# task suffix -> (folder under tests/, needs the container infrastructure)
LANES: dict[str, tuple[str, bool]] = {
    "unit": ("unit", False),
    "integration": ("integration", False),
    "contracts": ("contracts", False),
    "acceptance-pr": ("acceptance/pr", False),
    "property": ("property", False),
}
NO_TESTS_RC = 5


def _pytest(folder: str, extra: str = "") -> int:
    """Run one lane folder; returns pytest's rc with 5 (no tests) turned into a failure."""
    env = dict(os.environ, TEST_LANE=folder.replace("/", "_"))
    argv = [sys.executable, "-m", "pytest", f"tests/{folder}", "-q", *extra.split()]
    print(f"== lane {folder}: {' '.join(argv[1:])}", file=sys.stderr, flush=True)
    rc = subprocess.run(argv, cwd=ROOT, env=env, check=False).returncode
    if rc == NO_TESTS_RC:
        print(f"== lane {folder}: collected zero tests, which is a failure", file=sys.stderr)
        return 1
    return rc


def _lane_task(suffix: str, folder: str):  # type: ignore[no-untyped-def]
    @task(name=f"test-{suffix}", help={"pytest_args": "extra arguments passed to pytest"})
    def lane(c: Context, pytest_args: str = "") -> None:
        rc = _pytest(folder, pytest_args)
        if rc:
            raise Exit(code=rc)

    lane.__doc__ = f"Run the {folder} lane (tests/{folder}); zero collected tests fails."
    lane.body.__doc__ = lane.__doc__
    return lane


LANE_TASKS = [_lane_task(suffix, folder) for suffix, (folder, _) in LANES.items()]


def _run_gate(name: str, argv: list[str]) -> bool:
    print(f"== check {name}: {' '.join(argv)}", file=sys.stderr, flush=True)
    return subprocess.run(argv, cwd=ROOT, check=False).returncode == 0


@task
def check(c: Context) -> None:
    """Static gates: ruff, mypy (strict on runtime and tasks), import contracts."""
    python = sys.executable
    gates = [
        ("ruff", [python, "-m", "ruff", "check", "."]),
        ("mypy", [python, "-m", "mypy"]),
        ("import-linter", [str(Path(python).with_name("lint-imports")), "pyproject.toml"]),
    ]
    failed = [name for name, argv in gates if not _run_gate(name, argv)]
    if failed:
        raise Exit(f"static gates failed: {', '.join(failed)}", code=1)


@task(help={"pytest_args": "extra arguments passed to pytest in every lane",
            "skip_check": "skip ruff/mypy/import-linter"})
def test(c: Context, pytest_args: str = "", skip_check: bool = False) -> None:
    """Run the static gates and every test lane that can run here; fail on any failure."""
    results: list[tuple[str, str, float]] = []
    if not skip_check:
        started = time.monotonic()
        try:
            check(c)
            results.append(("check", "passed", time.monotonic() - started))
        except Exit:
            results.append(("check", "FAILED", time.monotonic() - started))
    for folder, _needs_infra in LANES.values():
        started = time.monotonic()
        rc = _pytest(folder, pytest_args)
        results.append((folder, "passed" if rc == 0 else "FAILED", time.monotonic() - started))
    from tasks.contracts import check_contracts, test_golden

    for name, step in (("golden", test_golden), ("contracts-compat", check_contracts)):
        started = time.monotonic()
        try:
            step(c)
            results.append((name, "passed", time.monotonic() - started))
        except Exit:
            results.append((name, "FAILED", time.monotonic() - started))
    print("\n== summary", file=sys.stderr)
    for name, status, seconds in results:
        print(f"   {name:<20} {status:<8} {seconds:6.1f}s", file=sys.stderr)
    failed = [name for name, status, _ in results if status != "passed"]
    if failed:
        raise Exit(f"failed: {', '.join(failed)}", code=1)


TASKS = [check, test, *LANE_TASKS]
