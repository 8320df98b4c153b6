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


def test_interleave_alternates_ours_and_floor():
    calls: list[str] = []
    ours, floor = interleave(lambda: calls.append("o") or len(calls),
                             lambda: calls.append("f") or len(calls), 3)
    assert calls == ["o", "f", "o", "f", "o", "f"]
    assert (ours, floor) == ([1, 3, 5], [2, 4, 6])


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
