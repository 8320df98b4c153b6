"""Interleaved A/B of the cold CLI between two checkouts (before/after evidence for a change).

``python -m bench.ab BEFORE_DIR AFTER_DIR [REPS]`` runs ``inv run-processor --ref demo/echo@1
--json`` from each checkout in turn (A, B, A, B … after one untimed warm-up of each; ``PYTHONPATH``
pins each side's ``runtime``) and prints per side: wall min / median / max, the ``-X importtime``
self-time total and the number of imported modules (both CPU-time-insensitive enough to compare
on a loaded machine when read as counts), with the load before and after.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_LINE = re.compile(r"import time:\s+(\d+) \|")
ARGV = ["-m", "invoke", "run-processor", "--ref", "demo/echo@1", "--json"]


def _env(root: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(root)}


def cold(root: Path, scratch: Path) -> float:
    """Wall seconds of one cold ``inv run-processor --json`` from ``root``."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, *ARGV, "--artifacts-root", str(scratch)], cwd=root,
                          env=_env(root), capture_output=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(f"{root}: rc {done.returncode}: {done.stdout[:300]!r}")
    return seconds


def imports(root: Path, scratch: Path) -> tuple[int, float]:
    """(modules imported, total self ms) of one run under ``-X importtime``."""
    done = subprocess.run([sys.executable, "-X", "importtime", *ARGV, "--artifacts-root",
                           str(scratch)], cwd=root, env=_env(root), capture_output=True,
                          text=True, check=False)
    found = [int(m.group(1)) for m in map(_LINE.match, done.stderr.splitlines()) if m]
    return len(found), sum(found) / 1000


def main(argv: list[str]) -> None:
    """Print the A/B table."""
    sides = [Path(argv[0]).resolve(), Path(argv[1]).resolve()]
    reps = int(argv[2]) if len(argv) > 2 else 11
    load = os.getloadavg()
    walls: dict[Path, list[float]] = {side: [] for side in sides}
    counts: dict[Path, list[tuple[int, float]]] = {side: [] for side in sides}
    with tempfile.TemporaryDirectory(prefix="bench-ab-") as tmp:
        for side in sides:
            cold(side, Path(tmp) / "warm")
        for _ in range(reps):
            for side in sides:
                walls[side].append(cold(side, Path(tmp) / "runs"))
        for _ in range(3):
            for side in sides:
                counts[side].append(imports(side, Path(tmp) / "runs"))
    after = os.getloadavg()
    print(f"load {load[0]:.2f} -> {after[0]:.2f}; {reps} interleaved pairs")
    for label, side in zip(("A", "B"), sides, strict=True):
        w = walls[side]
        mods = statistics.median(c for c, _ in counts[side])
        self_ms = statistics.median(ms for _, ms in counts[side])
        print(f"{label} {side}: wall min {min(w):.3f} median {statistics.median(w):.3f} "
              f"max {max(w):.3f} s; {mods:.0f} modules, import self time {self_ms:.0f} ms")
    ratio = statistics.median(walls[sides[1]]) / statistics.median(walls[sides[0]])
    print(f"B/A median wall: {ratio:.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
