"""Batch progress on stderr: a status line on a terminal, NDJSON ``batch.progress`` events
otherwise. Never on stdout (it belongs to the batch envelope)."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO


@dataclass(frozen=True)
class Progress:
    """Where a batch stands: ``done`` counts settled items (``failed`` and ``reused`` included)."""

    batch_id: str
    total: int
    done: int
    failed: int
    reused: int
    elapsed_s: float
    final: bool = False

    @property
    def rate(self) -> float:
        """Items run per second in this run (reused items cost nothing, so they are left out)."""
        ran = self.done - self.reused
        return ran / self.elapsed_s if self.elapsed_s > 0 and ran > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the current rate; None until a first item has run."""
        if self.rate <= 0:
            return None
        return (self.total - self.done) / self.rate


ProgressSink = Callable[[Progress], None]


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "--"
    whole = int(seconds + 0.5)
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m" if whole >= 3600 \
        else f"{whole // 60}m{whole % 60:02d}s"


def status_line(progress: Progress) -> str:
    """``batch b-…: 120/1000 done, 3 failed, 41.2/s, ETA 0m21s`` (one terminal line)."""
    return (f"batch {progress.batch_id}: {progress.done}/{progress.total} done, "
            f"{progress.failed} failed, {progress.rate:.1f}/s, ETA {_eta(progress.eta_s)}")


class _Throttled:
    """A progress sink that shows at most one snapshot every ``interval_s`` — the first and the
    final one always — so a fast batch does not spend its time drawing."""

    def __init__(self, stream: IO[str], interval_s: float) -> None:
        self._stream = stream
        self._interval = interval_s
        self._last: float | None = None

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        if not progress.final and self._last is not None and now - self._last < self._interval:
            return
        self._last = now
        self._stream.write(self.render(progress))
        self._stream.flush()

    def render(self, progress: Progress) -> str:
        """The text written for one snapshot."""
        raise NotImplementedError


class TerminalProgress(_Throttled):
    """Redraws one status line with ``\\r``; the final snapshot ends it with a newline."""

    def __init__(self, stream: IO[str], interval_s: float = 0.2) -> None:
        super().__init__(stream, interval_s)

    def render(self, progress: Progress) -> str:
        return "\r\x1b[2K" + status_line(progress) + ("\n" if progress.final else "")


class NdjsonProgress(_Throttled):
    """Writes ``batch.progress`` NDJSON events (by default at most one every 2 s).

    Progress is what the user asked to see, so it is written whatever the log level; it carries
    counts only (no inputs, no outputs), so there is nothing to redact.
    """

    def __init__(self, stream: IO[str], interval_s: float = 2.0) -> None:
        super().__init__(stream, interval_s)

    def render(self, progress: Progress) -> str:
        eta = progress.eta_s
        record = {
            "event": "batch.progress", "level": "info",
            "timestamp": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
            "batch_id": progress.batch_id, "total": progress.total, "done": progress.done,
            "failed": progress.failed, "reused": progress.reused,
            "rate_per_s": round(progress.rate, 3),
            "eta_s": None if eta is None else round(eta, 1), "final": progress.final,
        }
        return json.dumps(record, separators=(",", ":")) + "\n"
