"""run_batch over the modal adapter against the fake Modal server: every item one run_processor
call, every attempt one input of the batch's one ``Function.map`` call."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from runtime.batch import run_batch
from runtime.errors import ProcessorRuntimeError
from runtime.modal.ops import deploy_modal
from runtime.modal.target import ModalTarget
from runtime.runner import run_processor
from runtime.testing.fake_server import FakeModalServer
from tests.fixtures.project import build_fixture_root, fixture_ref
from tests.helpers import journaled, run_cli, sigkill_batch_midway
from tests.modal_support import OVERRIDE, fake_env, fake_modal_project

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


# -- the SDK's own fan-out: one map call for the batch, every item judged as a single run ----

MIXED = fixture_ref("batch_mixed")
CASES = [{"case": "ok", "n": 1}, {"case": "inputs_error"}, {"case": "crash"}, {"case": "hang"},
         {"case": "ok", "n": 2}]
# Below the fixture's registry limit (5 s): the client's wait (4 s) ends the hang, so the item is
# ERR_MODAL_TIMEOUT, retried once, while its neighbours run on in the same map call.
SHORT_TIMEOUT_S = 3


@pytest.fixture(scope="module")
def mixed_world(tmp_path_factory):
    """A fixture project with ``batch_mixed`` deployed on one fake Modal server."""
    root = build_fixture_root(tmp_path_factory.mktemp("fixture-root"))
    with FakeModalServer(tmp_path_factory.mktemp("fake-modal"), source_root=root) as server:
        with pytest.MonkeyPatch.context() as patch:
            for key, value in server.environ().items():
                patch.setenv(key, value)
            deploy_modal(ModalTarget(MIXED, "dev"),
                         image_override=f"127.0.0.1:5000/fixtures@{OVERRIDE}", root=root)
        yield root, server


@pytest.fixture
def mixed(mixed_world, monkeypatch):
    root, server = mixed_world
    for key, value in server.environ().items():
        monkeypatch.setenv(key, value)
    return root, server


def _ndjson(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), "utf-8")
    return path


def _code(item: dict) -> str:
    return item["error"]["code"] if item["status"] == "error" else "success"


def _map_calls(server, since: int) -> list:
    return list(server.servicer.calls.values())[since:]


def test_mixed_modal_batch_gives_the_single_run_codes_in_input_order(mixed, tmp_path):
    root, server = mixed
    before = len(server.servicer.calls)
    result = run_batch(MIXED, _ndjson(tmp_path / "in.ndjson", CASES), adapter="modal", root=root,
                       artifacts_root=tmp_path / "art", concurrency=2, batch_id="mixed",
                       timeout_s=SHORT_TIMEOUT_S)
    items = _items(result)
    singles = []
    for row in CASES:
        try:
            run_processor(MIXED, inputs=row, adapter="modal", root=root,
                          artifacts_root=tmp_path / "single", timeout_s=SHORT_TIMEOUT_S)
        except ProcessorRuntimeError as err:
            singles.append(err.code)
        else:
            singles.append("success")
    assert [item["meta"]["batch_index"] for item in items] == [0, 1, 2, 3, 4]
    assert [item["execution_id"] for item in items] == [f"mixed-{i:06d}" for i in range(5)]
    assert [_code(item) for item in items] == singles == [
        "success", "ERR_INPUTS", "ERR_ADAPTER_INVOCATION", "ERR_MODAL_TIMEOUT", "success"]
    assert items[3]["meta"]["attempts"] == 2  # the runner's one retry of a timeout
    assert result.errors == {"ERR_INPUTS": 1, "ERR_ADAPTER_INVOCATION": 1, "ERR_MODAL_TIMEOUT": 1}
    batch_calls = _map_calls(server, before)[:1]
    assert [call.is_map for call in batch_calls] == [True]
    # Six inputs in the one map call: five items plus the hang's retry.
    assert sorted(batch_calls[0].payloads) == list(range(6))


def test_a_modal_batch_is_one_map_call_not_one_call_per_item(mixed, tmp_path):
    root, server = mixed
    calls_before, rpcs_before = len(server.servicer.calls), len(server.rpcs)
    rows = [{"case": "ok", "n": n} for n in range(6)]
    result = run_batch(MIXED, _ndjson(tmp_path / "in.ndjson", rows), adapter="modal", root=root,
                       artifacts_root=tmp_path / "art", concurrency=3, batch_id="one-map")
    assert result.ok, result.to_envelope()
    rpcs = server.rpcs[rpcs_before:]
    assert rpcs.count("FunctionMap") == 1
    assert rpcs.count("FunctionGet") == 1  # one lookup for the batch
    assert rpcs.count("FunctionPutInputs") >= 1
    (call,) = _map_calls(server, calls_before)
    assert call.is_map
    assert sorted(call.payloads) == list(range(6))
    assert {payload["execution_id"] for payload in call.payloads.values()} == {
        f"one-map-{i:06d}" for i in range(6)}
    for item in _items(result):
        assert item["meta"]["adapter"] == "modal"
        assert (Path(item["index_path"]).parent / "receipt.json").is_file()


def test_fail_fast_on_modal_submits_no_item_after_the_first_failure(mixed, tmp_path):
    root, server = mixed
    before = len(server.servicer.calls)
    rows = [{"case": "crash"}] + [{"case": "ok", "n": n} for n in range(20)]
    result = run_batch(MIXED, _ndjson(tmp_path / "in.ndjson", rows), adapter="modal", root=root,
                       artifacts_root=tmp_path / "art", concurrency=1, fail_fast=True,
                       batch_id="ff")
    assert result.counts["error"] == 1
    assert result.counts["not_run"] >= 1
    assert sum(result.counts.values()) == 21
    assert result.receipt_path is None
    (call,) = _map_calls(server, before)
    assert len(call.payloads) == result.counts["success"] + 1 < 21


def test_a_modal_batch_resumed_after_sigkill_runs_only_the_missing_items(mixed, tmp_path):
    root, server = mixed
    total = 16
    source = _ndjson(tmp_path / "in.ndjson", [{"case": "slow", "n": n} for n in range(total)])
    art = tmp_path / "art"
    results = art / "batches" / "killed" / "results.ndjson"
    env = fake_env(server, root)
    argv = [sys.executable, "-m", "invoke", "run-batch", "--ref", MIXED, "--inputs-ndjson",
            str(source), "--artifacts-root", str(art), "--batch-id", "killed", "--adapter",
            "modal", "--concurrency", "2", "--json"]
    sigkill_batch_midway(argv, env, results)
    # The inputs already submitted run on at Modal (no client is left to cancel them).
    deadline = time.monotonic() + 60
    while any(not task.done() for task in list(server.servicer.inputs.values())):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    finished = journaled(results)
    assert 3 <= len(finished) < total

    calls_before = len(server.servicer.calls)
    resumed = run_cli("run-batch", "--ref", MIXED, "--inputs-ndjson", str(source),
                      "--artifacts-root", str(art), "--batch-id", "killed", "--adapter", "modal",
                      "--concurrency", "2", "--json", env=env, timeout=300)
    assert resumed.rc == 0, resumed.stderr
    assert resumed.envelope["reused"] == len(finished)
    started = {e["execution_id"] for e in resumed.events if e["event"] == "execution.start"}
    assert len(started) == total - len(finished)
    assert not started & set(finished)
    (call,) = _map_calls(server, calls_before)
    assert {p["execution_id"] for p in call.payloads.values()} == started
    items = Path(resumed.envelope["items_path"]).read_text().splitlines()
    assert [json.loads(line)["meta"]["batch_index"] for line in items] == list(range(total))

    whole = run_batch(MIXED, source, adapter="modal", root=root, artifacts_root=tmp_path / "whole",
                      concurrency=4, batch_id="killed")
    assert whole.ok
    assert resumed.envelope["receipt_sha256"] == whole.receipt_sha256


def test_an_input_past_the_functions_own_timeout_is_that_items_err_modal_timeout(mixed, tmp_path):
    root, server = mixed
    server.state.plan_fault("call", "FunctionTimeoutError", times=2)  # both attempts of item 0
    rows = [{"case": "ok", "n": n} for n in range(3)]
    result = run_batch(MIXED, _ndjson(tmp_path / "in.ndjson", rows), adapter="modal", root=root,
                       artifacts_root=tmp_path / "art", concurrency=1, batch_id="fn-timeout")
    items = _items(result)
    assert [_code(item) for item in items] == ["ERR_MODAL_TIMEOUT", "success", "success"]
    assert items[0]["meta"]["attempts"] == 2
    assert "FunctionTimeoutError" in items[0]["error"]["message"]
