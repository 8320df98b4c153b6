"""Forwarding a child's stderr: NDJSON passes through, text is wrapped, all redacted, bounded."""

import io
import json

from runtime.adapters.childlog import StderrForwarder
from runtime.redaction import REDACTED


def _records(stream):
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_child_ndjson_events_pass_through():
    out = io.StringIO()
    StderrForwarder(out)(b'{"event": "processor.start", "execution_id": "ex-1"}')
    assert _records(out) == [{"event": "processor.start", "execution_id": "ex-1"}]


def test_plain_text_is_wrapped_with_the_run_context():
    out = io.StringIO()
    StderrForwarder(out, execution_id="ex-1")(b"Traceback (most recent call last):")
    records = _records(out)
    assert records[0].pop("timestamp").endswith("Z")
    assert records == [{"event": "processor.stderr", "execution_id": "ex-1",
                        "level": "warning", "line": "Traceback (most recent call last):"}]


def test_json_without_an_event_is_treated_as_text():
    out = io.StringIO()
    StderrForwarder(out)(b'{"not": "an event"}')
    assert _records(out)[0]["event"] == "processor.stderr"


def test_blank_lines_are_dropped():
    out = io.StringIO()
    StderrForwarder(out)(b"   \r")
    assert out.getvalue() == ""


def test_secrets_are_redacted_in_text_and_fields():
    out = io.StringIO()
    token = "sk-" + "f" * 30
    forward = StderrForwarder(out)
    forward(f"using {token}".encode())
    forward(b'{"event": "provider.call", "api_key": "plain"}')
    first, second = _records(out)
    assert token not in first["line"]
    assert second["api_key"] == REDACTED


def test_forwarding_stops_at_the_budget_with_one_suppressed_event():
    out = io.StringIO()
    forward = StderrForwarder(out, budget=100)
    for _ in range(50):
        forward(b"x" * 40)
    events = [record["event"] for record in _records(out)]
    assert events.count("processor.stderr.suppressed") == 1
    assert events.count("processor.stderr") == 3
    assert forward.suppressed_lines == 47


def test_a_deeply_nested_json_line_is_forwarded_as_text_not_a_crash():
    stream = io.StringIO()
    forwarder = StderrForwarder(stream=stream)
    assert forwarder(b"[" * 50000 + b"]" * 50000) is True
    assert json.loads(stream.getvalue().splitlines()[0])["event"] == "processor.stderr"


def test_a_child_event_nobody_gets_is_not_redacted_and_one_somebody_gets_is(monkeypatch):
    import structlog

    import runtime.adapters.childlog as childlog
    from runtime.logging import add_event_sink, configure_logging, remove_event_sink

    calls = []

    def counting(record, *args, **kwargs):
        calls.append(record["event"])
        return redact_for_real(record, *args, **kwargs)

    redact_for_real = childlog.redact
    monkeypatch.setattr(childlog, "redact", counting)
    shown = io.StringIO()
    configure_logging("warning", stream=shown, fmt="json")
    try:
        forward = StderrForwarder()
        forward(b'{"event": "processor.step", "level": "info", "api_key": "plain"}')
        assert calls == []
        forward(b'{"event": "processor.slow", "level": "warning", "api_key": "plain"}')
        seen = []
        add_event_sink(seen.append)
        try:
            forward(b'{"event": "processor.step", "level": "info", "api_key": "plain"}')
        finally:
            remove_event_sink(seen.append)
    finally:
        structlog.reset_defaults()
    assert calls == ["processor.slow", "processor.step"]
    assert [record["api_key"] for record in seen] == [REDACTED]
    assert [record["event"] for record in _records(shown)] == ["processor.slow"]
