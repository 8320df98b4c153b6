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
from runtime.child.spawn import spawn

# Standard library only, and only what a run needs: this module starts a second interpreter in
# every docker run, so typing/pathlib/dataclasses stay out of its imports (~10 ms in the image).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

PAYLOAD_LIMIT = 8 * 1024 * 1024
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
) -> dict[str, Any]:
    """Spawn the processor for ``payload``; returns ``rc``, ``stdout`` (text) and diagnostics.

    The result is plain JSON-able data so a Modal function can return it as is.
    """
    source = os.environ if environ is None else environ
    mode = str(payload.get("mode", "mock"))
    try:
        child_env = build_child_env(mode=mode, env=env_name, secrets=secrets, parent=source)
    except Exception as exc:  # noqa: BLE001 - report a missing secret as an envelope, not a crash
        code = getattr(exc, "code", "ERR_ADAPTER_INVOCATION")
        message = getattr(exc, "message", str(exc))
        envelope = {"status": "error", "execution_id": str(payload.get("execution_id", "unknown")),
                    "outputs": [], "index_path": "",
                    "error": {"code": code, "message": message, "retryable": False}, "meta": {}}
        line = json.dumps(envelope, separators=(",", ":")) + "\n"
        return {"rc": 2, "stdout": line, "stderr_tail": message, "stdout_len": len(line),
                "stdout_overflow": False, "elapsed_ms": 0, "timed_out": False,
                "entry_error": code}
    kit_root = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))  # noqa: PTH120 - no pathlib here
    child_env["PYTHONPATH"] = kit_root
    # The image identity the container runtime hands us goes into the determinism receipt.
    if source.get(IMAGE_DIGEST_KEY):
        child_env[IMAGE_DIGEST_KEY] = source[IMAGE_DIGEST_KEY]
    cwd = str(payload.get("write_prefix") or "/tmp")
    result = spawn(
        [python or sys.executable, "-B", entrypoint],
        stdin=json.dumps(dict(payload)).encode("utf-8"),
        env=child_env,
        cwd=cwd if os.path.isdir(cwd) else None,  # noqa: PTH112 - no pathlib here
        timeout_s=timeout_s,
        on_stderr_line=_passthrough if stream_stderr else None,
    )
    return {
        "rc": result.rc,
        "stdout": result.stdout.decode("utf-8", "surrogateescape"),
        "stderr_tail": result.stderr_tail.decode("utf-8", "replace"),
        "stdout_len": result.stdout_len,
        "stdout_overflow": result.stdout_overflow,
        "elapsed_ms": result.elapsed_ms,
        "timed_out": result.timed_out,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Docker entry: payload on stdin, the child's stdout on stdout, its rc as our exit code."""
    parser = argparse.ArgumentParser(prog="container_entry")
    parser.add_argument("--entrypoint", required=True)
    parser.add_argument("--timeout-s", type=float, required=True)
    parser.add_argument("--secret", action="append", default=[])
    parser.add_argument("--env-name", default="dev")
    args = parser.parse_args(argv)
    raw = sys.stdin.buffer.read(PAYLOAD_LIMIT + 1)
    try:
        payload = json.loads(raw)
    except ValueError:
        payload = None
    if len(raw) > PAYLOAD_LIMIT or not isinstance(payload, dict):
        sys.stderr.write("container_entry: payload must be one JSON object within 8 MiB\n")
        return 2
    result = run_entry(payload, entrypoint=args.entrypoint, timeout_s=args.timeout_s,
                       secrets=args.secret, env_name=args.env_name)
    if result.get("entry_error"):
        sys.stderr.write(f"container_entry: {result['stderr_tail']}\n")
    sys.stdout.buffer.write(result["stdout"].encode("utf-8", "surrogateescape"))
    sys.stdout.buffer.flush()
    return int(result["rc"])


if __name__ == "__main__":
    raise SystemExit(main())
