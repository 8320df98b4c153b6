"""Imports an ``inv`` command loads beyond ``inv --version``, grouped by package (``-X importtime``).

``python -m bench.importdiff run-processor --ref demo/echo@1 --json`` prints the total self time of
the extra modules and the top packages; run it from the checkout root. It measures one process, so
repeat it and read the figures as ±20 % on a loaded machine.
"""

from __future__ import annotations

import collections
import re
import subprocess
import sys
from collections.abc import Sequence

from bench.measure import ROOT

_LINE = re.compile(r"import time:\s+(\d+) \|\s+\d+ \|( *)(\S+)")


def imports(argv: Sequence[str]) -> list[tuple[str, int]]:
    """(module, self microseconds) for every module ``python -X importtime -m invoke ARGV`` loads."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "invoke", *argv], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    return [(m.group(3), int(m.group(1))) for m in map(_LINE.match, done.stderr.splitlines()) if m]


def group(module: str) -> str:
    """Top-level package, but ``runtime.x`` / ``tasks.x`` per module."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] in ("runtime", "tasks") else parts[0]


def main(argv: Sequence[str]) -> None:
    """Print the extra imports of ``inv ARGV`` over ``inv --version``."""
    base = {name for name, _ in imports(["--version"])}
    extra = [(name, us) for name, us in imports(argv) if name not in base]
    totals: collections.Counter[str] = collections.Counter()
    for name, us in extra:
        totals[group(name)] += us
    print(f"{len(extra)} extra modules, {sum(us for _, us in extra) / 1000:.1f} ms self time")
    for name, us in totals.most_common(25):
        print(f"  {name:<40} {us / 1000:6.1f} ms")


if __name__ == "__main__":
    main(sys.argv[1:])
