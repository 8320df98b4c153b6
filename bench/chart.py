"""The bench report as a PNG: ours vs floor per scenario (with spread), and each ratio over time.

Left: every row with samples on both sides, normalised to the floor's median (floor = 1), the bar
at each side's median and the whisker from its min to its max. Right: each scenario's ratio in
every report recorded in ``evidence/bench/`` (oldest first), with its target as a dashed line.
Needs matplotlib (the optional ``bench`` extra); without it :func:`write_chart` says so and the
bench goes on.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.stats import spread

MISSING = ("chart skipped: matplotlib is not installed (install the optional extra: "
           "pip install 'processor-runtime[bench]')")


def comparable(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with numeric samples on both sides and a positive floor, normalised to the floor's
    median: ``label``, and ``ours``/``floor`` as (min, median, max) over that median."""
    found = []
    for row in rows:
        ours, floor = row.get("samples", {}).get("ours"), row.get("samples", {}).get("floor")
        if not ours or not floor or not all(isinstance(x, int | float) for x in [*ours, *floor]):
            continue
        base = spread(floor)[1]
        if base <= 0:
            continue
        found.append({"label": f"{row['scenario']}\n{row['metric']}",
                      "ours": tuple(x / base for x in spread(ours)),
                      "floor": tuple(x / base for x in spread(floor))})
    return found


def history(folder: Path) -> dict[str, list[tuple[str, float, float | None]]]:
    """Per ``scenario / metric``: (report stamp, ratio, target) of every recorded report, in
    stamp order; unreadable files are skipped."""
    series: dict[str, list[tuple[str, float, float | None]]] = {}
    for path in sorted(folder.glob("bench-*.json")):
        try:
            report = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            continue
        stamp = str(report.get("started_utc", path.stem)) + ("q" if report.get("quick") else "")
        for row in report.get("rows", []):
            if row.get("checked") == "ratio" and isinstance(row.get("ratio"), int | float):
                key = f"{row['scenario']} / {row['metric']}"
                series.setdefault(key, []).append((stamp, float(row["ratio"]), row.get("target")))
    return series


def write_chart(report: dict[str, Any], path: Path, folder: Path) -> str:
    """Draw ``report`` (and the history in ``folder``) into the PNG ``path``; returns the path,
    or :data:`MISSING` when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return MISSING
    rows = comparable(report.get("rows", []))
    series = history(folder)
    figure, (left, right) = plt.subplots(1, 2, figsize=(14, max(4.0, 1.1 * len(rows) + 2)))
    for index, row in enumerate(rows):
        for offset, side, colour in ((-0.18, "ours", "tab:blue"), (0.18, "floor", "tab:gray")):
            low, mid, high = row[side]
            left.barh(index + offset, mid, height=0.34, color=colour,
                      label=side if index == 0 else None)
            left.errorbar(mid, index + offset, xerr=[[mid - low], [high - mid]], fmt="none",
                          ecolor="black", capsize=3)
    left.set_yticks(range(len(rows)), [row["label"] for row in rows], fontsize=8)
    left.axvline(1.0, color="black", linewidth=0.8)
    left.set_xlabel("median (bar) and min..max (whisker), relative to the floor's median")
    left.set_title(f"ours vs floor, {report.get('started_utc', '')}"
                   f"{' (quick)' if report.get('quick') else ''}")
    if rows:
        left.legend(loc="lower right")
    stamps = sorted({stamp for points in series.values() for stamp, _, _ in points})
    position = {stamp: index for index, stamp in enumerate(stamps)}
    for key, points in sorted(series.items()):
        line = right.plot([position[stamp] for stamp, _, _ in points],
                          [ratio for _, ratio, _ in points], marker="o", label=key)[0]
        target = points[-1][2]
        if isinstance(target, int | float):
            right.axhline(target, color=line.get_color(), linestyle="--", linewidth=0.8)
    right.set_xticks(range(len(stamps)), [stamp[4:13] for stamp in stamps], rotation=45,
                     fontsize=7)
    right.set_xlabel("recorded report (MMDDTHHMM, oldest first; evidence/bench/)")
    right.set_ylabel("ratio ours / floor (dashed: target)")
    right.set_title("each scenario's ratio across the recorded runs")
    if series:
        right.legend(fontsize=7)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=100)
    plt.close(figure)
    return str(path)
