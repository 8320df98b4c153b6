"""structlog set-up: events on stderr, NDJSON for machines, rendered lines for people.

Stdout belongs to the envelope, so every logger here writes to stderr. Events are named
``domain.action[.outcome]`` with data in keyword fields. One pipeline serves three kinds of
event: our own (structlog), a child's forwarded lines (:func:`emit_record`) and the standard
``logging`` records of libraries such as docker, urllib3, modal and grpclib (routed in here, so
with ``--json`` every stderr line stays NDJSON). Redaction is the last log processor before the
output stage; the output stage tees each event to the registered event sinks (evidence
recording), applies the display threshold and renders NDJSON or, on a terminal, a line for people.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import IO, Any, TextIO, cast

from runtime.redaction import redact

# structlog imports these at import time, only for its console renderer and rich tracebacks; we
# render JSON and our own human lines. They cost ~35 ms of every CLI start (bench/README.md).
_CONSOLE_EXTRAS = ("rich", "colorama", "better_exceptions")


@contextlib.contextmanager
def _without(names: tuple[str, ...]) -> Iterator[None]:
    """Make ``import <name>`` raise ImportError inside the block (for modules not yet loaded)."""
    hidden = [name for name in names if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for name in hidden:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]


with _without(_CONSOLE_EXTRAS):
    import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "warn": logging.WARNING, "error": logging.ERROR, "critical": logging.CRITICAL}
JSON, HUMAN = "json", "human"
PROGRESS_KEY = "_progress"  # marks an event as progress (see :func:`progress`); never rendered
LIBRARY_EVENT = "library.log"  # a standard-library logging record, routed through structlog

EventSink = Callable[[Mapping[str, Any]], None]
"""Receives each redacted event dict at info level or above (e.g. the evidence recorder)."""


class _State:
    """What :func:`configure_logging` chose; read by the output stage and :func:`emit_record`."""

    threshold = logging.INFO
    fmt = JSON
    color = False
    stream: IO[str] | None = None


_state = _State()
_DEFAULTS = _State()


def _current() -> _State:
    """The configured choices; the defaults once structlog is reset (tests reset it)."""
    return _state if structlog.is_configured() else _DEFAULTS


_sinks: list[EventSink] = []
_sinks_lock = threading.Lock()
_write_lock = threading.Lock()
_expected: contextvars.ContextVar[bool] = contextvars.ContextVar("expected_failure", default=False)


def _rank(level: object) -> int:
    return _LEVELS.get(str(level).lower(), logging.INFO)


def _plain(value: Any) -> Any:
    """JSON-native form of a value (others as ``str``), so redaction sees what gets rendered."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    return str(value)


def redaction_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """The one redaction log processor: scrubs secret values and sensitive keys everywhere."""
    return {key: (value if key in ("event", PROGRESS_KEY) else redact(_plain(value), key))
            for key, value in event_dict.items()}


def _drop_unseen(
    _logger: Any, method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Drop, before any work on it, an event nobody will get: below the display threshold (a
    later stage can only lower its level), not progress on a terminal, and no sink recording.
    A batch at ``warning`` makes four info events an item; stamping and redacting each of them
    for nobody was a tenth of the parent's time."""
    if method not in _LEVELS:  # ``exception``, ``msg``…: never dropped here
        return event_dict
    if event_wanted(method, bool(event_dict.get(PROGRESS_KEY))):
        return event_dict
    raise structlog.DropEvent


def _demote_expected(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Inside :func:`expecting_failure`, an error is an expected outcome: logged at info."""
    _demote(event_dict, _expected.get())
    return event_dict


def _demote(event: MutableMapping[str, Any], expected: bool) -> None:
    if expected and _rank(event.get("level")) >= logging.ERROR:
        event["level"], event["expected"] = "info", True


@contextlib.contextmanager
def expecting_failure(expected: bool = True) -> Iterator[None]:
    """Log errors inside the block as expected outcomes (info, ``expected=true``), not errors.

    For callers that run something meant to fail (a golden fixture expecting ``ERR_INPUTS``):
    a passing check should not print error lines.
    """
    token = _expected.set(expected)
    try:
        yield
    finally:
        _expected.reset(token)


def failure_expected() -> bool:
    """Whether the current context is inside :func:`expecting_failure` (for worker threads)."""
    return _expected.get()


def add_event_sink(sink: EventSink) -> None:
    """Tee every event (redacted, info or above, before the display threshold) into ``sink``."""
    with _sinks_lock:
        _sinks.append(sink)


def remove_event_sink(sink: EventSink) -> None:
    """Stop teeing into ``sink`` (no error if it was not registered)."""
    with _sinks_lock:
        if sink in _sinks:
            _sinks.remove(sink)


def _to_sinks(record: Mapping[str, Any]) -> None:
    if _rank(record.get("level")) < logging.INFO:
        return
    with _sinks_lock:
        sinks = list(_sinks)
    for sink in sinks:
        sink(record)


def _dumps(value: Any, **_kw: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False, separators=(",", ":"))


# ------------------------------------------------------------------ rendering for people

_COLORS = {"debug": "\x1b[2m", "info": "\x1b[36m", "warning": "\x1b[33m", "error": "\x1b[31m",
           "critical": "\x1b[1;31m"}
_BOLD, _DIM, _RESET = "\x1b[1m", "\x1b[2m", "\x1b[0m"
_BLOCK_KEYS = ("traceback", "exception")  # shown once per process: a crash is told once
_HIDDEN_KEYS = ("event", "level", "timestamp", PROGRESS_KEY)
SHOWN_LINES_KEPT = 2000


class HumanRenderer:
    """One event as a line for people: ``time level event key=value …``; multi-line values
    (tracebacks, stderr tails) follow as indented text lines, and a traceback already shown
    is referred to, not repeated."""

    def __init__(self, color: bool = False) -> None:
        self.color = color
        self._shown: set[str] = set()
        self._shown_lines: dict[str, None] = {}  # a child's text lines already displayed
        self._lock = threading.Lock()

    def render(self, record: Mapping[str, Any]) -> str:
        """The text of ``record`` (no trailing newline)."""
        level = str(record.get("level", "info")).lower()
        if record.get("event") == "processor.stderr" and isinstance(record.get("line"), str):
            self._remember_line(record["line"])
        stamp = str(record.get("timestamp", ""))
        clock = stamp[11:19] if len(stamp) >= 19 else stamp
        head = [self._paint(_DIM, clock)] if clock else []
        head.append(self._paint(_COLORS.get(level, ""), f"{level:<7}"))
        head.append(self._paint(_BOLD, _printable(str(record.get("event", "?")))))
        blocks: list[str] = []
        for key, value in record.items():
            if key in _HIDDEN_KEYS:
                continue
            if isinstance(value, str) and "\n" in value.rstrip("\n"):
                blocks.append(self._block(key, value))
            else:
                head.append(f"{self._paint(_DIM, _printable(str(key)) + '=')}{_scalar(value)}")
        return "\n".join([" ".join(head), *blocks])

    def _block(self, key: str, text: str) -> str:
        if key in _BLOCK_KEYS:
            digest = hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()
            with self._lock:
                if digest in self._shown:
                    return f"  {key}: (shown above)"
                self._shown.add(digest)
        body = "\n".join(f"    {_printable(line)}" for line in text.rstrip("\n").splitlines())
        return f"  {_printable(key)}:\n{body}"

    def _paint(self, code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if self.color and code else text

    def _remember_line(self, line: str) -> None:
        with self._lock:
            self._shown_lines[line] = None
            if len(self._shown_lines) > SHOWN_LINES_KEPT:
                del self._shown_lines[next(iter(self._shown_lines))]

    def humanize(self, text: str) -> str:
        """``text`` with every NDJSON event line in it rendered as above (e.g. a stderr tail),
        and runs of a child's text lines already displayed as ``processor.stderr`` folded."""
        out: list[str] = []
        folded = 0
        for line in text.splitlines():
            if line.strip() and line in self._shown_lines:
                folded += 1
                continue
            if folded:
                out.append(f"  ({folded} stderr line(s) shown above)")
                folded = 0
            record = _event_of(line)
            out.append(self.render(record) if record is not None else _printable(line))
        if folded:
            out.append(f"  ({folded} stderr line(s) shown above)")
        return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def _event_of(line: str) -> dict[str, Any] | None:
    if not line.lstrip().startswith("{"):
        return None
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return record if isinstance(record, dict) and "event" in record else None


def _printable(text: str) -> str:
    """``text`` with control characters escaped: a child's bytes never drive the terminal."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch == "\t" else ascii(ch)[1:-1] for ch in text)


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        simple = value and all(ch.isprintable() and not ch.isspace() and ch not in "\"'="
                               for ch in value)
        return value if simple else json.dumps(value, ensure_ascii=False)
    return _dumps(value)


_human = HumanRenderer()
_json_renderer = structlog.processors.JSONRenderer(serializer=_dumps)


def _output(logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> str:
    """The output stage: tee to the sinks, apply the display threshold, render."""
    is_progress = bool(event_dict.pop(PROGRESS_KEY, False))
    _to_sinks(event_dict)
    if not _displayed(event_dict.get("level"), is_progress):
        raise structlog.DropEvent
    if _state.fmt == HUMAN:
        return _human.render(event_dict)
    return cast(str, _json_renderer(logger, method, event_dict))


def _displayed(level: object, is_progress: bool = False) -> bool:
    # Progress is for people: on a terminal it shows whatever the threshold; in NDJSON it is
    # an ordinary info event.
    state = _current()
    return _rank(level) >= state.threshold or (is_progress and state.fmt == HUMAN)


def event_wanted(level: object, is_progress: bool = False) -> bool:
    """Whether an event at ``level`` reaches anyone: an event sink, or the display threshold.
    Callers skip redacting and rendering what nobody gets."""
    return bool(_sinks) or _displayed(level, is_progress)


def level_enabled(level: str) -> bool:
    """Whether an event at ``level`` passes the configured display threshold."""
    return _displayed(level)


# ------------------------------------------------------------------ standard logging


class _StdlibHandler(logging.Handler):
    """Re-emits standard ``logging`` records (docker, urllib3, modal, grpclib) as structlog
    events, so they are redacted, recorded and rendered like ours."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields: dict[str, Any] = {"logger": record.name, "message": record.getMessage()}
            if record.exc_info:
                fields["traceback"] = logging.Formatter().formatException(record.exc_info)
            level = logging.getLevelName(record.levelno).lower()
            method = level if level in ("debug", "info", "warning", "error", "critical") else "info"
            getattr(get_logger(), method)(LIBRARY_EVENT, **fields)
        except Exception:  # noqa: BLE001 - logging must never take the caller down
            self.handleError(record)


# Libraries that attach their own stderr handler when imported (modal does, in modal.config and
# modal._utils.logger): their records must reach stderr through us, once, not as raw text.
SELF_HANDLING_LOGGERS = ("modal-client", "modal-utils")


def _writes_to_stderr(handler: logging.Handler) -> bool:
    return (type(handler) is logging.StreamHandler
            and getattr(handler, "stream", None) in (sys.stderr, sys.__stderr__))


class _AdoptedLogger(logging.Logger):
    """A library logger whose own stderr handlers are refused: its records propagate to the
    root logger and so to :class:`_StdlibHandler`."""

    def addHandler(self, hdlr: logging.Handler) -> None:  # noqa: N802 - logging's own name
        """Keep every handler but a plain stream handler onto stderr."""
        if not _writes_to_stderr(hdlr):
            super().addHandler(hdlr)


def _adopt_self_handling_loggers() -> None:
    """Make :data:`SELF_HANDLING_LOGGERS` propagate to us instead of writing to stderr, whether
    the library is imported already or later (it is imported lazily, after this runs)."""
    for name in SELF_HANDLING_LOGGERS:
        existing = logging.Logger.manager.loggerDict.get(name)
        if isinstance(existing, logging.Logger):
            for handler in [h for h in existing.handlers if _writes_to_stderr(h)]:
                existing.removeHandler(handler)
            existing.propagate = True
            existing.__class__ = _AdoptedLogger  # same layout; refuses the next stderr handler
            continue
        previous = logging.getLoggerClass()
        logging.setLoggerClass(_AdoptedLogger)
        try:
            logging.getLogger(name)
        finally:
            logging.setLoggerClass(previous)


def _route_stdlib_logging(capture_warnings: bool) -> None:
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _StdlibHandler)]:
        root.removeHandler(handler)
    root.addHandler(_StdlibHandler(level=logging.WARNING))
    _adopt_self_handling_loggers()
    if capture_warnings:  # warnings.warn (urllib3's InsecureRequestWarning …) goes to logging
        logging.captureWarnings(True)


# ------------------------------------------------------------------ set-up


def color_wanted(stream: IO[str], environ: Mapping[str, str] | None = None) -> bool:
    """Colour only on a terminal and never when ``NO_COLOR`` is set (https://no-color.org)."""
    source = os.environ if environ is None else environ
    return not source.get("NO_COLOR") and _isatty(stream)


def _isatty(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def configure_logging(level: str = "info", stream: IO[str] | None = None, *,
                      fmt: str | None = None, capture_warnings: bool = False) -> None:
    """Route structlog (and standard ``logging``) to ``stream`` (default: ``sys.stderr``).

    ``fmt`` is ``"json"`` (NDJSON), ``"human"`` (rendered lines, colour unless ``NO_COLOR``) or
    ``None``: human on a terminal, NDJSON otherwise. ``capture_warnings`` also routes
    ``warnings.warn`` (the CLI sets it; a test process keeps its own warning handling).
    """
    if fmt not in (None, JSON, HUMAN):
        raise ValueError(f"fmt must be 'json', 'human' or None, got {fmt!r}")
    target = stream if stream is not None else sys.stderr
    chosen = fmt or (HUMAN if _isatty(target) else JSON)
    threshold = _LEVELS.get(level, logging.INFO)
    _state.threshold, _state.fmt, _state.stream = threshold, chosen, stream
    _state.color = chosen == HUMAN and color_wanted(target)
    _human.color = _state.color
    structlog.configure(
        processors=[
            _drop_unseen,
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _demote_expected,
            structlog.processors.format_exc_info,
            redaction_processor,
            _output,
        ],
        # Info reaches the output stage even when people see warnings only: evidence records it.
        wrapper_class=structlog.make_filtering_bound_logger(min(threshold, logging.INFO)),
        logger_factory=structlog.WriteLoggerFactory(file=cast(TextIO, target)),
        cache_logger_on_first_use=False,
    )
    _route_stdlib_logging(capture_warnings)


def log_format() -> str:
    """``"json"`` or ``"human"``: what stderr currently carries."""
    return _current().fmt


def get_logger(**context: Any) -> Any:
    """A bound structlog logger (configure first; defaults to stderr JSON if not configured)."""
    if not structlog.is_configured():
        configure_logging()
    return structlog.get_logger().bind(**context)


def progress(event: str, *, log: Any = None, **fields: Any) -> None:
    """Report progress of long work: shown to people on a terminal whatever the threshold, an
    ordinary info event in NDJSON. Never on stdout. ``log`` is a bound logger to carry its
    context (default: a fresh one)."""
    (log if log is not None else get_logger()).info(event, **{PROGRESS_KEY: True}, **fields)


def emit_record(record: Mapping[str, Any], *, expected: bool | None = None) -> None:
    """Emit one already-structured, already-redacted event (a child's forwarded line).

    It goes where our events go: to the event sinks, then — past the display threshold — to
    stderr as NDJSON (unchanged) or rendered for people. ``expected`` carries
    :func:`expecting_failure` into worker threads (the caller's context does not follow them).
    """
    if not structlog.is_configured():
        configure_logging()
    event = dict(record)
    _demote(event, failure_expected() if expected is None else expected)
    _to_sinks(event)
    if not _displayed(event.get("level", "info")):
        return
    text = _human.render(event) if _state.fmt == HUMAN else json.dumps(
        event, ensure_ascii=False, separators=(",", ":"))
    target = _state.stream if _state.stream is not None else sys.stderr
    with _write_lock:
        target.write(text + "\n")
        target.flush()


def for_people(text: str) -> str:
    """``text`` as people should read it on stderr: NDJSON event lines inside it (a child's
    stderr tail in an error message) rendered like the log; unchanged when stderr is NDJSON."""
    return _human.humanize(text) if _current().fmt == HUMAN else text
