"""Measuring primitives shared by scenarios and workers: timed child runs and bare payloads.

A "bare" run is the floor: the processor's ``main.py`` started directly by Python with a valid
payload on stdin, no runtime in between.
"""

from __future__ import annotations

import json
import os
import shutil
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
    """One timed child run: wall seconds, exit code, peak RSS in KiB (-1 unless asked) and stdout."""

    seconds: float
    rc: int
    maxrss_kib: int
    stdout: bytes


def timed_run(argv: Sequence[str], *, stdin: bytes = b"", env: Mapping[str, str] | None = None,
              cwd: Path | None = None, rss: bool = False) -> Sample:
    """Run ``argv`` to completion; wall time from spawn to reap.

    With ``rss`` the command runs under GNU ``time -f %M`` (a ~2 MiB C launcher) and ``maxrss_kib``
    is its peak RSS. Measuring via our own ``wait4`` would be wrong: Linux keeps ``ru_maxrss``
    across fork+exec, so the child would inherit this (large) process's high-water mark.
    """
    gnu_time = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    with tempfile.TemporaryFile() as fin, tempfile.TemporaryFile() as fout, \
            tempfile.NamedTemporaryFile("r", suffix=".rss") as rss_file:
        fin.write(stdin)
        fin.seek(0)
        command = list(argv)
        if rss and gnu_time:
            command = [gnu_time, "-f", "%M", "-o", rss_file.name, *command]
        started = time.perf_counter()
        proc = subprocess.run(command, stdin=fin, stdout=fout, stderr=subprocess.DEVNULL,
                              env=dict(env) if env is not None else None, cwd=cwd, check=False)
        seconds = time.perf_counter() - started
        maxrss = -1
        if rss and gnu_time:
            lines = rss_file.read().split()
            maxrss = int(lines[-1]) if lines and lines[-1].isdigit() else -1
        fout.seek(0)
        return Sample(seconds, proc.returncode, maxrss, fout.read())


def python() -> str:
    """The interpreter running the bench (the same one ``inv`` and the local adapter use)."""
    return sys.executable


def inv() -> str:
    """The ``inv`` console script next to the interpreter, else ``inv`` from PATH."""
    candidate = Path(sys.executable).with_name("inv")
    return str(candidate) if candidate.exists() else "inv"


def entrypoint(ref: str) -> Path:
    """The processor's ``main.py`` for ``ref``, resolved through the registry."""
    from runtime.registry.load import Registry

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
