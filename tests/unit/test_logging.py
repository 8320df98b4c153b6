"""structlog set-up: stderr only, NDJSON or lines for people, redaction before any output."""

import io
import json
import logging

import pytest
import structlog

from runtime.logging import (
    LIBRARY_EVENT,
    HumanRenderer,
    add_event_sink,
    configure_logging,
    emit_record,
    expecting_failure,
    for_people,
    get_logger,
    log_format,
    progress,
    redaction_processor,
    remove_event_sink,
)
from runtime.redaction import REDACTED


@pytest.fixture(autouse=True)
def _reset_structlog():
    yield
    structlog.reset_defaults()


def test_redaction_is_the_last_log_processor_before_rendering():
    configure_logging(fmt="json")
    processors = structlog.get_config()["processors"]
    assert processors[-2] is redaction_processor
    # the last stage only tees, filters and renders: what it writes is the redacted dict as JSON
    rendered = processors[-1](None, "info", {"event": "x.y", "level": "info", "n": 1})
    assert json.loads(rendered) == {"event": "x.y", "level": "info", "n": 1}


def test_events_go_to_stderr_as_one_json_line_and_never_to_stdout(capsys):
    configure_logging()
    get_logger(execution_id="ex-1").info("execution.start", adapter="local")
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["event"] == "execution.start"
    assert record["execution_id"] == "ex-1"
    assert record["level"] == "info"


def test_secret_fields_and_token_shaped_values_are_redacted_in_events(capsys):
    configure_logging()
    token = "sk-" + "q" * 30
    get_logger().info("provider.call", api_key="plain-value", note=f"using {token}")
    record = json.loads(capsys.readouterr().err)
    assert record["api_key"] == REDACTED
    assert token not in record["note"]


def test_the_event_name_is_never_rewritten():
    out = redaction_processor(None, "info", {"event": "auth.token.refresh", "x": 1})
    assert out["event"] == "auth.token.refresh"


def test_levels_below_the_configured_one_are_dropped(capsys):
    configure_logging("warning")
    get_logger().info("quiet.event")
    get_logger().warning("loud.event")
    events = [json.loads(line)["event"] for line in capsys.readouterr().err.splitlines()]
    assert events == ["loud.event"]


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_stream_that_is_not_a_terminal_gets_ndjson_by_default():
    stream = io.StringIO()
    configure_logging("info", stream=stream)
    get_logger().warning("disk.low", free_mib=3)
    assert log_format() == "json"
    assert json.loads(stream.getvalue())["event"] == "disk.low"


def test_a_terminal_gets_rendered_lines_in_colour(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    stream = _Terminal()
    configure_logging("info", stream=stream)
    get_logger().warning("disk.low", free_mib=3, path="/tmp/a b")
    text = stream.getvalue()
    assert log_format() == "human"
    assert "\x1b[" in text
    assert "disk.low" in text
    assert "free_mib=" in text
    assert '"/tmp/a b"' in text
    assert not text.lstrip().startswith("{")


def test_no_color_turns_colour_off_on_a_terminal(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    stream = _Terminal()
    configure_logging("info", stream=stream)
    get_logger().error("disk.full")
    assert "\x1b[" not in stream.getvalue()
    assert "error" in stream.getvalue()
    assert "disk.full" in stream.getvalue()


def test_json_is_forced_on_a_terminal_when_asked():
    stream = _Terminal()
    configure_logging("info", stream=stream, fmt="json")
    get_logger().info("x.y")
    assert json.loads(stream.getvalue())["event"] == "x.y"


def test_an_unknown_format_is_refused():
    with pytest.raises(ValueError, match="fmt"):
        configure_logging(fmt="xml")


def test_a_traceback_is_shown_as_text_lines_once():
    renderer = HumanRenderer()
    tb = "Traceback (most recent call last):\n  File \"x.py\", line 1\nValueError: boom\n"
    first = renderer.render({"event": "processor.crash", "level": "error", "traceback": tb})
    second = renderer.render({"event": "processor.crash", "level": "error", "traceback": tb})
    assert "\\n" not in first
    assert "    ValueError: boom" in first.splitlines()
    assert "ValueError" not in second
    assert "(shown above)" in second


def test_ndjson_lines_inside_an_error_text_are_rendered_for_people():
    stream = _Terminal()
    configure_logging("warning", stream=stream, fmt="human")
    tail = 'failed. STDERR:\n{"event": "processor.start", "level": "info"}\nplain text\n'
    text = for_people(tail)
    assert "{" not in text
    assert "processor.start" in text
    assert "plain text" in text


def test_error_text_is_left_alone_when_stderr_is_ndjson():
    configure_logging("warning", stream=io.StringIO(), fmt="json")
    tail = '{"event": "processor.start", "level": "info"}'
    assert for_people(tail) == tail


def test_progress_reaches_people_below_the_threshold_but_not_ndjson_readers():
    human, machine = _Terminal(), io.StringIO()
    configure_logging("warning", stream=human, fmt="human")
    progress("image.push.progress", pushed_mib=1.5)
    assert "image.push.progress" in human.getvalue()
    configure_logging("warning", stream=machine, fmt="json")
    progress("image.push.progress", pushed_mib=1.5)
    assert machine.getvalue() == ""
    configure_logging("info", stream=machine, fmt="json")
    progress("image.push.progress", pushed_mib=1.5)
    record = json.loads(machine.getvalue())
    assert record["event"] == "image.push.progress"
    assert "_progress" not in record


def test_an_expected_failure_is_not_logged_as_an_error():
    stream = io.StringIO()
    configure_logging("info", stream=stream, fmt="json")
    with expecting_failure():
        get_logger().error("execution.settle", status="error")
        emit_record({"event": "processor.crash", "level": "error"})
    get_logger().error("execution.settle", status="error")
    levels = [(r["level"], r.get("expected")) for r in map(json.loads, stream.getvalue().splitlines())]
    assert levels == [("info", True), ("info", True), ("error", None)]


def test_an_expected_failure_is_hidden_from_people_who_see_warnings():
    stream = io.StringIO()
    configure_logging("warning", stream=stream, fmt="json")
    with expecting_failure():
        get_logger().error("execution.settle", status="error")
    assert stream.getvalue() == ""


def test_standard_logging_warnings_become_one_ndjson_event(capsys):
    configure_logging("info", fmt="json")
    logging.getLogger("urllib3.connectionpool").warning("Retrying %s with token %s", "GET",
                                                       "sk-" + "z" * 30)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["event"] == LIBRARY_EVENT
    assert record["logger"] == "urllib3.connectionpool"
    assert record["level"] == "warning"
    assert "Retrying GET" in record["message"]
    assert "sk-zzz" not in record["message"]


def test_standard_logging_below_warning_stays_quiet(capsys):
    configure_logging("info", fmt="json")
    logging.getLogger("docker.utils").info("chatty")
    assert capsys.readouterr().err == ""


def test_configuring_twice_routes_standard_logging_once(capsys):
    configure_logging("info", fmt="json")
    configure_logging("info", fmt="json")
    logging.getLogger("grpclib.client").warning("stream reset")
    assert len(capsys.readouterr().err.splitlines()) == 1


def test_event_sinks_get_redacted_info_events_whatever_people_see():
    seen = []
    configure_logging("warning", stream=io.StringIO(), fmt="json")
    add_event_sink(seen.append)
    try:
        get_logger().info("provider.call", api_key="plain-value")
        get_logger().debug("too.low")
        emit_record({"event": "processor.start", "level": "info"})
    finally:
        remove_event_sink(seen.append)
    get_logger().info("after.removal")
    assert [event["event"] for event in seen] == ["provider.call", "processor.start"]
    assert seen[0]["api_key"] == REDACTED


class _Rendered:
    """A field value that counts how often an event's processors turned it into text."""

    def __init__(self) -> None:
        self.times = 0

    def __str__(self) -> str:
        self.times += 1
        return "rendered"


def test_an_event_nobody_gets_is_dropped_before_it_is_stamped_or_redacted():
    stream = io.StringIO()
    configure_logging("warning", stream=stream, fmt="json")
    value = _Rendered()
    get_logger().info("item.done", value=value)
    assert value.times == 0  # no sink, below the threshold: no work spent on it
    seen: list = []
    add_event_sink(seen.append)
    try:
        get_logger().info("item.done", value=value)
    finally:
        remove_event_sink(seen.append)
    assert value.times == 1
    assert [event["value"] for event in seen] == ["rendered"]
    assert stream.getvalue() == ""


def test_an_exception_is_shown_to_people_who_see_warnings_only():
    stream = io.StringIO()
    configure_logging("warning", stream=stream, fmt="json")
    try:
        raise ValueError("boom")
    except ValueError:
        get_logger().exception("step.crashed")
    event = json.loads(stream.getvalue())
    assert event["event"] == "step.crashed"
    assert event["level"] == "error"
    assert "ValueError: boom" in event["exception"]


def test_a_forwarded_child_event_is_rendered_for_people_on_a_terminal(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    stream = _Terminal()
    configure_logging("info", stream=stream, fmt="human")
    emit_record({"event": "processor.outputs", "level": "info", "count": 2})
    assert "processor.outputs" in stream.getvalue()
    assert "count=2" in stream.getvalue()
    assert "{" not in stream.getvalue()


def test_child_text_lines_already_shown_are_folded_in_an_error_tail():
    renderer = HumanRenderer()
    for line in ("Traceback (most recent call last):", "KeyError: 'x'"):
        renderer.render({"event": "processor.stderr", "level": "warning", "line": line})
    tail = "exit code 1. STDERR:\nTraceback (most recent call last):\nKeyError: 'x'\nnot shown yet"
    lines = renderer.humanize(tail).splitlines()
    assert lines == ["exit code 1. STDERR:", "  (2 stderr line(s) shown above)", "not shown yet"]


def test_a_library_that_attaches_its_own_stderr_handler_still_logs_once_as_ndjson(capsys):
    configure_logging("info", fmt="json")
    library = logging.getLogger("modal-client")
    library.addHandler(logging.StreamHandler())  # what modal does when it is imported
    library.warning("token expires soon")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["logger"] == "modal-client"
    assert record["message"] == "token expires soon"


def test_a_library_logger_made_before_configuration_is_adopted_too(capsys):
    early = logging.getLogger("modal-utils")
    early.addHandler(logging.StreamHandler())
    configure_logging("info", fmt="json")
    early.addHandler(logging.StreamHandler())
    early.warning("retrying")
    lines = capsys.readouterr().err.splitlines()
    assert [json.loads(line)["message"] for line in lines] == ["retrying"]


def test_a_childs_control_characters_never_reach_the_terminal_raw():
    renderer = HumanRenderer()
    text = renderer.render({"event": "processor.stderr", "level": "warning",
                            "line": "\x1b[2Jgone", "tb": "a\x1b]0;title\x07\nb",
                            "k\x1b[1m": 1})
    assert "\x1b" not in text
    assert "\x07" not in text
    assert "\x1b" not in renderer.humanize("tail\n\x1b[31mred")
