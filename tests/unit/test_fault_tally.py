"""``inv test`` / ``inv test-faults`` read the lanes' JUnit XML: counts, collection errors, the table."""

from tasks.faults import collection_errors, failures, missing_rows, render, tally, totals

REPORT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="m" name="test_fault_case_settles_cleanly[local-hang]"/>
<testcase classname="m" name="test_fault_case_settles_cleanly[local-two_lines]">
  <failure message="boom"/></testcase>
<testcase classname="m" name="test_fault_case_settles_cleanly[modal-hang]"/>
<testcase classname="m" name="test_fault_case_settles_cleanly[docker-hang]">
  <skipped message="no engine"/></testcase>
<testcase classname="m" name="test_something_else[local-x]"/>
</testsuite></testsuites>"""


def test_tally_counts_tried_passed_skipped_and_failed_per_adapter(tmp_path):
    report = tmp_path / "lane.xml"
    report.write_text(REPORT)
    assert tally([report, tmp_path / "missing.xml"]) == {
        "docker": {"tried": 0, "passed": 0, "skipped": 1, "failed": []},
        "local": {"tried": 2, "passed": 1, "skipped": 0, "failed": ["two_lines"]},
        "modal": {"tried": 1, "passed": 1, "skipped": 0, "failed": []},
    }


def test_tally_gives_every_named_adapter_a_row_even_without_cases(tmp_path):
    report = tmp_path / "lane.xml"
    report.write_text('<testsuites><testsuite><testcase name="test_fault_case_settles_cleanly'
                      '[local-hang]"/></testsuite></testsuites>')
    table = tally([report], adapters=["docker", "local", "modal"])
    assert list(table) == ["docker", "local", "modal"]
    assert table["modal"] == {"tried": 0, "passed": 0, "skipped": 0, "failed": []}


def test_every_runtime_adapter_is_a_row():
    from runtime.adapters import adapter_names
    from tasks.faults import matrix_adapters

    assert matrix_adapters() == adapter_names()
    assert {"local", "docker", "modal"} <= set(matrix_adapters())


def test_the_hermetic_matrix_covers_the_adapters_the_task_expects():
    from tasks.faults import HERMETIC_ADAPTERS
    from tests.contracts.test_fault_matrix import ADAPTERS

    assert tuple(ADAPTERS) == HERMETIC_ADAPTERS


def test_a_row_with_no_case_that_ran_is_missing(tmp_path):
    report = tmp_path / "lane.xml"
    report.write_text(REPORT)
    table = tally([report], adapters=["docker", "local", "modal"])
    assert missing_rows(table, ["local", "modal"]) == []
    assert missing_rows(table, ["local", "modal", "docker"]) == ["docker"]  # only skipped there
    assert missing_rows(tally([], adapters=["local"]), ["local"]) == ["local"]


def test_render_prints_one_row_per_adapter_and_a_total(tmp_path):
    report = tmp_path / "lane.xml"
    report.write_text(REPORT)
    lines = render(tally([report])).splitlines()
    assert [line.split()[0] for line in lines] == ["adapter", "docker", "local", "modal", "total"]
    assert lines[-1].split() == ["total", "3", "2"]


def test_render_marks_a_missing_row(tmp_path):
    lines = render(tally([], adapters=["local", "modal"]), missing=["modal"]).splitlines()
    assert "MISSING" in lines[2]
    assert lines[2].split()[0] == "modal"
    assert "MISSING" not in lines[1]


def test_totals_count_every_case_of_every_lane(tmp_path):
    report = tmp_path / "lane-x.xml"
    report.write_text(
        '<testsuites><testsuite>'
        '<testcase name="a"/><testcase name="b"><failure/></testcase>'
        '<testcase name="c"><error/></testcase><testcase name="d"><skipped/></testcase>'
        '</testsuite></testsuites>')
    assert totals([report, tmp_path / "missing.xml"]) == {
        "passed": 1, "failed": 1, "errors": 1, "skipped": 1}


def test_collection_errors_are_counted_and_named(tmp_path):
    report = tmp_path / "lane-x.xml"
    report.write_text(
        '<testsuites><testsuite>'
        '<testcase classname="" name="tests.contracts.test_fault_matrix">'
        '<error message="collection failure">boom</error></testcase>'
        '<testcase classname="" name="tests.contracts.test_other">'
        '<error message="collection failure">boom</error></testcase>'
        '<testcase name="c"><error message="failed on setup with &quot;E&quot;"/></testcase>'
        '<testcase name="a"/>'
        '</testsuite></testsuites>')
    assert collection_errors([report]) == ["tests.contracts.test_fault_matrix",
                                           "tests.contracts.test_other"]
    assert totals([report])["errors"] == 3


def test_failures_name_each_failed_or_erroring_case_with_its_message(tmp_path):
    report = tmp_path / "lane-x.xml"
    report.write_text(
        '<testsuites><testsuite>'
        '<testcase classname="tests.m" name="test_a"><failure message="assert 1 == 2">'
        'long traceback</failure></testcase>'
        '<testcase classname="tests.m" name="test_b"/>'
        '<testcase classname="tests.m" name="test_c"><error message="">'
        'E   PytestUnraisableExceptionWarning:\n   unclosed socket</error></testcase>'
        '<testcase classname="tests.m" name="test_d"><skipped message="no engine"/></testcase>'
        '<testcase classname="tests.m" name="test_e"><failure message="' + "x" * 50 + '"/>'
        '</testcase>'
        '</testsuite></testsuites>')
    assert failures([report, tmp_path / "missing.xml"], limit=20) == [
        "tests.m::test_a: assert 1 == 2",
        "tests.m::test_c: E PytestUnraisableEx …",
        "tests.m::test_e: " + "x" * 20 + " …",
    ]
