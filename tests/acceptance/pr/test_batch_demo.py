"""A user's first batch: demo/echo over an NDJSON file, through ``inv run-batch``."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import run_cli

RECEIPT_KEYS = ("inputs_sha256", "outputs_sha256", "outputs", "code_sha256", "mode")


def _receipt(envelope: dict) -> dict:
    receipt = json.loads((Path(envelope["index_path"]).parent / "receipt.json").read_text())
    return {key: receipt[key] for key in RECEIPT_KEYS}


def test_demo_batch_echoes_every_line_with_the_receipts_of_single_runs(tmp_path):
    messages = ["one", "two", "drei", "quatre"]
    source = tmp_path / "inputs.ndjson"
    source.write_text("".join(json.dumps({"message": m}) + "\n" for m in messages))
    art = str(tmp_path / "art")
    batch = run_cli("run-batch", "--ref", "demo/echo@1", "--inputs-ndjson", str(source),
                    "--json", "--artifacts-root", art, "--concurrency", "2")
    assert batch.rc == 0, batch.stderr
    assert batch.envelope["counts"]["success"] == len(messages)
    items = [json.loads(line) for line in Path(batch.envelope["items_path"]).read_text()
             .splitlines()]
    for message, item in zip(messages, items, strict=True):
        prefix = Path(item["index_path"]).parent
        assert (prefix / "outputs" / "echo.txt").read_text() == message + "\n"
        single = run_cli("run-processor", "--ref", "demo/echo@1", "--inputs-json",
                         json.dumps({"message": message}), "--json", "--artifacts-root", art)
        assert single.rc == 0, single.stderr
        assert _receipt(item) == _receipt(single.envelope)
