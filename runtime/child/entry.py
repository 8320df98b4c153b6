"""What runs inside a container: the docker adapter's command and the Modal function body alike.

Standard library only. It takes the payload, spawns the processor through the one spawn helper
with a scrubbed environment, passes the processor's NDJSON stderr through, and reports the
child's rc and stdout untouched: judging the envelope is the host's job.

Command line (docker): ``python3 -m runtime.child.entry --entrypoint /opt/processor/main.py
--timeout-s 30 [--secret NAME ...] < payload.json``; exit code = the child's rc (124 on timeout).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence

from runtime.child.env import build_child_env
from runtime.child.spawn import SpawnResult, spawn
from runtime.errors import ProcessorRuntimeError
from runtime.kit.message import PAYLOAD_LIMIT_BYTES, envelope_line, error_envelope

# Standard library only, and only what a run needs: this module starts a second interpreter in
# every docker run, so typing/pathlib/dataclasses stay out of its imports (~10 ms in the image).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

IMAGE_DIGEST_KEY = "PROCESSOR_IMAGE_DIGEST"


def _passthrough(line: bytes) -> None:
    sys.stderr.buffer.write(line + b"\n")
    sys.stderr.buffer.flush()


def run_entry(
    payload: Mapping[str, Any],
    *,
    entrypoint: str,
    timeout_s: float,
    secrets: Sequence[str] = (),
    env_name: str = "dev",
    python: str | None = None,
    environ: Mapping[str, str] | None = None,
    stream_stderr: bool = True,
    payload_bytes: bytes | None = None,
) -> SpawnResult:
    """Spawn the processor for ``payload``; returns the child's :class:`SpawnResult` untouched.

    ``payload_bytes`` (the payload as received) is handed to the child as it is, so the payload
    is serialised once on the host and parsed once by the kit. A request the entry itself must
    refuse (a declared secret missing in ``real`` mode) yields a result whose stdout is that
    error envelope, exactly as if the processor had reported it.
    """
    source = os.environ if environ is None else environ
    mode = str(payload.get("mode", "mock"))
    try:
        child_env = build_child_env(mode=mode, env=env_name, secrets=secrets, parent=source)
    except ProcessorRuntimeError as exc:  # a missing secret: an envelope, not a crash
        line = envelope_line(error_envelope(str(payload.get("execution_id", "")), exc.code,
                                            exc.message)).encode("utf-8")
        tail = exc.message.encode("utf-8", "replace")
        if stream_stderr:
            sys.stderr.write(f"container_entry: {exc.message}\n")
        return SpawnResult(rc=2, stdout=line, stdout_tail=line, stdout_len=len(line),
                           stdout_overflow=False, stderr_tail=tail, stderr_len=len(tail),
                           elapsed_ms=0, timed_out=False)
    kit_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))  # noqa: PTH120
    child_env["PYTHONPATH"] = kit_root
    # The image identity the container runtime hands us goes into the determinism receipt.
    if source.get(IMAGE_DIGEST_KEY):
        child_env[IMAGE_DIGEST_KEY] = source[IMAGE_DIGEST_KEY]
    cwd = str(payload.get("write_prefix") or "/tmp")
    stdin = payload_bytes if payload_bytes is not None else json.dumps(dict(payload)).encode("utf-8")
    return spawn(
        [python or sys.executable, "-B", entrypoint],
        stdin=stdin,
        env=child_env,
        cwd=cwd if os.path.isdir(cwd) else None,  # noqa: PTH112 - no pathlib here
        timeout_s=timeout_s,
        on_stderr_line=_passthrough if stream_stderr else None,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Docker entry: payload on stdin, the child's stdout on stdout, its rc as our exit code."""
    parser = argparse.ArgumentParser(prog="container_entry")
    parser.add_argument("--entrypoint", required=True)
    parser.add_argument("--timeout-s", type=float, required=True)
    parser.add_argument("--secret", action="append", default=[])
    parser.add_argument("--env-name", default="dev")
    args = parser.parse_args(argv)
    raw = sys.stdin.buffer.read(PAYLOAD_LIMIT_BYTES + 1)
    try:
        payload = json.loads(raw)
    except ValueError:
        payload = None
    if len(raw) > PAYLOAD_LIMIT_BYTES or not isinstance(payload, dict):
        sys.stderr.write("container_entry: payload must be one JSON object within "
                         f"{PAYLOAD_LIMIT_BYTES} bytes\n")
        return 2
    result = run_entry(payload, entrypoint=args.entrypoint, timeout_s=args.timeout_s,
                       secrets=args.secret, env_name=args.env_name, payload_bytes=raw)
    sys.stdout.buffer.write(result.stdout)
    sys.stdout.buffer.flush()
    return result.rc


if __name__ == "__main__":
    raise SystemExit(main())
