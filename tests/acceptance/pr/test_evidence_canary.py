"""Canaries planted in the environment and in inputs never reach a packaged evidence tarball."""

import gzip
import json
import os

import pytest

from runtime.adapters import adapter_names
from tests.helpers import cli_env, run_cli

SECRET_CANARY = "canary-plain-secret-0a1b2c3d4e"  # a declared secret's value, not token-shaped
TOKEN_CANARY = "sk-canary" + "Zq9" * 8  # token-shaped, planted in inputs
INPUT_CANARY = "canary-input-value-5f6e7d8c"  # an ordinary input value
CANARIES = (SECRET_CANARY, TOKEN_CANARY, INPUT_CANARY)
# Adapters beyond `local` need their infrastructure; a lane that has it lists them here.
READY = {"local", *filter(None, os.environ.get("EVIDENCE_CANARY_ADAPTERS", "").split(","))}
RUNS = [
    ("demo/echo@1", {"message": INPUT_CANARY, "token": TOKEN_CANARY}),
    ("acme/summarize@1", {"text": f"{INPUT_CANARY} and {TOKEN_CANARY} in a sentence"}),
    ("acme/summarize@1", {"text": 42, "note": INPUT_CANARY}),  # ERR_INPUTS from the processor
    ("text/stats@1", {"text": INPUT_CANARY, "top_n": 3}),
]


def _adapter_params():
    for name in adapter_names():
        yield pytest.param(name, marks=pytest.mark.skipif(
            name not in READY, reason=f"adapter {name} needs its infrastructure in this lane"))


def _leaky_run(folder):
    """Evidence as a careless processor could leave it: secrets and inputs in its event lines."""
    folder.mkdir(parents=True)
    (folder / "envelope.json").write_text(json.dumps({
        "status": "error", "execution_id": folder.name, "outputs": [], "index_path": "",
        "error": {"code": "ERR_ADAPTER_INVOCATION", "message": f"boom {SECRET_CANARY}",
                  "retryable": False},
        "meta": {"adapter": "local", "mode": "mock", "debug": TOKEN_CANARY}}))
    lines = [{"event": "processor.stderr", "line": f"key={SECRET_CANARY}"},
             {"event": "payload.dump", "inputs": {"text": INPUT_CANARY}},
             f"raw text line with {TOKEN_CANARY}"]
    (folder / "events.ndjson").write_text(
        "\n".join(json.dumps(item) if isinstance(item, dict) else item for item in lines) + "\n")


@pytest.mark.parametrize("adapter", _adapter_params())
def test_no_canary_reaches_the_evidence_tarball(adapter, tmp_path):
    evidence = tmp_path / "runs"
    env = cli_env(ACME_API_KEY=SECRET_CANARY, PROCESSOR_EVIDENCE=str(evidence))
    for ref, inputs in RUNS:
        run_cli("run-processor", "--ref", ref, "--adapter", adapter, "--mode", "mock", "--json",
                "--inputs-json", json.dumps(inputs), "--artifacts-root", str(tmp_path / "art"),
                env=env)
    _leaky_run(evidence / "ex-leaky")
    recorded = sorted(path.name for path in evidence.iterdir())
    assert len(recorded) == len(RUNS) + 1
    out = tmp_path / "evidence.tar.gz"
    packaged = run_cli("evidence.package", "--src", str(evidence), "--out", str(out),
                       "--lane", "canary", "--json", env=env)
    assert packaged.rc == 0, packaged.stderr
    content = gzip.decompress(out.read_bytes())
    assert b"ex-leaky" in content
    assert [canary for canary in CANARIES if canary.encode() in content] == []
