"""Scale bench for ``evidence.package``: N run folders totalling about M MiB, streamed.

Prints one JSON line (files, input bytes, seconds, peak RSS of the packaging child, sha256).
Default: 10 000 files and 1 GiB, the size the packager must handle with bounded memory.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINE = b'{"event":"processor.stderr","level":"info","line":"' + b"x" * 180 + b'"}\n'


def make_evidence(src: Path, files: int, total_mib: int) -> int:
    """Write ``files`` events files; one of them carries the bulk as a sparse tail."""
    written = 0
    for index in range(files):
        run = src / f"ex-{index:06d}"
        run.mkdir(parents=True)
        (run / "events.ndjson").write_bytes(LINE * 4)
        (run / "envelope.json").write_text(json.dumps(
            {"status": "success", "execution_id": run.name, "outputs": [],
             "index_path": f"/p/{run.name}/outputs.json", "meta": {"adapter": "local"}}))
        written += len(LINE) * 4
    bulk = src / "ex-bulk" / "events.ndjson"
    bulk.parent.mkdir()
    remaining = max(total_mib * 2**20 - written, 0)
    with bulk.open("wb") as handle:
        chunk = LINE * (2**20 // len(LINE))
        half = remaining // 2
        while handle.tell() < half:
            handle.write(chunk)
        handle.truncate(remaining)  # the rest is a sparse NUL tail
    return written + remaining


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--total-mib", type=int, default=1024)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="evidence-bench-") as tmp:
        src, out = Path(tmp) / "runs", Path(tmp) / "e.tar.gz"
        size = make_evidence(src, args.files, args.total_mib)
        code = ("import json, resource, sys\nfrom pathlib import Path\n"
                "from runtime.evidence.package import package_evidence\n"
                f"r = package_evidence({str(src)!r}, {str(out)!r}, lane='bench', root=Path({str(ROOT)!r}))\n"
                "print(json.dumps({'sha256': r.sha256, 'members': r.members,"
                " 'peak_rss_kib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))\n")
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                              check=True)
        result = json.loads(done.stdout)
        result.update(files=args.files, input_bytes=size,
                      seconds=round(time.monotonic() - started, 1))
        print(json.dumps(result))


if __name__ == "__main__":
    main()
