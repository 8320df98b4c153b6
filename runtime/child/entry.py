"""What runs inside a container: the docker adapter's command and the Modal function body alike.

Standard library only. It takes the payload, spawns the processor through the one spawn helper
with a scrubbed environment, passes the processor's NDJSON stderr through, and reports the
child's rc and stdout untouched: judging the envelope is the host's job.

Command line (docker): ``python3 -m runtime.child.entry --entrypoint /opt/processor/main.py
--timeout-s 30 [--secret NAME ...] < payload.json``; exit code = the child's rc (124 on timeout).
"""

from __future__ import annotations

import os
import sys

from runtime.child.env import build_child_env
from runtime.child.spawn import SpawnResult, spawn
from runtime.errors import ProcessorRuntimeError
from runtime.kit.message import PAYLOAD_LIMIT_BYTES, envelope_line, error_envelope

# Standard library only, and only what a run needs: this module starts a second interpreter in
# every docker run, so typing/pathlib/dataclasses/argparse stay out of its imports (argparse and
# its gettext alone are ~2 ms of the image's start; typing and friends ~10 ms), and so does json
# (with re and enum, ~8 ms) unless the run declares secrets: a mock payload is passed on unparsed.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
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
    inherit_cwd: bool = False,
) -> SpawnResult:
    """Spawn the processor for ``payload``; returns the child's :class:`SpawnResult` untouched.

    ``payload_bytes`` (the payload as received) is handed to the child as it is, so the payload
    is serialised once on the host and parsed once by the kit; then ``payload`` need hold only
    ``mode`` and ``execution_id`` (the docker entry parses nothing for a run without secrets).
    The child runs in the payload's ``write_prefix``, or with ``inherit_cwd`` in our own folder
    (the engine's working directory is the prefix). A request the entry itself must
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
    cwd = None if inherit_cwd else str(payload.get("write_prefix") or "/tmp")
    if payload_bytes is None:
        import json

        payload_bytes = json.dumps(dict(payload)).encode("utf-8")
    return spawn(
        [python or sys.executable, "-B", entrypoint],
        stdin=payload_bytes,
        env=child_env,
        cwd=cwd if cwd is not None and os.path.isdir(cwd) else None,  # noqa: PTH112 - no pathlib
        timeout_s=timeout_s,
        on_stderr_line=_passthrough if stream_stderr else None,
    )


USAGE = ("usage: container_entry --entrypoint PATH --timeout-s SECONDS [--secret NAME ...] "
         "[--env-name ENV]")


class UsageError(ValueError):
    """A command line the entry cannot run (exit code 2, as a CLI's usage error)."""


def parse_args(argv: Sequence[str]) -> tuple[str, float, list[str], str]:
    """``(entrypoint, timeout_s, secrets, env_name)`` of the command line the adapters build.

    Each option takes one value (``--name value`` or ``--name=value``); ``--entrypoint`` and
    ``--timeout-s`` are required, ``--secret`` repeats. Anything else is a :class:`UsageError`.
    """
    values: dict[str, list[str]] = {"--entrypoint": [], "--timeout-s": [], "--secret": [],
                                    "--env-name": []}
    rest = list(argv)
    while rest:
        name, eq, value = rest.pop(0).partition("=")
        if name not in values:
            raise UsageError(f"unrecognized argument: {name}")
        if not eq:
            if not rest:
                raise UsageError(f"{name} expects a value")
            value = rest.pop(0)
        values[name].append(value)
    for name in ("--entrypoint", "--timeout-s", "--env-name"):
        if len(values[name]) > 1:
            raise UsageError(f"{name} given more than once")
    if not values["--entrypoint"] or not values["--timeout-s"]:
        raise UsageError("--entrypoint and --timeout-s are required")
    try:
        timeout_s = float(values["--timeout-s"][0])
    except ValueError:
        raise UsageError(f"--timeout-s: not a number: {values['--timeout-s'][0]!r}") from None
    env_name = values["--env-name"][0] if values["--env-name"] else "dev"
    return values["--entrypoint"][0], timeout_s, values["--secret"], env_name


def _payload_fields(raw: bytes, *, with_secrets: bool) -> dict[str, Any]:
    """What the entry needs of the payload it passes on; ``ValueError`` saying why it refuses it.

    The kit in the child parses and checks the payload; here a run without secrets only checks
    its bound and its outer braces (mode and id change nothing for it). Secrets go to the child
    only in ``real`` mode, so then the payload is parsed for its mode and id.
    """
    if len(raw) > PAYLOAD_LIMIT_BYTES:
        raise ValueError(f"payload larger than {PAYLOAD_LIMIT_BYTES} bytes")
    text = raw.strip()
    if not (text.startswith(b"{") and text.endswith(b"}")):
        raise ValueError("payload must be one JSON object")
    if not with_secrets:
        return {}
    import json

    try:
        payload = json.loads(raw)
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        return {"mode": payload.get("mode", "mock"),
                "execution_id": payload.get("execution_id", "")}
    raise ValueError("payload must be one JSON object")


def main(argv: Sequence[str] | None = None) -> int:
    """Docker entry: payload on stdin, the child's stdout on stdout, its rc as our exit code."""
    try:
        entrypoint, timeout_s, secrets, env_name = parse_args(
            sys.argv[1:] if argv is None else argv)
    except UsageError as exc:
        sys.stderr.write(f"{USAGE}\ncontainer_entry: error: {exc}\n")
        return 2
    raw = sys.stdin.buffer.read(PAYLOAD_LIMIT_BYTES + 1)
    try:
        payload = _payload_fields(raw, with_secrets=bool(secrets))
    except ValueError as exc:
        sys.stderr.write(f"container_entry: {exc}\n")
        return 2
    result = run_entry(payload, entrypoint=entrypoint, timeout_s=timeout_s, secrets=secrets,
                       env_name=env_name, payload_bytes=raw, inherit_cwd=True)
    sys.stdout.buffer.write(result.stdout)
    sys.stdout.buffer.flush()
    return result.rc


if __name__ == "__main__":
    # The child is reaped and its output written: flush and leave without the interpreter's
    # teardown (a few ms of every docker run). The status is what SystemExit would give.
    _code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(_code & 0xFF)
