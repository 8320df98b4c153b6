"""Progress of long work (push bytes, bench scenarios) as log events on stderr, never stdout."""

import io
import json

import pytest
import structlog

from runtime.images import oci
from runtime.logging import configure_logging

DIGEST = "sha256:" + "ef" * 32


@pytest.fixture(autouse=True)
def _reset_structlog():
    yield
    structlog.reset_defaults()


@pytest.fixture
def log_stream():
    stream = io.StringIO()
    configure_logging("info", stream=stream, fmt="json")
    return stream


def _events(stream, name):
    return [r for r in map(json.loads, stream.getvalue().splitlines()) if r["event"] == name]


def _push_stream():
    return [
        {"status": "The push refers to repository [127.0.0.1:5000/p/demo/echo]"},
        {"status": "Preparing", "id": "l1", "progressDetail": {}},
        {"status": "Preparing", "id": "l2", "progressDetail": {}},
        {"status": "Pushing", "id": "l1", "progressDetail": {"current": 100, "total": 300}},
        {"status": "Pushed", "id": "l1", "progressDetail": {}},
        {"status": "Layer already exists", "id": "l2", "progressDetail": {}},
        {"status": f"v1: digest: {DIGEST} size: 528", "progressDetail": {}},
        {"progressDetail": {}, "aux": {"Tag": "v1", "Digest": DIGEST, "Size": 528}},
    ]


def test_push_bytes_and_layers_become_progress_events(log_stream):
    digest, size, errors = oci.read_push_stream(_push_stream(), "v1")
    assert (digest, size, errors) == (DIGEST, 528, [])
    reports = [(r["layers_done"], r["layers"], r["pushed_bytes"], r["total_bytes"])
               for r in _events(log_stream, "image.push.progress")]
    assert reports == [(1, 2, 300, 300), (2, 2, 300, 300)]


def test_push_progress_is_throttled_between_layer_completions(log_stream):
    now = [0.0]
    meter = oci.PushMeter(clock=lambda: now[0])
    for current in (10, 20, 30):
        meter.update({"status": "Pushing", "id": "l1",
                      "progressDetail": {"current": current, "total": 100}})
    assert _events(log_stream, "image.push.progress") == []
    now[0] = oci.PUSH_PROGRESS_EVERY_S
    meter.update({"status": "Pushing", "id": "l1", "progressDetail": {"current": 40, "total": 100}})
    [report] = _events(log_stream, "image.push.progress")
    assert (report["pushed_bytes"], report["layers_done"]) == (40, 0)


def test_push_errors_are_still_collected_while_progress_is_reported(log_stream):
    events = [{"status": "Pushing", "id": "l1", "progressDetail": {"current": 1, "total": 2}},
              {"errorDetail": {"message": "denied"}, "error": "denied"}]
    digest, _size, errors = oci.read_push_stream(events, "v1")
    assert digest is None
    assert errors == ["denied"]


def test_bench_reports_each_scenario_as_progress_and_keeps_stdout_clean(
        log_stream, monkeypatch, tmp_path, capsys):
    from bench import harness
    from bench.scenarios import Row

    monkeypatch.setitem(harness.SCENARIOS, "tiny", lambda _sizes: [Row("tiny", "-", "")])
    monkeypatch.setattr(harness, "OUT_DIR", tmp_path)
    harness.run_bench(quick=True, only=["tiny"])
    started = _events(log_stream, "bench.scenario.start")
    done = _events(log_stream, "bench.scenario.complete")
    assert [(r["scenario"], r["index"], r["total"]) for r in started] == [("tiny", 1, 1)]
    assert [r["scenario"] for r in done] == ["tiny"]
    assert "elapsed_s" in done[0]
    assert capsys.readouterr().out == ""
