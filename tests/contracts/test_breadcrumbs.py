"""NDJSON breadcrumbs on stderr in SPEC §10 order."""

import pytest

from tests.fixtures.project import fixture_ref
from tests.helpers import run_cli

SPEC_EVENTS = {
    "execution.start", "adapter.invoke.start", "processor.start", "provider.call",
    "provider.response", "processor.outputs", "processor.receipt", "adapter.invoke.complete",
    "adapter.invoke.error", "execution.settle",
}
SUCCESS = ["execution.start", "adapter.invoke.start", "processor.start", "processor.outputs",
           "processor.receipt", "adapter.invoke.complete", "execution.settle"]
WITH_PROVIDER = [*SUCCESS[:3], "provider.call", "provider.response", *SUCCESS[3:]]


def _breadcrumbs(result):
    return [event["event"] for event in result.events if event["event"] in SPEC_EVENTS]


@pytest.mark.parametrize(("ref", "inputs", "expected"), [
    ("demo/echo@1", "{}", SUCCESS),
    ("text/stats@1", "{}", SUCCESS),
    ("acme/summarize@1", '{"text": "a b c"}', WITH_PROVIDER),
])
def test_success_breadcrumbs_follow_spec_order(tmp_path, ref, inputs, expected):
    result = run_cli("run-processor", "--ref", ref, "--json", "--inputs-json", inputs,
                     "--artifacts-root", str(tmp_path))
    assert result.rc == 0, result.stderr
    assert _breadcrumbs(result) == expected


def test_child_failure_breadcrumbs_end_with_invoke_error_then_settle(run_fixture):
    result = run_fixture(fixture_ref("handler_raises"))
    assert _breadcrumbs(result) == ["execution.start", "adapter.invoke.start", "processor.start",
                                    "adapter.invoke.error", "execution.settle"]


def test_settle_event_carries_status_code_and_elapsed(run_fixture):
    settle = [e for e in run_fixture(fixture_ref("crash_stderr")).events
              if e["event"] == "execution.settle"]
    assert len(settle) == 1
    assert settle[0]["status"] == "error"
    assert settle[0]["code"] == "ERR_ADAPTER_INVOCATION"
    assert isinstance(settle[0]["elapsed_ms"], int)


def test_every_breadcrumb_names_the_execution(tmp_path):
    result = run_cli("run-processor", "--ref", "demo/echo@1", "--json",
                     "--artifacts-root", str(tmp_path))
    execution_id = result.envelope["execution_id"]
    crumbs = [e for e in result.events if e["event"] in SPEC_EVENTS]
    assert {e.get("execution_id") for e in crumbs} == {execution_id}


def test_forwarded_child_text_names_the_execution(run_fixture):
    result = run_fixture(fixture_ref("crash_stderr"))
    execution_id = result.envelope["execution_id"]
    forwarded = [e for e in result.events if e["event"] == "processor.stderr"]
    assert [e["line"] for e in forwarded] == ["fixture crash_stderr: something went wrong",
                                              "last line before exit 3"]
    assert {e["execution_id"] for e in forwarded} == {execution_id}
    assert {e["processor_ref"] for e in forwarded} == {fixture_ref("crash_stderr")}
