"""The one retry policy (tenacity): retry only what the canon marks ``retryable``.

Timeouts are retried once; usage and shape errors never. Registry transport errors use the same
policy with a larger attempt budget (see :func:`retry_transient`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from runtime.errors import ProcessorRuntimeError

if TYPE_CHECKING:
    from tenacity import RetryCallState

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

    The first attempt is a plain call: tenacity (3 to 10 ms to import) loads only once a retry is
    due, and then runs the remaining attempts under the same policy — attempt numbers, the
    exponential wait and the delay budget continue from the first attempt.
    """
    started = time.monotonic()
    try:
        return fn()
    except BaseException as exc:
        if attempts <= 1 or not retry_on(exc) or (
                max_delay_s is not None and time.monotonic() - started >= max_delay_s):
            raise
        first = exc
    return _retry_after_first(fn, first, attempts=attempts, wait_s=wait_s, started=started,
                              max_delay_s=max_delay_s, on_retry=on_retry, retry_on=retry_on)


def _retry_after_first(
    fn: Callable[[], T],
    first: BaseException,
    *,
    attempts: int,
    wait_s: float,
    started: float,
    max_delay_s: float | None,
    on_retry: Callable[[int, BaseException], None] | None,
    retry_on: Callable[[BaseException], bool],
) -> T:
    """Attempts 2… of :func:`call_with_retry` through tenacity, after attempt 1 raised ``first``."""
    from tenacity import (
        Retrying,
        retry_if_exception,
        stop_after_attempt,
        stop_after_delay,
        wait_exponential,
    )

    if on_retry is not None:
        on_retry(1, first)
    if wait_s:
        time.sleep(min(wait_s, wait_s * 8))  # wait_exponential's first step: multiplier * 2**0

    def _before_sleep(state: RetryCallState) -> None:
        if on_retry is not None and state.outcome is not None:
            exc = state.outcome.exception()
            if exc is not None:
                on_retry(state.attempt_number + 1, exc)

    stop: Any = stop_after_attempt(attempts - 1)
    if max_delay_s is not None:
        stop = stop | stop_after_delay(max(0.0, max_delay_s - (time.monotonic() - started)))
    options: dict[str, Any] = {
        "retry": retry_if_exception(retry_on),
        "stop": stop,
        "reraise": True,
        "before_sleep": _before_sleep,
    }
    if wait_s:
        # Attempt n of the whole call waits multiplier * 2**(n-1), capped at 8x: the tenacity
        # numbering here starts at the second attempt, hence the doubled multiplier.
        options["wait"] = wait_exponential(multiplier=wait_s * 2, max=wait_s * 8)
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
