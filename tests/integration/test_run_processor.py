import json

import pytest

from runtime.errors import InputsError
from runtime.runner import run_processor


def test_demo_echo_writes_outputs_index_and_both_receipts(tmp_path, project_root):
    envelope = run_processor("demo/echo@1", inputs={"message": "hi"}, artifacts_root=tmp_path,
                             root=project_root)
    prefix = tmp_path / "runs" / envelope.execution_id
    assert envelope.status == "success"
    assert envelope.index_path == str(prefix / "outputs.json")
    assert (prefix / "outputs" / "echo.txt").read_text() == "hi\n"
    receipt = (prefix / "receipt.json").read_bytes()
    determinism = tmp_path / "execution" / envelope.execution_id / "determinism.json"
    assert determinism.read_bytes() == receipt
    assert json.loads(receipt)["processor_ref"] == "demo/echo@1"
    assert envelope.meta["adapter"] == "local"
    assert envelope.meta["mode"] == "mock"


def test_unknown_ref_is_err_inputs_naming_the_known_refs(tmp_path, project_root):
    with pytest.raises(InputsError, match=r"unknown ref 'demo/nope@1'.*demo/echo@1"):
        run_processor("demo/nope@1", artifacts_root=tmp_path, root=project_root)
