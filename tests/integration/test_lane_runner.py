"""The lane runner behind ``inv test``: a lane that breaks is named and its tests still counted.

Each case runs the real runner (``tasks.test.run_lane``: pytest in a subprocess, JUnit XML read
back) over a lane folder in a temporary copy of the project's test set-up.
"""

import shutil
from pathlib import Path

import pytest

from tasks.test import closing_line, run_lane
from tests.helpers import ROOT

LANE_MODULE = "tests/unit/test_refs.py"  # a real unit module: pure and quick


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The project's pytest set-up (pyproject, conftest, helpers) and one real unit module."""
    for rel in ("pyproject.toml", "tests/__init__.py", "tests/conftest.py", "tests/helpers.py",
                "tests/unit/__init__.py", LANE_MODULE):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, tmp_path / rel)
    return tmp_path


def _break(project: Path) -> None:
    # The shape of the pytest >= 9.1 failure: the module errors while being collected.
    (project / "tests/unit/test_broken.py").write_text(
        "import pytest\n\n\n"
        "@pytest.mark.parametrize('n', (i for i in range(3)))\n"
        "def test_n(n):\n    assert n >= 0\n\n\n"
        "raise RuntimeError('this module cannot be collected')\n")


def test_a_healthy_lane_passes_with_its_tests_counted(project):
    outcome = run_lane("unit", root=project)
    assert outcome.status == "passed", outcome.problems
    assert outcome.counts["passed"] > 0
    assert outcome.counts["failed"] == outcome.counts["errors"] == 0


@pytest.mark.parametrize("workers", [0, 2], ids=["in-process", "xdist"])
def test_a_collection_error_fails_the_lane_names_it_and_still_counts_its_other_tests(project,
                                                                                     workers):
    healthy = run_lane("unit", root=project).counts["passed"]
    _break(project)
    outcome = run_lane("unit", root=project, workers=workers)
    assert outcome.status == "FAILED"
    assert outcome.name == "unit"
    assert outcome.counts["passed"] == healthy  # the rest of the lane ran and is counted
    assert outcome.counts["errors"] == 1
    assert any("tests.unit.test_broken" in problem for problem in outcome.problems)
    line = closing_line([outcome])
    assert line.startswith(f"{healthy} passed, 0 skipped, 1 failed")
    assert "unit" in line


def test_every_broken_module_of_a_lane_is_counted(project):
    _break(project)
    shutil.copy2(project / "tests/unit/test_broken.py", project / "tests/unit/test_broken2.py")
    outcome = run_lane("unit", root=project)
    assert outcome.status == "FAILED"
    assert outcome.counts["errors"] == 2
    assert "2 module(s) failed to collect" in " ".join(outcome.problems)


def test_a_lane_that_collects_nothing_fails(project):
    (project / "tests/empty").mkdir()
    (project / "tests/empty/__init__.py").write_text("")
    outcome = run_lane("empty", root=project)
    assert outcome.status == "FAILED"
    assert outcome.problems == ["collected zero tests, which is a failure"]


def test_a_lane_that_leaves_no_report_fails(project):
    outcome = run_lane("unit", "--no-such-pytest-option", root=project)
    assert outcome.status == "FAILED"
    assert outcome.report is not None
    assert not outcome.report.exists()
    assert outcome.problems[0].startswith("no JUnit report")
