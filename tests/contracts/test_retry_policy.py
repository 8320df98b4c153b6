"""Retry policy through the CLI: timeouts once, usage and shape errors never."""

import pytest

from tests.fixtures.project import fixture_ref


def _count(result, name):
    return [event["event"] for event in result.events].count(name)


@pytest.mark.parametrize("scenario", ["crash_stderr", "garbage_stdout", "two_lines",
                                      "index_dotdot", "handler_raises"])
def test_shape_and_crash_errors_are_never_retried(run_fixture, scenario):
    result = run_fixture(fixture_ref(scenario))
    assert result.rc == 30
    assert _count(result, "adapter.invoke.start") == 1
    assert _count(result, "execution.retry") == 0
    assert result.envelope["meta"]["attempts"] == 1


def test_inputs_errors_reported_by_the_processor_are_never_retried(run_fixture):
    # The fixture declares no input schema, so the host lets {} through and the kit itself
    # reports ERR_INPUTS in an error envelope.
    result = run_fixture(fixture_ref("reports_inputs_error"), "--inputs-json", "{}")
    assert result.rc == 2
    assert result.envelope["error"]["code"] == "ERR_INPUTS"
    assert _count(result, "adapter.invoke.start") == 1
    assert _count(result, "execution.retry") == 0


def test_a_timeout_is_retried_exactly_once(run_fixture):
    result = run_fixture(fixture_ref("hang"), "--timeout-s", "0.5")
    assert _count(result, "adapter.invoke.start") == 2
    assert _count(result, "execution.retry") == 1
    assert result.envelope["error"]["retryable"] is True
