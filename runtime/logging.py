"""structlog set-up: NDJSON events on stderr, redaction as the last log processor.

Stdout belongs to the envelope, so every logger here writes to stderr. Events are named
``domain.action[.outcome]`` with data in keyword fields.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator, MutableMapping
from typing import IO, Any, TextIO, cast

from runtime.redaction import redact

# structlog imports these at import time, only for its console renderer and rich tracebacks; we
# render JSON. They cost ~35 ms of every CLI start (measured in bench/README.md).
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
           "error": logging.ERROR}


def redaction_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """The one redaction log processor: scrubs secret values and sensitive keys everywhere."""
    return {key: (value if key == "event" else redact(value, key))
            for key, value in event_dict.items()}


_threshold = {"value": logging.INFO}


def level_enabled(level: str) -> bool:
    """Whether an event at ``level`` passes the configured threshold (used for child lines)."""
    return _LEVELS.get(level.lower(), logging.INFO) >= _threshold["value"]


def configure_logging(level: str = "info", stream: IO[str] | None = None) -> None:
    """Route structlog to ``stream`` (default: the current ``sys.stderr``) as JSON lines."""
    target = stream if stream is not None else sys.stderr
    _threshold["value"] = _LEVELS.get(level, logging.INFO)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redaction_processor,
            structlog.processors.JSONRenderer(serializer=_dumps),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS.get(level, logging.INFO)),
        logger_factory=structlog.WriteLoggerFactory(file=cast(TextIO, target)),
        cache_logger_on_first_use=False,
    )


def _dumps(value: Any, **_kw: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False, separators=(",", ":"))


def get_logger(**context: Any) -> Any:
    """A bound structlog logger (configure first; defaults to stderr JSON if not configured)."""
    if not structlog.is_configured():
        configure_logging()
    return structlog.get_logger().bind(**context)


def emit_raw(line: str, stream: IO[str] | None = None) -> None:
    """Write one already-rendered NDJSON line (a child's event) to the log stream."""
    target = stream if stream is not None else sys.stderr
    target.write(line + "\n")
    target.flush()
