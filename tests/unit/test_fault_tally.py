"""``inv test-faults`` tallies the fault matrix's JUnit XML per adapter."""

from tasks.faults import render, tally

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


def test_render_prints_one_row_per_adapter_and_a_total(tmp_path):
    report = tmp_path / "lane.xml"
    report.write_text(REPORT)
    lines = render(tally([report])).splitlines()
    assert [line.split()[0] for line in lines] == ["adapter", "docker", "local", "modal", "total"]
    assert lines[-1].split() == ["total", "3", "2"]


def test_totals_count_every_case_of_every_lane(tmp_path):
    from tasks.faults import totals

    report = tmp_path / "lane-x.xml"
    report.write_text(
        '<testsuites><testsuite>'
        '<testcase name="a"/><testcase name="b"><failure/></testcase>'
        '<testcase name="c"><error/></testcase><testcase name="d"><skipped/></testcase>'
        '</testsuite></testsuites>')
    assert totals([report, tmp_path / "missing.xml"]) == {"passed": 1, "failed": 2, "skipped": 1}
