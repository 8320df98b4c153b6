"""The one retry policy: retry what the canon flags retryable, once; nothing else."""

import pytest

from runtime.errors import (
    AdapterInvocationError,
    CISafetyError,
    InputsError,
    MissingSecretError,
    ModalTimeoutError,
)
from runtime.retry import call_with_retry, is_retryable, retry_transient


class Flaky:
    """Raise the given errors in turn, then return ``"ok"``; counts calls."""

    def __init__(self, *errors):
        self.errors = list(errors)
        self.calls = 0

    def __call__(self):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def _timeout():
    return AdapterInvocationError("Container failed with exit code 124.", retryable=True)


def test_a_timeout_is_retried_exactly_once_then_reraised():
    fn = Flaky(_timeout(), _timeout(), _timeout())
    with pytest.raises(AdapterInvocationError, match="124"):
        call_with_retry(fn)
    assert fn.calls == 2


def test_a_timeout_followed_by_success_returns_the_result():
    fn = Flaky(_timeout())
    assert call_with_retry(fn) == "ok"
    assert fn.calls == 2


def test_a_modal_timeout_is_retried_once():
    fn = Flaky(ModalTimeoutError("t"), ModalTimeoutError("t"))
    with pytest.raises(ModalTimeoutError):
        call_with_retry(fn)
    assert fn.calls == 2


@pytest.mark.parametrize("error", [
    InputsError("bad inputs"),
    CISafetyError("ci"),
    MissingSecretError("missing"),
    AdapterInvocationError("shape"),
    ValueError("a programmer mistake"),
])
def test_usage_shape_and_programmer_errors_are_never_retried(error):
    fn = Flaky(error)
    with pytest.raises(type(error)):
        call_with_retry(fn)
    assert fn.calls == 1


def test_the_original_exception_object_is_reraised():
    error = _timeout()
    fn = Flaky(error, error)
    with pytest.raises(AdapterInvocationError) as caught:
        call_with_retry(fn)
    assert caught.value is error


def test_on_retry_is_called_once_per_new_attempt():
    seen = []
    call_with_retry(Flaky(_timeout()), on_retry=lambda n, exc: seen.append((n, exc.code)))
    assert seen == [(1, "ERR_ADAPTER_INVOCATION")]


def test_is_retryable_follows_the_flag():
    assert is_retryable(_timeout())
    assert not is_retryable(AdapterInvocationError("x"))
    assert not is_retryable(TimeoutError())


def test_transient_retry_uses_its_own_predicate_and_budget():
    fn = Flaky(ConnectionError(), ConnectionError(), ConnectionError(), ConnectionError())
    with pytest.raises(ConnectionError):
        retry_transient(fn, is_transient=lambda e: isinstance(e, ConnectionError), wait_s=0)
    assert fn.calls == 4


def test_on_retry_numbers_every_attempt_across_the_whole_budget():
    seen = []
    fn = Flaky(ConnectionError(), ConnectionError(), ConnectionError(), ConnectionError())
    with pytest.raises(ConnectionError):
        retry_transient(fn, is_transient=lambda e: isinstance(e, ConnectionError), wait_s=0,
                        on_retry=lambda n, exc: seen.append(n))
    assert seen == [1, 2, 3]


def test_a_first_attempt_that_succeeds_never_loads_tenacity():
    import subprocess
    import sys

    probe = ("import sys; from runtime.retry import call_with_retry; "
             "assert call_with_retry(lambda: 7) == 7; print('tenacity' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True, timeout=60)
    assert done.stdout.strip() == "False"
