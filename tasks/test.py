"""Test lanes: one task per lane, ``inv check`` for the static gates, ``inv test`` for all.

Every lane leaves JUnit XML under ``.state/junit/`` and is judged from it: its passed, skipped and
failed cases (errors included) are counted, a module that cannot be collected fails the lane by
name without hiding the lane's other tests, and zero collected tests or a missing report fail
too. Lanes that allow it run on pytest-xdist workers (:data:`LANES`).

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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from invoke.context import Context
from invoke.exceptions import Exit

from tasks.cli import task

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Lane:
    """One test lane: its folder under tests/, whether it needs the container infrastructure,
    and how many pytest-xdist workers it may use when no docker test runs in it (0 or 1:
    in-process). Docker tests always run in-process: their session fixtures own the one
    engine and registry of the machine."""

    folder: str
    needs_infra: bool
    workers: int
    # xdist's distribution: "load" spreads single tests; "loadscope" keeps a module together,
    # for lanes whose module-scoped fixtures are costly.
    dist: str = "load"


# task suffix -> lane
LANES: dict[str, Lane] = {
    "unit": Lane("unit", False, 0),  # ~10 s in-process; worker start-up would cost more
    "integration": Lane("integration", True, 2),  # holds the requires_docker supply-chain tests
    # in-process: its "nothing left running" checks scan the machine for a fixture's processes,
    # so two workers running the same fixture (local and modal columns, the signal tests) would
    # each see the other's children as leaks
    "contracts": Lane("contracts", False, 0),
    # in-process: measured 56 s alone vs 72 s on two workers (the tutorial module, whose clone is
    # module-scoped, dominates either way)
    "acceptance-pr": Lane("acceptance/pr", False, 0),
    "acceptance-pinned": Lane("acceptance/pinned", True, 0),
    "property": Lane("property", False, 0),
}
NOT_DOCKER = "-m 'not requires_docker'"
NO_TESTS_RC = 5


@dataclass
class LaneOutcome:
    """What one lane run left: its status, its JUnit counts and why it failed (if it did)."""

    name: str
    status: str  # "passed" | "FAILED" | "skipped"
    seconds: float
    counts: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    report: Path | None = None


def junit_dir(root: Path = ROOT) -> Path:
    """Where lanes leave their JUnit XML (the ignored state folder of ``root``)."""
    from tasks.faults import JUNIT_RELATIVE

    return root / JUNIT_RELATIVE


def run_lane(folder: str, extra: str = "", *, root: Path = ROOT, workers: int = 0,
             dist: str = "load") -> LaneOutcome:
    """Run one lane folder of ``root`` and read back what it did from its JUnit XML.

    A module that fails to collect does not stop the lane (``--continue-on-collection-errors``):
    the other tests still run and are counted, and the lane fails naming each such module.
    Zero collected tests (pytest rc 5) and a missing report are failures too.
    """
    from tasks.faults import collection_errors, totals

    lane_id = folder.replace("/", "_")
    report = junit_dir(root) / f"lane-{lane_id}.xml"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.unlink(missing_ok=True)
    # The environment's own bin/ first (as `activate` would): its tools (actionlint, shellcheck)
    # are found whether or not `inv` was started from an activated venv.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = dict(os.environ, TEST_LANE=lane_id, PATH=path)
    parallel = ["-n", str(workers), f"--dist={dist}"] if workers > 1 else []
    argv = [sys.executable, "-m", "pytest", f"tests/{folder}", "-q",
            "--continue-on-collection-errors", "--tb=short", f"--junitxml={report}", *parallel,
            *shlex.split(extra)]
    print(f"== lane {folder}: {' '.join(argv[1:])}", file=sys.stderr, flush=True)
    started = time.monotonic()
    rc = subprocess.run(argv, cwd=root, env=env, check=False).returncode
    seconds = time.monotonic() - started
    counts = totals([report])
    problems = []
    if not report.is_file():
        problems.append(f"no JUnit report: the lane did not run (pytest exit code {rc})")
    elif rc == NO_TESTS_RC:
        problems.append("collected zero tests, which is a failure")
    broken = collection_errors([report])
    if broken:
        problems.append(f"{len(broken)} module(s) failed to collect, their tests did not run: "
                        f"{', '.join(broken)}")
    if rc != 0 and not problems and not (counts["failed"] or counts["errors"]):
        problems.append(f"pytest exit code {rc}")
    status = "passed" if rc == 0 and not problems else "FAILED"
    outcome = LaneOutcome(folder, status, seconds, counts, problems, report)
    print(f"== lane {folder}: {status}, {_count_text(counts)} in {seconds:.1f}s",
          file=sys.stderr, flush=True)
    for problem in problems:
        print(f"== lane {folder}: {problem}", file=sys.stderr, flush=True)
    return outcome


def _count_text(counts: dict[str, int]) -> str:
    """``N passed, N skipped, N failed`` (failed counts failures and errors, collection included)."""
    failed = counts.get("failed", 0) + counts.get("errors", 0)
    return f"{counts.get('passed', 0)} passed, {counts.get('skipped', 0)} skipped, {failed} failed"


def _lane_task(suffix: str, lane: Lane):  # type: ignore[no-untyped-def]
    @task(name=f"test-{suffix}", help={"pytest_args": "extra arguments passed to pytest"})
    def lane_task(c: Context, pytest_args: str = "") -> None:
        hermetic = not lane.needs_infra or "not requires_docker" in pytest_args
        outcome = run_lane(lane.folder, pytest_args, workers=lane.workers if hermetic else 0,
                           dist=lane.dist)
        if outcome.status != "passed":
            raise Exit(f"lane {lane.folder} failed: {'; '.join(outcome.problems) or 'see above'}",
                       code=1)

    lane_task.__doc__ = f"Run the {lane.folder} lane (tests/{lane.folder}); zero collected tests fails."
    lane_task.body.__doc__ = lane_task.__doc__
    return lane_task


LANE_TASKS = [_lane_task(suffix, lane) for suffix, lane in LANES.items()]


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


def _step(name: str, action: Callable[[], None]) -> LaneOutcome:
    """Run a non-pytest step (gates, golden, smoke); a raised ``Exit`` marks it failed."""
    started = time.monotonic()
    try:
        action()
    except Exit:
        return LaneOutcome(name, "FAILED", time.monotonic() - started)
    return LaneOutcome(name, "passed", time.monotonic() - started)


def closing_line(outcomes: list[LaneOutcome]) -> str:
    """One plain line over every lane's pytest cases; names each lane that failed to collect."""
    from tasks.faults import totals

    counts = totals(o.report for o in outcomes if o.report is not None)
    line = _count_text(counts)
    broken = [o.name for o in outcomes if o.report is not None and o.problems]
    if broken:
        line += f" (lanes with collection or run errors: {', '.join(broken)})"
    return line


@task(help={"pytest_args": "extra arguments passed to pytest in every lane",
            "skip_check": "skip ruff/mypy/import-linter"})
def test(c: Context, pytest_args: str = "", skip_check: bool = False) -> None:
    """Run the static gates and every test lane that can run here; fail on any failure."""
    from tasks.faults import HERMETIC_ADAPTERS, failures, matrix_adapters, missing_rows, render, tally

    outcomes: list[LaneOutcome] = []
    for stale in junit_dir().glob("lane-*.xml"):
        stale.unlink()
    if not skip_check:
        outcomes.append(_step("check", lambda: check(c)))
    for lane in LANES.values():
        if not lane.needs_infra:
            outcomes.append(run_lane(lane.folder, pytest_args, workers=lane.workers,
                                     dist=lane.dist))
    with docker_lanes() as available:
        for lane in LANES.values():
            if not lane.needs_infra:
                continue
            if available:
                # in-process: the session fixtures own the one engine and registry
                outcomes.append(run_lane(lane.folder, pytest_args))
            elif lane.folder == "integration":
                outcomes.append(run_lane(lane.folder, f"{pytest_args} {NOT_DOCKER}".strip(),
                                         workers=lane.workers, dist=lane.dist))
            else:
                outcomes.append(LaneOutcome(lane.folder, "skipped", 0.0))
    from tasks.contracts import check_contracts, test_golden
    from tasks.smoke import test_smoke

    steps: tuple[tuple[str, Callable[[], None]], ...] = (
        ("golden", lambda: test_golden(c)), ("contracts-compat", lambda: check_contracts(c)),
        ("smoke (local)", lambda: test_smoke(c)),
        ("smoke (modal fake)", lambda: test_smoke(c, fake_modal=True)))
    outcomes += [_step(name, action) for name, action in steps]
    print("\n== summary", file=sys.stderr)
    for o in outcomes:
        counts = f"  {_count_text(o.counts)}" if o.report is not None else ""
        print(f"   {o.name:<20} {o.status:<8} {o.seconds:6.1f}s{counts}", file=sys.stderr)
        for problem in o.problems:
            print(f"   {'':<20} {problem}", file=sys.stderr)
        for failure in failures([o.report] if o.report is not None else []):
            print(f"   {'':<20} {failure}", file=sys.stderr)
    print("\n== reliability (fault matrix: cases tried / passed per adapter)", file=sys.stderr)
    reports = [o.report for o in outcomes if o.report is not None]
    # local and modal run in the contracts lane; docker only when its lanes ran.
    expected = [*HERMETIC_ADAPTERS, *(["docker"] if available else [])]
    table = tally(reports, adapters=matrix_adapters())
    missing = missing_rows(table, expected)
    print(render(table, missing), file=sys.stderr)
    if missing:
        outcomes.append(LaneOutcome("reliability table", "FAILED", 0.0,
                                    problems=[f"no fault case ran for: {', '.join(missing)}"]))
    print(f"\n{closing_line(outcomes)}", flush=True)
    failed = [o.name for o in outcomes if o.status == "FAILED"]
    if failed:
        raise Exit(f"failed: {', '.join(failed)}", code=1)


TASKS = [check, test, *LANE_TASKS]
