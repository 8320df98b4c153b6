import io
import json

from runtime.evidence.package import envelope_problems, filter_file
from runtime.evidence.record import (
    evidence_from_env,
    input_values,
    run_folder,
    scrub_line,
    strip_inputs,
)
from runtime.redaction import REDACTED

TOKEN = "sk-" + "canary" * 5


def test_strip_inputs_replaces_every_inputs_object_at_any_depth():
    record = {"event": "x", "inputs": {"text": "a"}, "nested": [{"inputs": [1, 2]}]}
    assert strip_inputs(record) == {"event": "x", "inputs": REDACTED,
                                    "nested": [{"inputs": REDACTED}]}


def test_scrub_line_redacts_token_shapes_in_json_values():
    line = json.dumps({"event": "provider.call", "note": f"key {TOKEN}"})
    assert TOKEN not in scrub_line(line)


def test_scrub_line_redacts_extra_values_in_plain_text():
    assert scrub_line("echoing my-private-input now", ["my-private-input"]) == \
        f"echoing {REDACTED} now"


def test_input_values_keeps_long_string_leaves_only():
    values = input_values({"text": "long enough", "n": 3, "short": "ab", "deep": [{"k": "nested!"}]})
    assert values == {"long enough", "nested!"}


def test_evidence_switch_reads_off_default_and_path_forms():
    assert evidence_from_env({}) is None
    assert evidence_from_env({"PROCESSOR_EVIDENCE": "0"}) is None
    assert evidence_from_env({"PROCESSOR_EVIDENCE": "1"}) == ""
    assert evidence_from_env({"PROCESSOR_EVIDENCE": "/x/y"}) == "/x/y"


def test_run_folder_refuses_a_path_escaping_execution_id(tmp_path):
    import pytest

    from runtime.errors import InputsError

    with pytest.raises(InputsError, match="execution id"):
        run_folder(None, "../escape", tmp_path)


def test_envelope_gate_accepts_an_error_envelope():
    envelope = {"status": "error", "execution_id": "ex-1", "outputs": [], "index_path": "",
                "error": {"code": "ERR_INPUTS", "message": "m", "retryable": False}}
    assert envelope_problems("e.json", envelope) == []


def test_envelope_gate_names_each_missing_field():
    problems = envelope_problems("e.json", {"status": "done", "outputs": {}, "index_path": 3})
    assert len(problems) == 4
    assert any("execution_id" in p for p in problems)


def test_filter_file_cuts_overlong_lines_without_splitting_a_secret(tmp_path, monkeypatch):
    import runtime.evidence.package as pack

    monkeypatch.setattr(pack, "LINE_LIMIT_BYTES", 64)
    secret = "plain-secret-value-0123456789"  # straddles the 64-byte read boundary
    source = tmp_path / "blob.txt"
    source.write_bytes(b"x" * 40 + b"," + secret.encode() + b"," + b"y" * 100)
    sink = io.BytesIO()
    filter_file(source, sink, extra=[secret])
    assert b"plain-secret" not in sink.getvalue()
    assert sink.getvalue().count(REDACTED.encode()) == 1


def test_filter_file_strips_inputs_from_a_whole_json_document(tmp_path):
    source = tmp_path / "envelope.json"
    source.write_text(json.dumps({"status": "success", "inputs": {"text": "secret text"}}, indent=2))
    sink = io.BytesIO()
    document = filter_file(source, sink)
    assert document == {"status": "success", "inputs": REDACTED}
    assert b"secret text" not in sink.getvalue()
