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


def test_lone_surrogate_inputs_are_refused_before_spawning(tmp_path, project_root):
    with pytest.raises(InputsError, match="not JSON-serialisable UTF-8") as caught:
        run_processor("demo/echo@1", inputs={"message": "\ud800"}, artifacts_root=tmp_path,
                      root=project_root)
    assert caught.value.meta["attempts"] == 0


def test_a_non_empty_write_prefix_is_refused(tmp_path, project_root):
    prefix = tmp_path / "prefix"
    prefix.mkdir()
    (prefix / "old.txt").write_text("x")
    with pytest.raises(InputsError, match="is not empty"):
        run_processor("demo/echo@1", write_prefix=prefix, artifacts_root=tmp_path,
                      root=project_root)


@pytest.mark.parametrize("timeout_s", [-1, 86401])
def test_a_timeout_out_of_bounds_is_refused(tmp_path, project_root, timeout_s):
    with pytest.raises(InputsError, match="timeout must be within"):
        run_processor("demo/echo@1", timeout_s=timeout_s, artifacts_root=tmp_path,
                      root=project_root)


def test_fixture_processors_resolve_from_the_fixture_root(tmp_path, fixture_root):
    envelope = run_processor("fixture/env_dump@1", artifacts_root=tmp_path, root=fixture_root)
    assert envelope.status == "success"
    assert envelope.meta["processor_ref"] == "fixture/env_dump@1"


def test_a_stderr_flood_leaves_an_8_kib_tail_in_the_error(tmp_path, fixture_root):
    from runtime.errors import AdapterInvocationError

    header = "Container failed with exit code 1. STDERR:\n"
    with pytest.raises(AdapterInvocationError) as caught:
        run_processor("fixture/stderr_flood@1", inputs={"megabytes": 20},
                      artifacts_root=tmp_path, root=fixture_root)
    message = caught.value.message
    assert message.startswith(header)
    assert len(message[len(header):].encode()) <= 8 * 1024
    assert message.endswith("fixture stderr_flood: the very last line\n")


def test_a_reused_execution_id_is_refused_and_the_first_receipt_survives(tmp_path, project_root):
    first = run_processor("demo/echo@1", artifacts_root=tmp_path, root=project_root,
                          execution_id="ex-reused")
    receipt = tmp_path / "execution" / first.execution_id / "determinism.json"
    before = receipt.read_bytes()
    with pytest.raises(InputsError, match="already used"):
        run_processor("demo/echo@1", inputs={"message": "other"}, artifacts_root=tmp_path,
                      root=project_root, execution_id="ex-reused",
                      write_prefix=tmp_path / "elsewhere")
    assert receipt.read_bytes() == before


def test_an_unknown_adapter_is_refused_before_any_folder_is_created(tmp_path, project_root):
    with pytest.raises(InputsError, match="unknown adapter 'nope'"):
        run_processor("demo/echo@1", adapter="nope", artifacts_root=tmp_path / "art",
                      root=project_root)
    assert not (tmp_path / "art").exists()
