"""Forward a child's stderr into our log stream, redacted and bounded.

A processor logs NDJSON; its lines are re-emitted as they are (after redaction). Other text is
wrapped as a ``processor.stderr`` event. Past a byte budget, forwarding stops with one
``processor.stderr.suppressed`` event: a flooding child cannot flood our log, and the bounded
tail kept by the spawn helper still carries the end of its output.
"""

from __future__ import annotations

import json
import time
from typing import IO, Any

from runtime.child.spawn import CUT_MARGIN_BYTES, LINE_LIMIT_BYTES
from runtime.logging import emit_record, event_wanted, failure_expected, level_enabled
from runtime.redaction import redact, redact_text

FORWARD_BUDGET_BYTES = 1024 * 1024


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class StderrForwarder:
    """A line sink for :func:`runtime.child.spawn.spawn`: into the host log (its event sinks and
    stderr, see :func:`runtime.logging.emit_record`), or as NDJSON to ``stream`` when given."""

    def __init__(self, stream: IO[str] | None = None, budget: int = FORWARD_BUDGET_BYTES,
                 **context: str) -> None:
        self._stream = stream
        self._budget = budget
        self._sent = 0
        self._suppressed = 0
        self._context = context
        # spawn calls us from its stderr thread, where the caller's context does not follow
        self._expected = failure_expected()

    def __call__(self, line: bytes) -> bool:
        """Forward one line; returns False once the budget is spent (spawn stops calling)."""
        if self._sent >= self._budget:
            self._suppressed += 1
            return False
        self._sent += len(line)
        text = line.decode("utf-8", "replace").rstrip("\r")
        if not text.strip():
            return True
        if len(line) > LINE_LIMIT_BYTES:
            # Spawn cut it (with a margin): redact the whole piece, then cut to the line limit.
            cut = len(line) >= LINE_LIMIT_BYTES + CUT_MARGIN_BYTES
            text = redact_text(text, cut_end=cut)[:LINE_LIMIT_BYTES]
        record: object
        try:
            record = json.loads(text)
        except (ValueError, RecursionError):  # deep nesting raises RecursionError, not ValueError
            record = None
        if not isinstance(record, dict) or "event" not in record:
            # Unstructured stderr (a traceback, a library warning) is what a person needs to see.
            record = {"event": "processor.stderr", "level": "warning", "timestamp": _now(),
                      "line": text,
                      **self._context}
        if self._wanted(record):  # below what anyone sees or records: no redaction spent on it
            self._write(redact(record))
        if self._sent >= self._budget:
            self._write({"event": "processor.stderr.suppressed", "timestamp": _now(),
                         "level": "warning", "budget_bytes": self._budget, **self._context})
            return False
        return True

    def _wanted(self, record: dict[str, Any]) -> bool:
        level = str(record.get("level", "info"))
        return event_wanted(level) if self._stream is None else level_enabled(level)

    def _write(self, record: dict[str, Any]) -> None:
        if self._stream is None:
            emit_record(record, expected=self._expected)
        elif level_enabled(str(record.get("level", "info"))):
            self._stream.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
            self._stream.flush()

    @property
    def suppressed_lines(self) -> int:
        """Lines offered after the budget was spent. Under spawn this stays 0: the forwarder
        returns False when its budget is spent and spawn stops offering lines; the
        ``processor.stderr.suppressed`` event marks the cut."""
        return self._suppressed
