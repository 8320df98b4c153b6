"""The bench harness's arithmetic (medians, ratios, verdicts, interleaving); no timings."""

import pytest

from bench.scenarios import Row
from bench.stats import interleave, median, ratio, verdict


def test_median_of_odd_count_is_the_middle_sample():
    assert median([5.0, 1.0, 3.0]) == 3.0


def test_median_of_even_count_is_the_mean_of_the_middle_two():
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5


def test_median_of_no_samples_is_a_value_error():
    with pytest.raises(ValueError, match="no samples"):
        median([])


def test_ratio_divides_ours_by_floor():
    assert ratio(0.3, 0.2) == pytest.approx(1.5)


@pytest.mark.parametrize("floor", [0.0, -1.0])
def test_ratio_rejects_a_floor_that_is_not_positive(floor):
    with pytest.raises(ValueError, match="floor must be positive"):
        ratio(1.0, floor)


@pytest.mark.parametrize(("value", "target", "direction", "expected"), [
    (1.3, 1.3, "max", "pass"), (1.31, 1.3, "max", "miss"),
    (0.7, 0.7, "min", "pass"), (0.69, 0.7, "min", "miss"),
])
def test_verdict_applies_the_bound_inclusively_in_its_direction(value, target, direction, expected):
    assert verdict(value, target, direction) == expected


def test_verdict_rejects_an_unknown_direction():
    with pytest.raises(ValueError, match="direction"):
        verdict(1.0, 1.0, "both")  # type: ignore[arg-type]


def test_interleave_pairs_ours_and_floor_and_alternates_who_goes_first():
    calls: list[str] = []
    ours, floor = interleave(lambda: calls.append("o") or len(calls),
                             lambda: calls.append("f") or len(calls), 4)
    assert calls == ["o", "f", "f", "o", "o", "f", "f", "o"]
    assert (ours, floor) == ([1, 4, 5, 8], [2, 3, 6, 7])


def test_interleave_cancels_a_steady_trend():
    # A machine getting faster by one unit per call: with a fixed order the floor, always
    # second, would look faster; with the order alternating the two medians are equal.
    clock = iter(range(100, 0, -1))
    ours, floor = interleave(lambda: next(clock), lambda: next(clock), 4)
    assert median(ours) == median(floor)


def test_interleave_rejects_zero_repetitions():
    with pytest.raises(ValueError, match="repetitions"):
        interleave(lambda: 0, lambda: 0, 0)


def test_row_ratio_and_status_come_from_the_medians():
    row = Row("cold CLI", "wall", "s", 1.3, ours=0.26, floor=0.2).settle()
    assert row.ratio == pytest.approx(1.3)
    assert row.status == "pass"


def test_row_checked_on_ours_compares_the_absolute_value_not_the_ratio():
    row = Row("flood", "rss", "MiB", 64, "max", "ours", ours=70.0, floor=10.0).settle()
    assert row.status == "miss"


def test_row_keeps_a_skip_status():
    row = Row("docker", "wall", "s", 1.2, status="skipped: no engine").settle()
    assert row.status == "skipped: no engine"
    assert row.ratio is None


def test_spread_is_min_median_max():
    from bench.stats import spread

    assert spread([3.0, 1.0, 2.0, 10.0]) == (1.0, 2.5, 10.0)


def test_misses_count_only_missed_targets():
    from bench.stats import misses

    assert misses(["pass", "miss", "skipped: no docker", "n/a", "miss"]) == 2


def test_the_table_shows_each_side_s_spread_and_count():
    from bench.harness import format_table

    row = Row("cold CLI", "wall", "s", 1.3, ours=0.3, floor=0.2,
              samples={"ours": [0.2, 0.3, 0.5], "floor": [0.1, 0.2, 0.4]}).settle()
    table = format_table([row])
    assert "0.200 / 0.300 / 0.500" in table
    assert "0.100 / 0.200 / 0.400" in table
    assert table.splitlines()[-1].rstrip().endswith("3")


def test_chart_rows_are_normalised_to_the_floor_median():
    from bench.chart import comparable

    rows = [{"scenario": "s", "metric": "m", "samples": {"ours": [2.0, 3.0, 4.0],
                                                          "floor": [1.0, 2.0, 3.0]}},
            {"scenario": "rss", "metric": "peak", "samples": {"rss_mib": [1.0]}}]
    assert comparable(rows) == [{"label": "s\nm", "ours": (1.0, 1.5, 2.0),
                                 "floor": (0.5, 1.0, 1.5)}]


def test_chart_history_reads_every_recorded_ratio_in_order(tmp_path):
    import json

    from bench.chart import history

    for stamp, value in (("20260101T000000Z", 2.0), ("20260102T000000Z", 1.2)):
        (tmp_path / f"bench-{stamp}.json").write_text(json.dumps({
            "started_utc": stamp, "quick": False, "rows": [
                {"scenario": "cold CLI", "metric": "wall", "checked": "ratio", "ratio": value,
                 "target": 1.3}]}))
    (tmp_path / "bench-broken.json").write_text("{")
    assert history(tmp_path) == {"cold CLI / wall": [("20260101T000000Z", 2.0, 1.3),
                                                     ("20260102T000000Z", 1.2, 1.3)]}


def test_the_chart_is_a_png_or_a_clear_message(tmp_path):
    from bench.chart import MISSING, write_chart

    report = {"started_utc": "20260101T000000Z", "rows": [
        {"scenario": "s", "metric": "m", "checked": "ratio", "ratio": 1.5, "target": 1.3,
         "samples": {"ours": [2.0, 3.0], "floor": [1.0, 2.0]}}]}
    out = write_chart(report, tmp_path / "chart.png", tmp_path)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert out == MISSING
        assert "processor-runtime[bench]" in out
        return
    assert out == str(tmp_path / "chart.png")
    assert (tmp_path / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_without_matplotlib_the_chart_says_how_to_get_it(tmp_path, monkeypatch):
    import sys

    from bench.chart import MISSING, write_chart

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert write_chart({"rows": []}, tmp_path / "c.png", tmp_path) == MISSING
    assert not (tmp_path / "c.png").exists()


def test_the_account_replaces_only_the_text_between_its_markers():
    from bench.account import END, START, replace_between

    text = f"head\n{START}\nold table\n{END}\ntail\n"
    assert replace_between(text, "new table\n") == f"head\n{START}\nnew table\n{END}\ntail\n"
    with pytest.raises(ValueError, match="markers"):
        replace_between("no markers here", "x")


def test_the_bench_readme_carries_the_account_markers():
    from bench.account import END, README, START

    text = README.read_text("utf-8")
    assert 0 <= text.find(START) < text.find(END)


def test_the_warm_account_states_the_extra_cpu_and_the_bound_it_puts_on_busy_pools():
    """The extra is the median of paired differences: a drift between blocks cancels."""
    from bench.account import warm_lines

    found = {"calls": 10, "shares": [["runtime/runner.py:1 run", 0.5, 0.1]],
             "cpu": {"ours": {"user": [3.0, 3.0, 3.0], "system": [1.0, 1.0, 1.0],
                              "child_user": [30.0, 50.0, 40.0], "child_system": [8.0, 8.0, 8.0]},
                     "bare": {"user": [1.0, 1.0, 1.0], "system": [0.0, 0.0, 0.0],
                              "child_user": [30.0, 50.0, 40.0], "child_system": [8.0, 8.0, 8.0]}}}
    text = "\n".join(warm_lines(found))
    assert "| this process, user | 3.0 ms | 1.0 ms | 2.0 ms |" in text
    assert "≈ 1.061x" in text  # 1 + 3 / (48 + 1)
    assert "| children (the processor), user | 40.0 ms | 40.0 ms | 0.0 ms |" in text
    assert "| `runtime/runner.py:1 run` | 50.0 % | 2.0 ms | 10.0 % |" in text


def test_the_fanout_account_splits_the_extra_core_time_into_parent_children_and_idle():
    """Per-run figures are a round's seconds over its runs; the extra is paired round by round."""
    from bench.account import fanout_lines

    found = {"runs": 100, "rounds": 2, "cores": 2,
             "seconds": {"ours": {"wall": [2.2, 2.4], "parent": [0.3, 0.3],
                                  "children": [3.6, 4.0], "idle": [0.5, 0.5]},
                         "bare": {"wall": [2.0, 2.2], "parent": [0.1, 0.1],
                                  "children": [3.5, 3.9], "idle": [0.4, 0.4]}}}
    text = "\n".join(fanout_lines(found))
    assert "| wall (the pool's, divided by its runs) | 23.0 ms | 21.0 ms | 2.0 ms |" in text
    assert "| this process's CPU | 3.0 ms | 1.0 ms | 2.0 ms |" in text
    assert "| children's CPU (the processor) | 38.0 ms | 37.0 ms | 1.0 ms |" in text
    assert "| idle core time (2 cores x wall - both CPUs) | 5.0 ms | 4.0 ms | 1.0 ms |" in text
    assert "**1.095x**" in text  # the mean of 2.2 / 2.0 and 2.4 / 2.2, the median of two
    assert "4.0 ms a run" in text  # 2 cores times 2.0 ms of extra wall


def test_the_pool_choice_gives_each_pool_its_wall_per_run_and_its_paired_ratio_to_bare():
    """Each pool's ratio is the median of its rounds' ratios to the bare round beside it."""
    from bench.account import pool_lines

    found = {"runs": 100, "rounds": 3, "cores": 2,
             "seconds": {"threads": [2.2, 2.1, 2.6], "processes": [2.0, 2.3, 2.5],
                         "bare": [2.0, 2.0, 2.5]}}
    text = "\n".join(pool_lines(found))
    assert "| thread pool | 22.0 ms | 1.050x |" in text  # ratios 1.10, 1.05, 1.04
    assert "| process pool (forkserver) | 23.0 ms | 1.000x |" in text  # 1.00, 1.15, 1.00
    assert "| bare runs, thread pool | 20.0 ms | 1.000x |" in text
    assert "3 rounds of 100" in text
