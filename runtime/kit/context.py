"""The processor's view of one execution: payload in, outputs/index/receipt/envelope out."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from runtime.kit.files import UnsafePathError, atomic_write, safe_join
from runtime.kit.hashing import canonical_json, sha256_hex, tree_sha256
from runtime.kit.layout import DETERMINISM_NAME, RECEIPT_NAME, execution_dir
from runtime.kit.message import (
    PAYLOAD_LIMIT_BYTES,
    TRACEBACK_LIMIT,
    envelope_line,
    error_envelope,
    event_line,
    keep_tail,
    success_envelope,
)

_REQUIRED = ("execution_id", "ref", "mode", "inputs", "write_prefix", "artifacts_root")
KIT_VERSION = "1"


class KitError(Exception):
    """A failure the processor reports as a canonical error envelope (code from the canon)."""

    def __init__(self, code: str, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable


def env_fingerprint(mode: str) -> str:
    """Sorted ``key=value`` fragments describing the interpreter; stable on one machine."""
    fragments = {
        "hashseed": os.environ.get("PYTHONHASHSEED", "random"),
        "kit": KIT_VERSION,
        "machine": platform.machine() or "unknown",
        "mode": mode,
        "platform": sys.platform,
        "python": platform.python_version(),
    }
    return ";".join(f"{key}={fragments[key]}" for key in sorted(fragments))


class Context:
    """Everything ``handle(ctx)`` needs: inputs, mode, secrets, and confined output writers."""

    def __init__(self, payload: dict[str, Any], code_root: Path, stderr: IO[str]) -> None:
        self.payload = payload
        self.execution_id: str = payload["execution_id"]
        self.ref: str = payload["ref"]
        self.mode: str = payload["mode"]
        self.inputs: dict[str, Any] = payload["inputs"]
        self.write_prefix = Path(payload["write_prefix"])
        self.artifacts_root = Path(payload["artifacts_root"])
        self.code_root = code_root
        self._stderr = stderr
        self._outputs: dict[str, dict[str, Any]] = {}

    # -- logging -----------------------------------------------------------------------------
    def log(self, event: str, **fields: Any) -> None:
        """Emit one NDJSON event on stderr (never stdout); values must be JSON-serialisable."""
        record = {
            "level": fields.pop("level", "info"),
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "execution_id": self.execution_id,
            "processor_ref": self.ref,
            "mode": self.mode,
            **fields,
        }
        self._stderr.write(event_line(event, **record))
        self._stderr.flush()

    # -- inputs and secrets ------------------------------------------------------------------
    def require(self, name: str, kind: type | tuple[type, ...] = object) -> Any:
        """Return ``inputs[name]`` or fail with ``ERR_INPUTS`` naming the field and the rule."""
        if name not in self.inputs:
            raise KitError("ERR_INPUTS", f"inputs.{name}: required")
        value = self.inputs[name]
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            expected = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise KitError("ERR_INPUTS", f"inputs.{name}: must be {expected}")
        return value

    def secret(self, name: str) -> str:
        """Return a declared secret from the environment; ``ERR_MISSING_SECRET`` if absent."""
        value = os.environ.get(name)
        if not value:
            raise KitError("ERR_MISSING_SECRET", f"secret {name} is not set for this run")
        return value

    # -- outputs -----------------------------------------------------------------------------
    def write_bytes(self, relative: str, data: bytes, media_type: str = "application/octet-stream") -> str:
        """Atomically write ``outputs/<relative>``; returns the prefix-relative path."""
        outputs_root = self.write_prefix / "outputs"
        outputs_root.mkdir(parents=True, exist_ok=True)
        try:
            target = safe_join(outputs_root, relative)
            atomic_write(target, data, confine_to=self.write_prefix)
        except UnsafePathError as exc:
            raise KitError("ERR_ADAPTER_INVOCATION", f"refused output write: {exc}") from exc
        rel = target.relative_to(self.write_prefix).as_posix()
        self._outputs[rel] = {
            "path": rel,
            "sha256": sha256_hex(data),
            "size": len(data),
            "media_type": media_type,
        }
        return rel

    def write_text(self, relative: str, text: str, media_type: str = "text/plain") -> str:
        """Write UTF-8 text as an output."""
        return self.write_bytes(relative, text.encode("utf-8"), media_type)

    def write_json(self, relative: str, value: Any) -> str:
        """Write canonical JSON (sorted keys) as an output, so equal data gives equal hashes."""
        return self.write_bytes(relative, canonical_json(value).encode("utf-8"), "application/json")

    # -- settle ------------------------------------------------------------------------------
    def finish(self) -> dict[str, Any]:
        """Write the index and both receipt copies; return the success envelope."""
        outputs = [self._outputs[key] for key in sorted(self._outputs)]
        index_path = self.write_prefix / "outputs.json"
        atomic_write(index_path, (canonical_json(outputs) + "\n").encode(), self.write_prefix)
        self.log("processor.outputs", count=len(outputs))
        fingerprint = env_fingerprint(self.mode)
        receipt = {
            "schema_version": "determinism/1",
            "execution_id": self.execution_id,
            "processor_ref": self.ref,
            "mode": self.mode,
            "inputs_sha256": sha256_hex(canonical_json(self.inputs)),
            "outputs_sha256": sha256_hex(canonical_json([[o["path"], o["sha256"]] for o in outputs])),
            "outputs": [{"path": o["path"], "sha256": o["sha256"]} for o in outputs],
            "code_sha256": tree_sha256(self.code_root),
            "image_digest": os.environ.get("PROCESSOR_IMAGE_DIGEST") or None,
            "env_fingerprint": fingerprint,
        }
        receipt_bytes = (canonical_json(receipt) + "\n").encode()
        atomic_write(self.write_prefix / RECEIPT_NAME, receipt_bytes, self.write_prefix)
        receipts = execution_dir(self.artifacts_root, self.execution_id)
        receipts.mkdir(parents=True, exist_ok=True)
        atomic_write(receipts / DETERMINISM_NAME, receipt_bytes, self.artifacts_root)
        self.log("processor.receipt", receipt_sha256=sha256_hex(receipt_bytes))
        return success_envelope(self.execution_id, outputs, index_path.as_posix(),
                                {"env_fingerprint": fingerprint, "processor_ref": self.ref,
                                 "mode": self.mode})


def _read_payload(stdin: IO[bytes]) -> dict[str, Any]:
    raw = stdin.read(PAYLOAD_LIMIT_BYTES + 1)
    if len(raw) > PAYLOAD_LIMIT_BYTES:
        raise KitError("ERR_INPUTS", f"payload exceeds {PAYLOAD_LIMIT_BYTES} bytes")
    try:
        payload = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KitError("ERR_INPUTS", f"payload is not valid JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise KitError("ERR_INPUTS", "payload must be a JSON object")
    missing = [key for key in _REQUIRED if key not in payload]
    if missing:
        raise KitError("ERR_INPUTS", f"payload misses {', '.join(missing)}")
    if payload["mode"] not in ("mock", "real"):
        raise KitError("ERR_INPUTS", f"payload.mode must be 'mock' or 'real', got {payload['mode']!r}")
    if not isinstance(payload["inputs"], dict):
        raise KitError("ERR_INPUTS", "payload.inputs must be a JSON object")
    return payload


def serve(handle: Callable[[Context], None], *, code_root: str | Path | None = None) -> int:
    """Run ``handle`` for the payload on stdin and print one envelope line; returns the rc.

    Exit codes: 0 success, 2 a reported error (envelope printed), 1 an unexpected crash (traceback
    on stderr, no envelope; the host reports it with the stderr tail).
    """
    stdout, stderr = sys.stdout, sys.stderr
    # Anything the handler prints goes to stderr: stdout belongs to the envelope alone.
    sys.stdout = stderr
    root = Path(code_root) if code_root else Path(sys.argv[0]).resolve().parent
    execution_id = ""
    try:
        payload = _read_payload(sys.stdin.buffer)
        execution_id = str(payload["execution_id"])
        ctx = Context(payload, root, stderr)
        ctx.log("processor.start")
        handle(ctx)
        envelope = ctx.finish()
        code = 0
    except KitError as err:
        envelope = error_envelope(execution_id, err.code, err.message, retryable=err.retryable)
        stderr.write(event_line("processor.error", level="error", code=err.code,
                                message=envelope["error"]["message"]))
        code = 2
    except Exception:  # noqa: BLE001 - a crash becomes rc 1 with its traceback on stderr
        stderr.write(event_line("processor.crash", level="error",
                                traceback=keep_tail(traceback.format_exc(), TRACEBACK_LIMIT)))
        stderr.flush()
        return 1
    finally:
        sys.stdout = stdout
    stdout.write(envelope_line(envelope))
    stdout.flush()
    return code
