"""Every bundled processor runs in mock through the CLI and passes the issue's jq gate."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import run_cli

JQ_GATE = ('has("status") and has("execution_id") and (.outputs|type=="array") '
           'and (.index_path|type=="string")')
JQ = shutil.which("jq")
BUNDLED = {
    "demo/echo@1": {"message": "hello acceptance"},
    "text/stats@1": {},
    "acme/summarize@1": {"text": "Processors turn one JSON payload into files.", "max_words": 4},
}


@pytest.fixture(params=sorted(BUNDLED))
def run(request, tmp_path):
    ref = request.param
    result = run_cli("run-processor", "--ref", ref, "--mode", "mock", "--json",
                     "--inputs-json", json.dumps(BUNDLED[ref]),
                     "--artifacts-root", str(tmp_path))
    assert result.rc == 0, result.stderr
    return ref, result, tmp_path


def test_envelope_passes_the_jq_gate(run):
    if JQ is None:
        pytest.skip("jq is not installed here; the gate is also checked in Python below")
    _, result, _ = run
    gate = subprocess.run([JQ, "-e", JQ_GATE], input=result.stdout, capture_output=True,
                          text=True, check=False)
    assert gate.returncode == 0, gate.stdout + gate.stderr
    assert gate.stdout.strip() == "true"


def test_envelope_reports_success_in_mock_on_the_local_adapter(run):
    ref, result, _ = run
    envelope = result.envelope
    assert envelope["status"] == "success"
    assert envelope["meta"]["processor_ref"] == ref
    assert envelope["meta"]["mode"] == "mock"
    assert envelope["meta"]["adapter"] == "local"
    assert envelope["outputs"]


def test_outputs_index_and_receipts_are_written(run):
    _, result, artifacts = run
    envelope = result.envelope
    prefix = Path(envelope["index_path"]).parent
    assert prefix == artifacts / "runs" / envelope["execution_id"]
    for item in envelope["outputs"]:
        assert (prefix / item["path"]).stat().st_size == item["size"]
    assert json.loads((prefix / "outputs.json").read_text()) == envelope["outputs"]
    receipt = (prefix / "receipt.json").read_bytes()
    determinism = artifacts / "execution" / envelope["execution_id"] / "determinism.json"
    assert determinism.read_bytes() == receipt


def test_no_temporary_files_are_left_behind(run):
    _, _, artifacts = run
    assert not list(artifacts.rglob("*.tmp"))
