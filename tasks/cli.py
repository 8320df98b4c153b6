"""The one place that turns a task's outcome into stdout, stderr and an exit code.

With ``--json`` stdout carries exactly one line: the envelope (success) or the canonical error
envelope. Without it a person gets a short summary. Canon errors map to their exit codes.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable
from typing import Any, NoReturn

from invoke.exceptions import Exit
from invoke.tasks import task as _invoke_task

from runtime.errors import AdapterInvocationError, ProcessorRuntimeError


def task(*args: Any, **kwargs: Any) -> Callable:  # type: ignore[type-arg]  # as invoke.task
    """``invoke.task`` with automatic short flags off: every flag is spelled out (``--evidence-dir``).

    Invoke's automatic short flags collide across a task's parameters (``-e`` for both ``--env``
    and ``--evidence``) and fall back to odd spellings (``--=STRING``); explicit ``--long`` flags
    are predictable, and a task can still name a short flag on purpose with ``aliases``/``help``.
    """
    kwargs.setdefault("auto_shortflags", False)
    return _invoke_task(*args, **kwargs)


def setup_logging(json_mode: bool, verbose: bool = False) -> None:
    """Logs on stderr: info for machines (``--json``/``--verbose``), warnings (and progress) for
    people; NDJSON with ``--json`` or off a terminal, rendered lines (colour unless ``NO_COLOR``)
    on one. Standard ``logging`` and ``warnings`` go the same way, so ``--json`` keeps every
    stderr line NDJSON."""
    # Imported here, not at module level: every task module imports this one, so structlog
    # would otherwise load for `inv --list` and for tasks that never log.
    from runtime.logging import configure_logging

    configure_logging("info" if json_mode or verbose else "warning", stream=sys.stderr,
                      fmt="json" if json_mode else None, capture_warnings=True)


def note(text: str, json_mode: bool) -> None:
    """Tell a person something on stderr (never in ``--json`` mode, where a log event says it)."""
    if not json_mode:
        sys.stderr.write(text.rstrip("\n") + "\n")
        sys.stderr.flush()


def emit_line(payload: dict[str, Any]) -> None:
    """Print one compact JSON line on stdout (the only stdout write in ``--json`` mode)."""
    sys.stdout.write(json.dumps(payload, ensure_ascii=False, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def canonical_error_envelope(err: ProcessorRuntimeError) -> dict[str, Any]:
    """The one error envelope every task prints with ``--json``."""
    from runtime.contract.envelope import error_envelope

    return error_envelope(err).model_dump(exclude_none=True)


def run_cli(
    action: Callable[[], Any],
    *,
    json_mode: bool,
    to_json: Callable[[Any], dict[str, Any]],
    to_text: Callable[[Any], str],
    on_error_envelope: Callable[[ProcessorRuntimeError], dict[str, Any]] | None = None,
) -> None:
    """Run ``action``; print its result or the error envelope; exit with the canon's code.

    ``on_error_envelope`` defaults to the canonical error envelope (bounded, redacted message).
    """
    on_error_envelope = on_error_envelope or canonical_error_envelope
    try:
        result = action()
    except ProcessorRuntimeError as err:
        _fail(err, json_mode, on_error_envelope)
    except Exit:
        raise
    except Exception as exc:  # noqa: BLE001 - a bug still yields one envelope, not a traceback
        from runtime.logging import get_logger
        from runtime.redaction import redact_text

        if json_mode:  # stderr stays NDJSON for machines; redaction applies to the traceback too
            get_logger().error("cli.internal_error", traceback=traceback.format_exc()[-8000:])
        else:
            sys.stderr.write(redact_text(traceback.format_exc()))
        internal = AdapterInvocationError(f"internal error: {type(exc).__name__}: {exc}")
        _fail(internal, json_mode, on_error_envelope)
    if json_mode:
        emit_line(to_json(result))
    else:
        sys.stdout.write(to_text(result).rstrip("\n") + "\n")


def fail(err: ProcessorRuntimeError, json_mode: bool = False) -> NoReturn:
    """Report a canon error the one way (envelope or ``error: CODE: message``) and exit with its
    code: for tasks that fail before they reach :func:`run_cli`."""
    _fail(err, json_mode, canonical_error_envelope)


def _fail(err: ProcessorRuntimeError, json_mode: bool,
          on_error_envelope: Callable[[ProcessorRuntimeError], dict[str, Any]]) -> NoReturn:
    from runtime.logging import for_people, get_logger
    from runtime.redaction import redact_text

    if json_mode:
        # One NDJSON event, not raw text: a child's stderr tail inside the message would
        # otherwise be re-read as that child's events by anyone parsing the stream.
        get_logger().error("cli.error", code=err.code, exit_code=err.exit_code,
                           message=err.message)
        emit_line(on_error_envelope(err))
    else:
        # A child's NDJSON tail in the message is rendered like the log (a traceback once).
        text = for_people(redact_text(err.message)).rstrip("\n")
        sys.stderr.write(f"error: {err.code}: {text}\n")
    raise Exit(code=err.exit_code)
