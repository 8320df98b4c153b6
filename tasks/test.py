"""Test lanes: one task per lane, ``inv check`` for the static gates, ``inv test`` for all.

A lane that collects zero tests fails (pytest's exit code 5 is treated as a failure).
``inv test`` brings the docker lanes' infrastructure up first (engine, registry, base image) and
stops afterwards only what it started. With ``CI=true`` the docker lanes are mandatory; without
CI, missing docker binaries skip them with a loud message.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from invoke.context import Context
from invoke.exceptions import Exit

from tasks.cli import task

ROOT = Path(__file__).resolve().parent.parent
# task suffix -> (folder under tests/, needs the container infrastructure)
LANES: dict[str, tuple[str, bool]] = {
    "unit": ("unit", False),
    "integration": ("integration", True),  # holds the requires_docker supply-chain tests
    "contracts": ("contracts", False),
    "acceptance-pr": ("acceptance/pr", False),
    "acceptance-pinned": ("acceptance/pinned", True),
    "property": ("property", False),
}
NOT_DOCKER = "-m 'not requires_docker'"
NO_TESTS_RC = 5


def _pytest(folder: str, extra: str = "") -> int:
    """Run one lane folder; returns pytest's rc with 5 (no tests) turned into a failure."""
    # The environment's own bin/ first (as `activate` would): its tools (actionlint, shellcheck)
    # are found whether or not `inv` was started from an activated venv.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = dict(os.environ, TEST_LANE=folder.replace("/", "_"), PATH=path)
    argv = [sys.executable, "-m", "pytest", f"tests/{folder}", "-q", *shlex.split(extra)]
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


def _lock_gate() -> bool:
    """requirements.lock agrees with pyproject.toml (what set-up installs is what CI tested)."""
    from tasks.lock import LOCK_NAME, lock_problems

    print(f"== check lock: {LOCK_NAME} against pyproject.toml", file=sys.stderr, flush=True)
    problems = lock_problems(ROOT)
    for problem in problems:
        print(f"   {problem}", file=sys.stderr)
    return not problems


@task
def check(c: Context) -> None:
    """Static gates: ruff, mypy (strict on runtime and tasks), import contracts, the lock."""
    python = sys.executable
    gates = [
        ("ruff", [python, "-m", "ruff", "check", "."]),
        ("mypy", [python, "-m", "mypy"]),
        ("import-linter", [str(Path(python).with_name("lint-imports")), "pyproject.toml"]),
    ]
    failed = [name for name, argv in gates if not _run_gate(name, argv)]
    if not _lock_gate():
        failed.append("lock")
    if failed:
        raise Exit(f"static gates failed: {', '.join(failed)}", code=1)


def _loud(message: str) -> None:
    bar = "!" * 78
    print(f"\n{bar}\n!! {message}\n{bar}\n", file=sys.stderr, flush=True)


@contextlib.contextmanager
def docker_lanes() -> Iterator[bool]:
    """Bring up engine + registry + base image for the docker lanes; yields whether they run.

    Stops only what it started. With ``CI=true`` a missing or broken engine fails the run.
    """
    from runtime.devinfra import services as infra
    from runtime.guards import ci_enabled

    try:
        for binary in ("dockerd", "docker-registry", "mmdebstrap"):
            infra.require_binary(binary)
        before = infra.status()
        already_up = before.engine_reachable and before.registry_healthy
        print("== infra: up + base image", file=sys.stderr, flush=True)
        infra.up()
    except infra.InfraError as exc:
        if ci_enabled():
            raise Exit(f"CI=true needs the docker lanes, but: {exc}", code=1) from exc
        _loud(f"docker lanes SKIPPED (integration runs without requires_docker): {exc}")
        yield False
        return
    try:
        from runtime.images.base import build_base_image
        from runtime.images.engine import engine_session

        with engine_session() as client:
            build_base_image(client=client)
        yield True
    finally:
        if not already_up:
            print("== infra: down (stopping what inv test started)", file=sys.stderr, flush=True)
            infra.down()


def _timed_lane(folder: str, pytest_args: str) -> tuple[str, str, float]:
    started = time.monotonic()
    rc = _pytest(folder, pytest_args.replace("{lane}", folder.replace("/", "_")))
    return folder, "passed" if rc == 0 else "FAILED", time.monotonic() - started


@task(help={"pytest_args": "extra arguments passed to pytest in every lane",
            "skip_check": "skip ruff/mypy/import-linter"})
def test(c: Context, pytest_args: str = "", skip_check: bool = False) -> None:
    """Run the static gates and every test lane that can run here; fail on any failure."""
    from tasks.faults import JUNIT_DIR, render, tally, totals

    results: list[tuple[str, str, float]] = []
    for stale in JUNIT_DIR.glob("lane-*.xml"):
        stale.unlink()
    # Each lane leaves JUnit XML; the fault matrix's cases are tallied from it at the end.
    pytest_args = f"{pytest_args} --junitxml={JUNIT_DIR}/lane-{{lane}}.xml".strip()
    if not skip_check:
        started = time.monotonic()
        try:
            check(c)
            results.append(("check", "passed", time.monotonic() - started))
        except Exit:
            results.append(("check", "FAILED", time.monotonic() - started))
    for folder, needs_infra in LANES.values():
        if not needs_infra:
            results.append(_timed_lane(folder, pytest_args))
    with docker_lanes() as available:
        for folder, needs_infra in LANES.values():
            if not needs_infra:
                continue
            if available:
                results.append(_timed_lane(folder, pytest_args))
            elif folder == "integration":
                results.append(_timed_lane(folder, f"{pytest_args} {NOT_DOCKER}".strip()))
            else:
                results.append((folder, "skipped", 0.0))
    from tasks.contracts import check_contracts, test_golden
    from tasks.smoke import test_smoke

    steps = (("golden", test_golden), ("contracts-compat", check_contracts),
             ("smoke (local)", test_smoke),
             ("smoke (modal fake)", lambda ctx: test_smoke(ctx, fake_modal=True)))
    for name, step in steps:
        started = time.monotonic()
        try:
            step(c)
            results.append((name, "passed", time.monotonic() - started))
        except Exit:
            results.append((name, "FAILED", time.monotonic() - started))
    print("\n== summary", file=sys.stderr)
    for name, status, seconds in results:
        print(f"   {name:<20} {status:<8} {seconds:6.1f}s", file=sys.stderr)
    print("\n== reliability (fault matrix: cases tried / passed per adapter)", file=sys.stderr)
    reports = sorted(JUNIT_DIR.glob("lane-*.xml"))
    print(render(tally(reports)), file=sys.stderr)
    counts = totals(reports)
    # One plain closing line over every lane's pytest cases, for people and CI log readers.
    print(f"\n{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped",
          flush=True)
    failed = [name for name, status, _ in results if status == "FAILED"]
    if failed:
        raise Exit(f"failed: {', '.join(failed)}", code=1)


TASKS = [check, test, *LANE_TASKS]
