"""Evidence tasks (the ``evidence`` namespace): ``inv evidence.package`` and ``inv evidence.verify``."""

from __future__ import annotations

import sys
from dataclasses import asdict
from typing import Any

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit

from tasks.cli import note, run_cli, setup_logging, task

DEFAULT_LANE = "local"


@task(help={
    "src": "evidence folder to package (default: evidence/runs)",
    "out": "tarball to write (default: evidence/evidence-<lane>.tar.gz)",
    "lane": f"lane name recorded in summary.md and the default file name (default: {DEFAULT_LANE})",
    "progress": "force the progress bar on stderr (default: only when stderr is a terminal; "
                "never with --json)",
    "json": "print one JSON result line on stdout",
})
def package(c: Context, src: str = "", out: str = "", lane: str = DEFAULT_LANE,
            progress: bool = False, json: bool = False) -> None:
    """Package evidence into a deterministic, privacy-filtered tar.gz with summary and manifest."""
    setup_logging(json)

    def action() -> Any:
        from runtime.evidence.package import default_package_path, package_evidence
        from runtime.evidence.record import default_evidence_root
        from runtime.paths import project_root

        root = project_root()
        target = out or default_package_path(root, lane)
        # The default folder of a lane that recorded nothing is a clear, non-failing result;
        # an explicit --src that does not exist is still a mistake (ERR_INPUTS).
        return package_evidence(src or default_evidence_root(root), target, lane=lane, root=root,
                                progress=False if json else True if progress else None,
                                missing_ok=not src)

    run_cli(action, json_mode=json, to_json=lambda r: {"ok": True, **asdict(r)},
            to_text=lambda r: (f"packaged {r.runs} runs ({r.members} members, "
                               f"{r.bytes_out} bytes) into {r.path}\nsha256 {r.sha256}"
                               + (f"\nnote: {r.note}" if r.note else "")))


@task(positional=["path"], help={"path": "the evidence tarball to check",
            "json": "print one JSON result line on stdout"})
def verify(c: Context, path: str | None = None, json: bool = False) -> None:
    """Verify an evidence tarball: manifest hashes and the envelope schema gate (SPEC §13).

    Usage: inv evidence.verify PATH [--json]
    """
    setup_logging(json)
    outcome: dict[str, Any] = {}

    def action() -> Any:
        from runtime.errors import InputsError
        from runtime.evidence.package import verify_evidence

        if not path:
            raise InputsError("PATH is required: inv evidence.verify PATH")
        result = verify_evidence(path)
        outcome["ok"] = result.ok
        return result

    def text(result: Any) -> str:
        head = (f"{'OK' if result.ok else 'FAILED'}: {result.path} ({result.members} members, "
                f"{result.envelopes} envelopes, sha256 {result.sha256})")
        return "\n".join([head, *(f"  - {problem}" for problem in result.problems)])

    run_cli(action, json_mode=json,
            to_json=lambda r: {"ok": r.ok, **asdict(r)}, to_text=text)
    if outcome.get("ok") is False:
        note("evidence.verify: the tarball failed verification", json)  # --json: ok is false
        raise Exit(code=1)


@task(help={"files": "run folders to generate (default 10000)",
            "total_mib": "total evidence size in MiB (default 1024)"})
def bench(c: Context, files: int = 10_000, total_mib: int = 1024) -> None:
    """Benchmark evidence.package on generated evidence (default 10 000 files, 1 GiB)."""
    import subprocess
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "bench" / "evidence_scale.py"
    rc = subprocess.run([sys.executable, str(script), "--files", str(files),
                         "--total-mib", str(total_mib)], check=False).returncode
    if rc:
        raise Exit(code=rc)


ns = Collection("evidence")
ns.add_task(bench)
ns.add_task(package)
ns.add_task(verify)
