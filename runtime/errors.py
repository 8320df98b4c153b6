"""The error canon: one exception class per stable ``ERR_*`` code.

Every failure a user or operator must handle is one of these classes. Each carries its ``code``,
the process ``exit_code`` the CLI uses and whether the one retry policy may try again. Programmer
mistakes stay builtin (``TypeError``/``ValueError``).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is for annotations only: the container entry imports this module
if TYPE_CHECKING:
    from typing import Any, ClassVar

MESSAGE_LIMIT = 2000


class ProcessorRuntimeError(Exception):
    """Base of the canon; ``str(err)`` always starts with the code."""

    code: ClassVar[str] = "ERR_ADAPTER_INVOCATION"
    exit_code: ClassVar[int] = 1
    default_retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        retryable: bool | None = None,
        meta: dict[str, Any] | None = None,
        execution_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = self.default_retryable if retryable is None else retryable
        self.meta: dict[str, Any] = dict(meta or {})
        self.execution_id = execution_id

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class ImageUnpinnedError(ProcessorRuntimeError):
    """A staging/main run or deploy found no pinned digest (fails closed)."""

    code = "ERR_IMAGE_UNPINNED"
    exit_code = 10


class ImageUnavailableError(ProcessorRuntimeError):
    """The image (or one of its blobs) cannot be pulled, or the engine/registry is down."""

    code = "ERR_IMAGE_UNAVAILABLE"
    exit_code = 11


class RegistryMismatchError(ProcessorRuntimeError):
    """A digest differs between two hops of build → push → pin → run."""

    code = "ERR_REGISTRY_MISMATCH"
    exit_code = 12


class ModalLookupError(ProcessorRuntimeError):
    """The Modal app/function for a ref could not be found."""

    code = "ERR_MODAL_LOOKUP"
    exit_code = 20


class ModalInvocationError(ProcessorRuntimeError):
    """The Modal call failed for a reason other than a timeout."""

    code = "ERR_MODAL_INVOCATION"
    exit_code = 21


class ModalTimeoutError(ProcessorRuntimeError):
    """The Modal call did not finish in time; retried once by the policy."""

    code = "ERR_MODAL_TIMEOUT"
    exit_code = 22
    default_retryable = True


class AdapterInvocationError(ProcessorRuntimeError):
    """The child failed, timed out or broke the envelope contract.

    A child killed at its wall-clock timeout is raised with ``retryable=True`` (policy: timeouts are
    retried once); every other instance is final.
    """

    code = "ERR_ADAPTER_INVOCATION"
    exit_code = 30


class CancelledError(AdapterInvocationError):
    """The run was cancelled by a signal (SIGTERM, SIGHUP, SIGINT), like a timeout cut short.

    Same code as every failed child (``ERR_ADAPTER_INVOCATION``, not retried), but its own exit
    code, 130, so a CI log tells a cancel from a failure. The runner removes the folders the run
    claimed, so its execution id can be used again.
    """

    exit_code = 130
    #: Raised by a signal handler wherever the main thread is, a stderr sink included: the spawn
    #: helper lets it through where it would swallow a sink's own bug.
    cancels_run = True

    def __init__(self, signal_name: str) -> None:
        super().__init__(f"run cancelled by {signal_name}: the child's process group was killed "
                         "and the run's folders removed", retryable=False)
        self.signal_name = signal_name


class InputsError(ProcessorRuntimeError):
    """The caller's request is unusable: bad JSON, not an object, unknown ref, bad flag."""

    code = "ERR_INPUTS"
    exit_code = 2


class MissingSecretError(ProcessorRuntimeError):
    """A secret declared in the registry is not set where it is required."""

    code = "ERR_MISSING_SECRET"
    exit_code = 3


class CISafetyError(ProcessorRuntimeError):
    """``mode=real`` (or another unsafe action) was requested with ``CI=true``."""

    code = "ERR_CI_SAFETY"
    exit_code = 4


CANON: dict[str, type[ProcessorRuntimeError]] = {
    cls.code: cls
    for cls in (
        ImageUnpinnedError,
        ImageUnavailableError,
        RegistryMismatchError,
        ModalLookupError,
        ModalInvocationError,
        ModalTimeoutError,
        AdapterInvocationError,
        InputsError,
        MissingSecretError,
        CISafetyError,
    )
}


def error_class(code: str) -> type[ProcessorRuntimeError]:
    """Return the canon class for ``code``; unknown codes are adapter contract violations."""
    return CANON.get(code, AdapterInvocationError)


TRUNCATION_MARK = "\n…[truncated]…\n"


def bound_message(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """Cut ``text`` to ``limit`` characters, keeping its head and its end.

    Messages lead with the cause, and a failed child's stderr tail ends with what matters most
    (the exception line of a traceback), so the middle is what gets dropped.
    """
    if len(text) <= limit:
        return text
    keep = limit - len(TRUNCATION_MARK)
    head = keep // 4
    return text[:head] + TRUNCATION_MARK + text[len(text) - (keep - head):]
