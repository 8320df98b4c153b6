"""The harness's arithmetic: medians, ratios, verdicts and the interleaving order.

Kept free of timing and I/O so a unit test can check it exactly.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from typing import Literal, TypeVar

T = TypeVar("T")
Direction = Literal["max", "min"]


def median(samples: Sequence[float]) -> float:
    """The median of ``samples`` (mean of the middle two for an even count); ValueError if empty."""
    if not samples:
        raise ValueError("median of no samples")
    return float(statistics.median(samples))


def ratio(ours: float, floor: float) -> float:
    """``ours / floor``; ValueError when the floor is not positive (a ratio would be meaningless)."""
    if floor <= 0:
        raise ValueError(f"floor must be positive, got {floor}")
    return ours / floor


def verdict(value: float, target: float, direction: Direction) -> str:
    """``pass`` when ``value`` meets ``target``: at most it (``max``) or at least it (``min``)."""
    if direction == "max":
        return "pass" if value <= target else "miss"
    if direction == "min":
        return "pass" if value >= target else "miss"
    raise ValueError(f"direction must be 'max' or 'min', got {direction!r}")


def interleave(ours: Callable[[], T], floor: Callable[[], T], repetitions: int
               ) -> tuple[list[T], list[T]]:
    """Call ``ours`` and ``floor`` ``repetitions`` times each, in pairs whose order alternates
    (ours, floor, floor, ours, ours, floor …); return both sample lists.

    Pairing spreads drift in machine speed over both sides instead of one; alternating who goes
    first cancels a steady trend too. With a fixed order the second side of every pair gains
    from a machine speeding up (and loses from one slowing down): ratios moved by several per
    cent between runs here for that reason alone.
    """
    if repetitions < 1:
        raise ValueError(f"repetitions must be >= 1, got {repetitions}")
    ours_samples: list[T] = []
    floor_samples: list[T] = []
    for number in range(repetitions):
        if number % 2:
            floor_samples.append(floor())
            ours_samples.append(ours())
        else:
            ours_samples.append(ours())
            floor_samples.append(floor())
    return ours_samples, floor_samples


def spread(samples: Sequence[float]) -> tuple[float, float, float]:
    """(min, median, max) of ``samples``; ValueError if empty."""
    return float(min(samples)), median(samples), float(max(samples))


def misses(statuses: Sequence[str]) -> int:
    """How many rows missed their target (``miss``); skipped and n/a rows are not misses."""
    return sum(1 for status in statuses if status == "miss")
