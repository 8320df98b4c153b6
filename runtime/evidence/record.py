"""Evidence of one run: its envelope and NDJSON event stream under ``evidence/runs/<execution_id>/``.

:class:`EvidenceRecorder` wraps one ``run_processor`` call. While it is open it is an event
sink of :mod:`runtime.logging`: every event at info or above (our structlog events and the
child's forwarded lines) is appended to ``events.ndjson``, whatever the display threshold; on
exit the envelope — the success envelope or the canonical error envelope — is written to
``envelope.json``. Both files are written atomically and scrubbed on the way in:
secrets and token shapes (``runtime.redaction``), every ``inputs`` object, and the run's own
input values. Packaging (``runtime.evidence.package``) filters again; this is the first line.

Evidence is switched on per call (``inv run-processor --evidence``) or, in the CI lanes that
produce it, by the environment variable ``PROCESSOR_EVIDENCE`` (``1`` = default folder, or a path).
It is a recording switch, not a mode: it changes nothing about how the processor runs.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Collection, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

from runtime.errors import AdapterInvocationError, InputsError, ProcessorRuntimeError
from runtime.guards import check_execution_id
from runtime.kit.files import atomic_write
from runtime.logging import add_event_sink, get_logger, remove_event_sink
from runtime.redaction import REDACTED, redact, redact_text

if TYPE_CHECKING:  # the CLI imports this module on every run; pydantic loads only when recording
    from runtime.contract.wire import Envelope

EVIDENCE_ENV = "PROCESSOR_EVIDENCE"
EVIDENCE_DIRNAME = "evidence"
RUNS_DIRNAME = "runs"
ENVELOPE_NAME = "envelope.json"
EVENTS_NAME = "events.ndjson"
INPUTS_KEY = "inputs"
MIN_INPUT_VALUE_LEN = 6


def default_evidence_root(root: Path) -> Path:
    """``<root>/evidence/runs``: where runs record and ``evidence.package`` reads by default."""
    return root / EVIDENCE_DIRNAME / RUNS_DIRNAME


def run_folder(evidence_root: str | Path | None, execution_id: str, root: Path) -> Path:
    """The folder one run records into: ``<evidence_root or evidence/runs>/<execution_id>``.

    ``ERR_INPUTS`` for an execution id that is not path-safe (it names the folder).
    """
    check_execution_id(execution_id)
    base = Path(evidence_root) if evidence_root else default_evidence_root(root)
    return base / execution_id


def evidence_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """The CI switch: ``PROCESSOR_EVIDENCE`` unset/``0`` → off, ``1`` → default folder, else a path.

    Returns ``None`` (off), ``""`` (default folder) or the folder path.
    """
    value = (os.environ if environ is None else environ).get(EVIDENCE_ENV, "").strip()
    if value.lower() in ("", "0", "false", "no", "off"):
        return None
    if value.lower() in ("1", "true", "yes", "on"):
        return ""
    return value


def input_values(inputs: Any) -> frozenset[str]:
    """Every string leaf of ``inputs`` long enough to scrub without shredding ordinary text."""
    found: set[str] = set()
    stack = [inputs]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if len(item) >= MIN_INPUT_VALUE_LEN:
                found.add(item)
        elif isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return frozenset(found)


def strip_inputs(value: Any) -> Any:
    """Replace every value stored under a key named ``inputs`` (payload values) by the marker."""
    if isinstance(value, dict):
        return {k: (REDACTED if k == INPUTS_KEY else strip_inputs(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [strip_inputs(v) for v in value]
    return value


def scrub_record(value: Any, extra: Collection[str] = ()) -> Any:
    """The evidence privacy filter for one JSON value: inputs stripped, secrets redacted."""
    return redact(strip_inputs(value), extra=extra)


def scrub_line(text: str, extra: Collection[str] = ()) -> str:
    """Filter one NDJSON line; a line that is not JSON is treated as text and redacted."""
    try:
        record = json.loads(text)
        if isinstance(record, dict | list):
            return json.dumps(scrub_record(record, extra), ensure_ascii=False,
                              separators=(",", ":"))
    except (ValueError, RecursionError):  # a line nested too deep to walk is scrubbed as text
        pass
    return redact_text(text, extra)


class EvidenceRecorder:
    """Context manager recording one run into ``folder`` (``envelope.json`` + ``events.ndjson``).

    While open it is an event sink of :mod:`runtime.logging`: it receives each redacted event
    dict (ours and the child's forwarded lines, info and above, whatever people see on stderr)
    and appends it, scrubbed, to ``events.ndjson`` — no global configuration is swapped and no
    rendered line is parsed back. Use around ``run_processor``; call :meth:`record` with the
    success envelope. A canon error escaping the block is recorded as its error envelope
    (anything else as an internal ``ERR_ADAPTER_INVOCATION``) and re-raised. ``ERR_INPUTS`` if
    ``folder`` already holds files.
    """

    def __init__(self, folder: str | Path, *, inputs: Any = None,
                 execution_id: str | None = None) -> None:
        self.folder = Path(folder)
        self.execution_id = execution_id
        self._extra: set[str] = set(input_values(inputs))
        self._envelope: Envelope | None = None
        self._events: IO[str] | None = None
        self._events_tmp: Path | None = None
        self._lock = threading.Lock()
        self.lines = 0

    def __enter__(self) -> EvidenceRecorder:
        if self.folder.is_symlink() or (self.folder.exists() and any(self.folder.iterdir())):
            raise InputsError(f"evidence folder {self.folder} already holds files (one per run)")
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{EVENTS_NAME}.", suffix=".tmp", dir=self.folder)
        self._events_tmp = Path(tmp)
        self._events = os.fdopen(fd, "w", encoding="utf-8")
        add_event_sink(self)
        return self

    def __call__(self, event: Mapping[str, Any]) -> None:
        """The event sink: append one event, inputs stripped and secrets redacted."""
        line = json.dumps(scrub_record(dict(event), self._extra), default=str,
                          ensure_ascii=False, separators=(",", ":"))
        with self._lock:
            if self._events is None:
                return
            self._events.write(line + "\n")
            self.lines += 1

    def protect_inputs(self, inputs: Any) -> None:
        """Also scrub the string values of ``inputs`` from what is recorded from now on."""
        self._extra |= input_values(inputs)

    def record(self, envelope: Envelope) -> None:
        """Remember the run's envelope (written when the block closes)."""
        self._envelope = envelope

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is not None:
            self._envelope = _error_envelope_for(exc, self.execution_id)
        self._close_events()
        envelope = self._envelope or _error_envelope_for(
            AdapterInvocationError("the run settled without an envelope"), self.execution_id)
        document = scrub_record(envelope.model_dump(mode="json", exclude_none=True), self._extra)
        data = (json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        atomic_write(self.folder / ENVELOPE_NAME, data, confine_to=self.folder)
        # Where the evidence went: a log event (stderr), so --json keeps stdout to one line.
        get_logger().info("evidence.recorded", folder=str(self.folder), events=self.lines,
                 status=envelope.status)

    def _close_events(self) -> None:
        remove_event_sink(self)
        with self._lock:
            events, self._events = self._events, None
        if events is not None and self._events_tmp is not None:
            events.flush()
            os.fsync(events.fileno())
            events.close()
            self._events_tmp.replace(self.folder / EVENTS_NAME)


def _error_envelope_for(exc: BaseException, execution_id: str | None) -> Envelope:
    from runtime.contract.envelope import error_envelope

    err = exc if isinstance(exc, ProcessorRuntimeError) else AdapterInvocationError(
        f"internal error: {type(exc).__name__}: {exc}")
    return error_envelope(err, execution_id=execution_id)


__all__ = [
    "EVIDENCE_ENV", "EvidenceRecorder", "default_evidence_root", "evidence_from_env",
    "input_values", "run_folder", "scrub_line", "scrub_record", "strip_inputs",
]
