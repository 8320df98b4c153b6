"""Measuring primitives shared by scenarios and workers: timed child runs and bare payloads.

A "bare" run is the floor: the processor's ``main.py`` started directly by Python with a valid
payload on stdin, no runtime in between.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Sample:
    """One timed child run: wall seconds, exit code, the child's peak RSS (KiB) and its stdout."""

    seconds: float
    rc: int
    maxrss_kib: int
    stdout: bytes


def timed_run(argv: Sequence[str], *, stdin: bytes = b"", env: Mapping[str, str] | None = None,
              cwd: Path | None = None) -> Sample:
    """Run ``argv`` to completion; wall time from spawn to reap, peak RSS via ``wait4``."""
    with tempfile.TemporaryFile() as fin, tempfile.TemporaryFile() as fout:
        fin.write(stdin)
        fin.seek(0)
        started = time.perf_counter()
        proc = subprocess.Popen(list(argv), stdin=fin, stdout=fout, stderr=subprocess.DEVNULL,
                                env=dict(env) if env is not None else None, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        fout.seek(0)
        return Sample(seconds, proc.returncode, int(usage.ru_maxrss), fout.read())


def python() -> str:
    """The interpreter running the bench (the same one ``inv`` and the local adapter use)."""
    return sys.executable


def inv() -> str:
    """The ``inv`` console script next to the interpreter, else ``inv`` from PATH."""
    candidate = Path(sys.executable).with_name("inv")
    return str(candidate) if candidate.exists() else "inv"


def entrypoint(ref: str) -> Path:
    """The processor's ``main.py`` for ``ref``, resolved through the registry."""
    from runtime.registry import Registry

    return Registry.load(ROOT).resolve(ref).entrypoint


def bare_env() -> dict[str, str]:
    """Our environment plus ``PYTHONPATH`` so that ``import runtime.kit`` works in a bare run."""
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def bare_payload(ref: str, scratch: Path, inputs: Mapping[str, Any] | None = None) -> bytes:
    """A valid processor payload writing under ``scratch`` (a fresh write prefix per call)."""
    eid = f"ex-{uuid.uuid4().hex}"
    prefix = scratch / "bare" / eid
    prefix.mkdir(parents=True)
    payload = {"execution_id": eid, "ref": ref, "mode": "mock",
               "inputs": dict(inputs or {"message": "bench"}), "write_prefix": str(prefix),
               "artifacts_root": str(scratch / "bare-artifacts")}
    return json.dumps(payload).encode("utf-8")


def bare_run(ref: str, main: Path, scratch: Path) -> float:
    """One floor run: ``python main.py < payload``; returns wall seconds (RuntimeError on failure)."""
    sample = timed_run([python(), str(main)], stdin=bare_payload(ref, scratch), env=bare_env(),
                       cwd=main.parent)
    if sample.rc != 0:
        raise RuntimeError(f"bare run of {main} failed with rc {sample.rc}")
    return sample.seconds
