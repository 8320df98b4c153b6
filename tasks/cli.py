"""The one place that turns a task's outcome into stdout, stderr and an exit code.

With ``--json`` stdout carries exactly one line: the envelope (success) or the canonical error
envelope. Without it a person gets a short summary. Canon errors map to their exit codes.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import json
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any, NoReturn

from invoke.exceptions import Exit
from invoke.tasks import task as _invoke_task

from runtime.errors import AdapterInvocationError, CancelledError, ProcessorRuntimeError

#: What CI runners and terminals send to stop a job; each cancels the run like a timeout.
CANCEL_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
#: Exit code when stdout cannot take the result (a closed pipe, ``/dev/full``).
STDOUT_FAILED_EXIT = 1


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
    _write_stdout(json.dumps(payload, ensure_ascii=False, separators=(",", ":")) + "\n")


def _write_stdout(text: str) -> None:
    """Write and flush stdout; a reader that went away or a full disk ends the task with one
    NDJSON event on stderr and ``STDOUT_FAILED_EXIT``, not a traceback."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except OSError as exc:
        # Point fd 1 at /dev/null so the interpreter's final flush cannot raise again.
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        with contextlib.suppress(OSError):
            sys.stderr.write(json.dumps({"event": "cli.stdout.failed", "level": "error",
                                         "error": exc.strerror or type(exc).__name__}) + "\n")
            sys.stderr.flush()
        raise Exit(code=STDOUT_FAILED_EXIT) from None


def skip_final_collections() -> None:
    """Freeze what is alive when the interpreter exits, so its final garbage collections do not
    walk it: about 28,000 objects after a run (issue 16: the measured saving per cold
    ``inv run-processor`` is in bench/README.md).

    Only the cycle detector's walk is skipped: modules are still torn down, reference-counted
    objects still freed with their ``__del__``, and every other ``atexit`` hook still runs; what
    a frozen cycle held is returned to the OS with the process. Registered once, from the
    wiring module.
    """
    atexit.unregister(gc.freeze)  # once, however often the wiring is imported
    atexit.register(gc.freeze)


def envelope_parse_errors() -> None:
    """Make Invoke's flag-parse errors (``--bogus``, a flag missing its value) one ``ERR_INPUTS``
    envelope on stdout (exit 2) when ``--json`` was asked for, like every other refusal.

    Invoke parses task flags before any task body runs, so no ``run_cli`` can see these; its
    ``Program.parse_tasks`` is wrapped once, from the wiring module.
    """
    from invoke.exceptions import ParseError
    from invoke.program import Program

    original = Program.parse_tasks
    if getattr(original, "_envelopes", False):
        return

    def parse_tasks(self: Program) -> None:
        try:
            original(self)
        except ParseError as exc:
            if "--json" not in (getattr(self, "argv", None) or sys.argv):
                raise
            from runtime.errors import InputsError

            setup_logging(json_mode=True)
            err = InputsError(f"bad command line: {str(exc)[:300]}")
            _fail(err, True, canonical_error_envelope)

    parse_tasks._envelopes = True  # type: ignore[attr-defined]
    Program.parse_tasks = parse_tasks  # type: ignore[method-assign]


@contextlib.contextmanager
def cancel_on_signals() -> Iterator[None]:
    """While the block runs, SIGTERM/SIGHUP/SIGINT raise :class:`CancelledError` in it.

    The error unwinds like a timeout: spawn kills the child's group (and what escaped it), the
    runner removes the run's temp files and folders, and the task prints one error envelope and
    exits 130. Further signals are ignored while that cleanup runs. Only the main thread can
    install handlers; elsewhere the block runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def cancel(signum: int, _frame: FrameType | None) -> None:
        for number in CANCEL_SIGNALS:
            signal.signal(number, signal.SIG_IGN)
        raise CancelledError(signal.Signals(signum).name)

    previous = {number: signal.signal(number, cancel) for number in CANCEL_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


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
        with cancel_on_signals():
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
        _write_stdout(to_text(result).rstrip("\n") + "\n")


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
