"""The child→host message: the one envelope line a processor (or the container entry) prints.

One definition shared by both sides of the process boundary, as cog shares its event types
between worker and parent: the kit and the container entry build envelopes with these functions
(standard library only), and the host validates exactly this shape with
:class:`runtime.contract.wire.Envelope` and builds its own error envelopes through
:func:`error_envelope` too.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: the container entry keeps typing out
if TYPE_CHECKING:
    from typing import Any

#: The most bytes of inputs a run accepts (the JSON object, UTF-8): checked once, by the host.
INPUTS_LIMIT_BYTES = 1024 * 1024
#: The most bytes of payload a child reads: the inputs plus the few fields around them. The kit and
#: the container entry refuse more; the host never sends more, because it bounds the inputs.
PAYLOAD_LIMIT_BYTES = INPUTS_LIMIT_BYTES + 64 * 1024
#: Upper bound of ``error.message`` on the wire (the host bounds and redacts again).
MESSAGE_LIMIT = 4000
STATUSES = ("success", "error")
#: Marks where a bounded text was cut. The host's redaction treats both sides of it as cut edges,
#: so a piece of a secret left there is redacted although the child never knew the secret.
CUT_MARK = "...[cut]"  # ASCII: the same whether JSON-escaped with ensure_ascii or not
#: The most characters of a crash traceback a child logs (its end: where the error is).
TRACEBACK_LIMIT = 4000


def keep_head(text: str, limit: int) -> str:
    """``text`` cut to its first ``limit`` characters, the cut marked with ``CUT_MARK``."""
    return text if len(text) <= limit else text[:limit] + CUT_MARK


def keep_tail(text: str, limit: int) -> str:
    """``text`` cut to its last ``limit`` characters, the cut marked with ``CUT_MARK``."""
    return text if len(text) <= limit else CUT_MARK + text[-limit:]


def event_line(event: str, **fields: Any) -> str:
    """One NDJSON log line a child writes on stderr (the kit's own events use this)."""
    import json  # here, not at the top: the container entry builds no line in a plain run

    return json.dumps({"event": event, **fields}, default=str, ensure_ascii=False) + "\n"


def success_envelope(execution_id: str, outputs: list[dict[str, Any]], index_path: str,
                     meta: dict[str, Any]) -> dict[str, Any]:
    """A success envelope: the outputs index items and where the index lies."""
    return {"status": "success", "execution_id": execution_id, "outputs": outputs,
            "index_path": index_path, "meta": meta}


def error_envelope(execution_id: str, code: str, message: str, *, retryable: bool = False,
                   meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """An error envelope with a canon ``code`` (``ERR_*``), a bounded message and ``retryable``."""
    return {"status": "error", "execution_id": execution_id or "unknown", "outputs": [],
            "index_path": "",
            "error": {"code": code, "message": keep_head(message, MESSAGE_LIMIT),
                      "retryable": retryable},
            "meta": dict(meta or {})}


def envelope_line(envelope: dict[str, Any]) -> str:
    """The envelope as one compact JSON line with its newline (what goes to stdout)."""
    import json

    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")) + "\n"
