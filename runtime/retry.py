"""The one retry policy (tenacity): retry only what the canon marks ``retryable``.

Timeouts are retried once; usage and shape errors never. Registry transport errors use the same
policy with a larger attempt budget (see :func:`retry_transient`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
)

from runtime.errors import ProcessorRuntimeError

T = TypeVar("T")
TIMEOUT_ATTEMPTS = 2  # the first try plus exactly one retry


def is_retryable(exc: BaseException) -> bool:
    """The canon decides: only errors flagged ``retryable`` are tried again."""
    return isinstance(exc, ProcessorRuntimeError) and exc.retryable


def call_with_retry(
    fn: Callable[[], T],
    *,
    attempts: int = TIMEOUT_ATTEMPTS,
    wait_s: float = 0.0,
    max_delay_s: float | None = None,
    on_retry: Callable[[int, BaseException], None] | None = None,
    retry_on: Callable[[BaseException], bool] = is_retryable,
) -> T:
    """Call ``fn``; on a retryable failure try again up to ``attempts`` in total.

    The original exception is re-raised (never ``RetryError``). ``on_retry(attempt, exc)`` is
    called before each new attempt so callers can log it.
    """

    def _before_sleep(state: RetryCallState) -> None:
        if on_retry is not None and state.outcome is not None:
            exc = state.outcome.exception()
            if exc is not None:
                on_retry(state.attempt_number, exc)

    stop: Any = stop_after_attempt(attempts)
    if max_delay_s is not None:
        stop = stop | stop_after_delay(max_delay_s)
    options: dict[str, Any] = {
        "retry": retry_if_exception(retry_on),
        "stop": stop,
        "reraise": True,
        "before_sleep": _before_sleep,
    }
    if wait_s:
        options["wait"] = wait_exponential(multiplier=wait_s, max=wait_s * 8)
    retrying = Retrying(**options)
    return retrying(fn)


def retry_transient(
    fn: Callable[[], T],
    *,
    is_transient: Callable[[BaseException], bool],
    attempts: int = 4,
    wait_s: float = 0.5,
    max_delay_s: float = 120.0,
    on_retry: Callable[[int, BaseException], None] | None = None,
) -> T:
    """Retry idempotent transport calls (registry push/verify) on transient errors only."""
    return call_with_retry(fn, attempts=attempts, wait_s=wait_s, max_delay_s=max_delay_s,
                           on_retry=on_retry, retry_on=is_transient)
