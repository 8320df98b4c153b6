"""StderrForwarder tells its caller when its byte budget is spent."""

import io

from runtime.adapters.childlog import StderrForwarder


def test_forwarder_accepts_lines_while_within_budget():
    forwarder = StderrForwarder(stream=io.StringIO(), budget=100)
    assert forwarder(b"short line") is True


def test_forwarder_returns_false_and_logs_suppression_when_budget_is_spent():
    stream = io.StringIO()
    forwarder = StderrForwarder(stream=stream, budget=10)
    assert forwarder(b"x" * 10) is False
    assert '"event":"processor.stderr.suppressed"' in stream.getvalue().replace(" ", "")


def test_forwarder_drops_lines_offered_after_the_budget():
    stream = io.StringIO()
    forwarder = StderrForwarder(stream=stream, budget=10)
    forwarder(b"x" * 10)
    written = stream.getvalue()
    assert forwarder(b"late line") is False
    assert (stream.getvalue(), forwarder.suppressed_lines) == (written, 1)
