"""Run the scenarios, print one table, write the same figures as JSON under ``evidence/bench/``."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

from bench.measure import ROOT
from bench.scenarios import FULL, QUICK, SCENARIOS, Row, run_scenario
from bench.stats import misses, spread
from runtime.logging import progress

OUT_DIR = ROOT / "evidence" / "bench"


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"


def format_target(row: Row) -> str:
    """``≤ 1.3x`` for ratios, ``≤ 64 MiB`` for absolute bounds."""
    if row.target is None:
        return "-"
    sign = "≤" if row.direction == "max" else "≥"
    return f"{sign} {row.target:g}x" if row.checked == "ratio" else f"{sign} {row.target:g} {row.unit}"


def format_spread(samples: Sequence[float] | None) -> str:
    """``min / median / max`` of one side's samples, ``-`` without numeric samples."""
    if not samples or not all(isinstance(x, int | float) for x in samples):
        return "-"
    low, mid, high = spread(samples)
    return f"{_fmt(low)} / {_fmt(mid)} / {_fmt(high)}"


def format_table(rows: Sequence[Row]) -> str:
    """The one table: scenario, metric, ours, floor, ratio, target, result, then each side's
    spread (min / median / max of its samples) and the sample count."""
    header = ("scenario", "metric", "ours", "floor", "ratio", "target", "result",
              "ours min / med / max", "floor min / med / max", "n")
    lines = [(r.scenario, r.metric, f"{_fmt(r.ours)} {r.unit}".strip(),
              f"{_fmt(r.floor)} {r.unit}".strip(), f"{r.ratio:.2f}x" if r.ratio else "-",
              format_target(r), r.status, format_spread(r.samples.get("ours")),
              format_spread(r.samples.get("floor")), str(len(r.samples.get("ours") or [])))
             for r in rows]
    widths = [max(len(str(line[i])) for line in [header, *lines]) for i in range(len(header))]
    out = [" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)),
           "-+-".join("-" * w for w in widths)]
    out += [" | ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    return "\n".join(out)


def _machine() -> dict[str, Any]:
    """Read when the run starts: the commit measured is the one checked out then (``+dirty``
    when tracked files differ from it), not whatever HEAD is when a long run ends."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              check=False).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD")
    if commit and git("status", "--porcelain", "--untracked-files=no"):
        commit += "+dirty"
    return {"nproc": os.cpu_count(), "python": platform.python_version(),
            "implementation": platform.python_implementation(), "platform": platform.platform(),
            "commit": commit or None}


def run_bench(quick: bool = False, only: Sequence[str] = ()) -> dict[str, Any]:
    """Run the selected scenarios (all by default) and write ``evidence/bench/<stamp>.json``.

    Returns the report: machine, load averages before and after, sizes, rows, and the JSON path.
    ValueError for an unknown scenario name.
    """
    unknown = [name for name in only if name not in SCENARIOS]
    if unknown:
        raise ValueError(f"unknown scenario(s) {', '.join(unknown)} (choose from {', '.join(SCENARIOS)})")
    sizes = QUICK if quick else FULL
    started = time.monotonic()
    started_utc = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    machine = _machine()
    load_before = os.getloadavg()
    rows: list[Row] = []
    names = list(only or SCENARIOS)
    for index, name in enumerate(names, 1):
        # Progress is a log event: rendered on a terminal, NDJSON with --json (never stdout).
        progress("bench.scenario.start", scenario=name, index=index, total=len(names))
        t0 = time.monotonic()
        rows.extend(run_scenario(name, sizes))
        progress("bench.scenario.complete", scenario=name, index=index, total=len(names),
                 elapsed_s=round(time.monotonic() - t0, 1))
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    report = {
        "started_utc": started_utc, "finished_utc": stamp, "quick": quick, "machine": machine,
        "loadavg_before": list(load_before), "loadavg_after": list(os.getloadavg()),
        "sizes": vars(sizes), "elapsed_s": round(time.monotonic() - started, 1),
        "rows": [row.to_dict() for row in rows],
    }
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / f"bench-{stamp}{'-quick' if quick else ''}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    tmp.replace(path)
    report["json_path"] = str(path)
    from bench.chart import write_chart

    report["chart"] = write_chart(report, path.with_suffix(".png"), OUT_DIR)
    report["table"] = format_table(rows)
    report["misses"] = misses([row.status for row in rows])
    return report


def summary(report: dict[str, Any]) -> str:
    """The table plus where the JSON went and the load it ran under."""
    machine = report["machine"]
    before, after = (", ".join(f"{x:.2f}" for x in report[key])
                     for key in ("loadavg_before", "loadavg_after"))
    return (f"{report['table']}\n\n{machine['nproc']} cores, Python {machine['python']}, "
            f"load {before} before, {after} after; {report['elapsed_s']}s; "
            f"figures in {report['json_path']}; chart: {report.get('chart', '-')}")


if __name__ == "__main__":
    print(summary(run_bench(quick="--quick" in sys.argv)))
