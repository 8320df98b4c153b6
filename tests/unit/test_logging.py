"""structlog set-up: NDJSON on stderr only, redaction as the last log processor."""

import json

import pytest
import structlog

from runtime.logging import configure_logging, get_logger, redaction_processor
from runtime.redaction import REDACTED


@pytest.fixture(autouse=True)
def _reset_structlog():
    yield
    structlog.reset_defaults()


def test_redaction_is_the_last_log_processor_before_rendering():
    configure_logging()
    processors = structlog.get_config()["processors"]
    assert processors[-2] is redaction_processor
    assert isinstance(processors[-1], structlog.processors.JSONRenderer)


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
