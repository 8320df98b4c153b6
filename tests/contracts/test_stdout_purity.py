from tests.helpers import run_cli


def test_success_prints_exactly_one_envelope_line(tmp_path):
    result = run_cli("run-processor", "--ref", "demo/echo@1", "--json",
                     "--artifacts-root", str(tmp_path))
    assert result.rc == 0, result.stderr
    envelope = result.envelope
    assert envelope["status"] == "success"
    assert isinstance(envelope["outputs"], list)
    assert envelope["index_path"].endswith("/outputs.json")
