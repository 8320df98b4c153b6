"""run_batch over the modal adapter against the fake Modal server: one run_processor per item."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runtime.batch import run_batch
from runtime.errors import ProcessorRuntimeError
from runtime.modal.ops import deploy_modal
from runtime.modal.target import ModalTarget
from runtime.runner import run_processor
from tests.modal_support import OVERRIDE, fake_modal_project

pytestmark = pytest.mark.modal
REF = "demo/echo@1"
MESSAGES = ["alpha", "beta", "gamma"]


@pytest.fixture
def project(tmp_path, monkeypatch, request):
    """``(root, server)``: a pinned project and the fake Modal server the SDK talks to."""
    return fake_modal_project(tmp_path, monkeypatch, request)


def _source(tmp_path: Path) -> Path:
    path = tmp_path / "in.ndjson"
    path.write_text("".join(json.dumps({"message": m}) + "\n" for m in MESSAGES))
    return path


def _items(result) -> list[dict]:
    return [json.loads(line) for line in result.items_path.read_text().splitlines()]


def _receipt(index_path: str) -> dict:
    return json.loads((Path(index_path).parent / "receipt.json").read_text())


def test_modal_batch_items_match_single_modal_runs(project, tmp_path):
    root, server = project
    deploy_modal(ModalTarget(REF, "dev"), image_override=OVERRIDE, root=root)
    result = run_batch(REF, _source(tmp_path), adapter="modal", root=root,
                       artifacts_root=tmp_path / "batch", batch_id="modal")
    assert result.ok, result.to_envelope()
    for message, item in zip(MESSAGES, _items(result), strict=True):
        assert item["meta"]["adapter"] == "modal"
        assert item["meta"]["modal_server"] == server.url
        single = run_processor(REF, inputs={"message": message}, adapter="modal", root=root,
                               artifacts_root=tmp_path / "single")
        batch_receipt, single_receipt = _receipt(item["index_path"]), _receipt(single.index_path)
        for key in ("inputs_sha256", "outputs_sha256", "image_digest"):
            assert batch_receipt[key] == single_receipt[key]


def test_an_undeployed_ref_fails_every_item_with_the_single_run_code(project, tmp_path):
    root, _server = project
    with pytest.raises(ProcessorRuntimeError) as single:
        run_processor(REF, inputs={"message": "x"}, adapter="modal", root=root,
                      artifacts_root=tmp_path / "single")
    result = run_batch(REF, _source(tmp_path), adapter="modal", root=root,
                       artifacts_root=tmp_path / "batch")
    assert [item["error"]["code"] for item in _items(result)] == [single.value.code] * 3
    assert result.errors == {single.value.code: 3}
