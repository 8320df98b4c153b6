"""The evidence canary sweep, shared by every adapter's lane.

Canaries planted in the environment (a declared secret's value) and in inputs (token-shaped and
plain) are run through the bundled processors, plus a deliberately leaky recorded run; the
packaged evidence tarball must hold none of them.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from tests.helpers import run_cli

SECRET_CANARY = "canary-plain-secret-0a1b2c3d4e"  # a declared secret's value, not token-shaped
TOKEN_CANARY = "sk-canary" + "Zq9" * 8  # token-shaped, planted in inputs
INPUT_CANARY = "canary-input-value-5f6e7d8c"  # an ordinary input value
CANARIES = (SECRET_CANARY, TOKEN_CANARY, INPUT_CANARY)
RUNS = [
    ("demo/echo@1", {"message": INPUT_CANARY, "token": TOKEN_CANARY}),
    ("acme/summarize@1", {"text": f"{INPUT_CANARY} and {TOKEN_CANARY} in a sentence"}),
    ("acme/summarize@1", {"text": 42, "note": INPUT_CANARY}),  # ERR_INPUTS from the processor
    ("text/stats@1", {"text": INPUT_CANARY, "top_n": 3}),
]


def _leaky_run(folder: Path) -> None:
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


def assert_no_canary_in_evidence(adapter: str, tmp_path: Path, env: dict[str, str],
                                 extra_args: tuple[str, ...] = ()) -> None:
    """Record the canary runs through ``adapter`` with ``env``, package, scan the tarball."""
    evidence = tmp_path / "runs"
    env = {**env, "ACME_API_KEY": SECRET_CANARY, "PROCESSOR_EVIDENCE": str(evidence)}
    adapters_seen = set()
    for ref, inputs in RUNS:
        result = run_cli("run-processor", "--ref", ref, "--adapter", adapter, "--mode", "mock",
                         "--json", "--inputs-json", json.dumps(inputs), "--artifacts-root",
                         str(tmp_path / "art"), *extra_args, env=env)
        adapters_seen.add(result.envelope["meta"].get("adapter"))
    assert adapters_seen == {adapter}
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
