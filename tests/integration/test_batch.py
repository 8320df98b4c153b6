"""run_batch over the local adapter: per-item codes as single runs give, resume, refusals."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from runtime._files import file_lock
from runtime.batch import run_batch
from runtime.batch.store import BatchFolder
from runtime.errors import CISafetyError, ImageUnpinnedError, InputsError, ProcessorRuntimeError
from runtime.runner import run_processor
from tests.fixtures.project import fixture_ref

MIXED = fixture_ref("batch_mixed")
CASES = [{"case": "ok", "n": 1}, {"case": "inputs_error"}, {"case": "crash"}, {"case": "hang"},
         {"case": "ok", "n": 2}]


def _ndjson(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), "utf-8")
    return path


def _items(result) -> list[dict]:
    return [json.loads(line) for line in result.items_path.read_text("utf-8").splitlines()]


def _single_code(root: Path, artifacts: Path, inputs: dict) -> str:
    try:
        run_processor(MIXED, inputs=inputs, artifacts_root=artifacts, root=root)
    except ProcessorRuntimeError as err:
        return err.code
    return "success"


def test_mixed_batch_gives_the_single_run_codes_in_input_order(fixture_root, tmp_path):
    source = _ndjson(tmp_path / "in.ndjson", CASES)
    result = run_batch(MIXED, source, root=fixture_root, artifacts_root=tmp_path / "art",
                       concurrency=3, batch_id="mixed")
    singles = [_single_code(fixture_root, tmp_path / "single", row) for row in CASES]
    items = _items(result)
    assert [item["meta"]["batch_index"] for item in items] == [0, 1, 2, 3, 4]
    assert [item["execution_id"] for item in items] == [f"mixed-{i:06d}" for i in range(5)]
    batch_codes = [item["error"]["code"] if item["status"] == "error" else "success"
                   for item in items]
    assert batch_codes == singles == ["success", "ERR_INPUTS", "ERR_ADAPTER_INVOCATION",
                                      "ERR_ADAPTER_INVOCATION", "success"]
    assert result.counts == {"success": 2, "error": 3, "not_run": 0}
    assert result.errors == {"ERR_INPUTS": 1, "ERR_ADAPTER_INVOCATION": 2}
    assert not result.ok
    assert "Container failed with exit code 3" in items[2]["error"]["message"]
    assert items[3]["meta"]["attempts"] == 2  # the timeout was retried once, as for one run


def test_each_item_has_its_own_prefix_and_both_receipts(fixture_root, tmp_path):
    source = _ndjson(tmp_path / "in.ndjson", [{"case": "ok", "n": n} for n in range(3)])
    result = run_batch(MIXED, source, root=fixture_root, artifacts_root=tmp_path / "art",
                       batch_id="own")
    folder = BatchFolder.under((tmp_path / "art").resolve(), "own")
    for item in _items(result):
        eid = item["execution_id"]
        prefix = folder.item_prefix(eid)
        assert item["index_path"] == str(prefix / "outputs.json")
        receipt = (prefix / "receipt.json").read_bytes()
        assert receipt == (folder.execution_dir(eid) / "determinism.json").read_bytes()
    assert result.ok
    assert result.receipt_path == folder.receipt_path


def test_rerun_of_a_finished_batch_reuses_every_verified_item(fixture_root, tmp_path):
    source = _ndjson(tmp_path / "in.ndjson", [{"case": "ok", "n": n} for n in range(4)])
    kwargs = {"root": fixture_root, "artifacts_root": tmp_path / "art", "batch_id": "again"}
    first = run_batch(MIXED, source, **kwargs)
    second = run_batch(MIXED, source, **kwargs)
    assert (first.reused, second.reused) == (0, 4)
    assert second.receipt_sha256 == first.receipt_sha256
    assert second.items_path.read_text() == first.items_path.read_text()


def test_rerun_runs_again_an_item_whose_output_was_tampered_with(fixture_root, tmp_path):
    source = _ndjson(tmp_path / "in.ndjson", [{"case": "ok", "n": n} for n in range(3)])
    kwargs = {"root": fixture_root, "artifacts_root": tmp_path / "art", "batch_id": "tamper"}
    first = run_batch(MIXED, source, **kwargs)
    folder = BatchFolder.under((tmp_path / "art").resolve(), "tamper")
    (folder.item_prefix(folder.item_id(1)) / "outputs" / "item.txt").write_text("changed\n")
    second = run_batch(MIXED, source, **kwargs)
    assert second.reused == 2
    assert second.receipt_sha256 == first.receipt_sha256
    assert (folder.item_prefix(folder.item_id(1)) / "outputs" / "item.txt").read_text() == "item 1\n"


def test_rerun_retries_the_failed_items_only(fixture_root, tmp_path):
    source = _ndjson(tmp_path / "in.ndjson", [{"case": "ok"}, {"case": "crash"}, {"case": "ok"}])
    kwargs = {"root": fixture_root, "artifacts_root": tmp_path / "art", "batch_id": "retry"}
    run_batch(MIXED, source, **kwargs)
    second = run_batch(MIXED, source, **kwargs)
    assert second.reused == 2
    assert second.counts == {"success": 2, "error": 1, "not_run": 0}


def test_fail_fast_starts_no_item_after_the_first_failure(fixture_root, tmp_path):
    rows = [{"case": "crash"}] + [{"case": "ok", "n": n} for n in range(30)]
    source = _ndjson(tmp_path / "in.ndjson", rows)
    result = run_batch(MIXED, source, root=fixture_root, artifacts_root=tmp_path / "art",
                       concurrency=1, fail_fast=True, batch_id="ff")
    assert result.counts["error"] == 1
    assert result.counts["not_run"] >= 1
    assert result.counts["success"] + result.counts["error"] + result.counts["not_run"] == 31
    assert result.receipt_path is None
    assert not result.ok
    assert len(_items(result)) == result.counts["success"] + 1


def test_without_fail_fast_a_failure_never_stops_the_others(fixture_root, tmp_path):
    rows = [{"case": "crash"}] + [{"case": "ok", "n": n} for n in range(5)]
    result = run_batch(MIXED, _ndjson(tmp_path / "in.ndjson", rows), root=fixture_root,
                       artifacts_root=tmp_path / "art", concurrency=1)
    assert result.counts == {"success": 5, "error": 1, "not_run": 0}


def test_a_bad_line_is_refused_up_front_with_its_line_number_and_nothing_runs(fixture_root,
                                                                              tmp_path):
    source = tmp_path / "in.ndjson"
    source.write_text('{"case": "ok"}\n{"case": "ok"}\n{"case": "what"}\n{"case": "ok"}\n')
    with pytest.raises(InputsError) as caught:
        run_batch(MIXED, source, root=fixture_root, artifacts_root=tmp_path / "art")
    assert "line 3: inputs.case: must be one of" in caught.value.message
    assert "line 1" not in caught.value.message
    assert "line 4" not in caught.value.message
    assert not (tmp_path / "art").exists()


def test_real_mode_under_ci_is_refused_before_reading_the_file(fixture_root, tmp_path,
                                                              monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(CISafetyError):
        run_batch(MIXED, tmp_path / "missing.ndjson", mode="real", root=fixture_root,
                  artifacts_root=tmp_path / "art")
    assert not (tmp_path / "art").exists()


def test_local_adapter_outside_dev_is_refused_as_for_a_single_run(fixture_root, tmp_path):
    source = _ndjson(tmp_path / "in.ndjson", [{"case": "ok"}])
    with pytest.raises(ImageUnpinnedError):
        run_batch(MIXED, source, env="staging", root=fixture_root, artifacts_root=tmp_path / "a")


@pytest.mark.parametrize("bad", [{"concurrency": 0}, {"concurrency": 257},
                                 {"batch_id": "../up"}, {"batch_id": "x" * 49},
                                 {"adapter": "nowhere"}, {"timeout_s": -1.0}])
def test_bad_batch_options_are_refused_with_err_inputs(fixture_root, tmp_path, bad):
    source = _ndjson(tmp_path / "in.ndjson", [{"case": "ok"}])
    with pytest.raises(InputsError):
        run_batch(MIXED, source, root=fixture_root, artifacts_root=tmp_path / "art", **bad)
    assert not (tmp_path / "art").exists()


def test_a_batch_id_reused_for_other_inputs_is_refused(fixture_root, tmp_path):
    kwargs = {"root": fixture_root, "artifacts_root": tmp_path / "art", "batch_id": "same"}
    run_batch(MIXED, _ndjson(tmp_path / "a.ndjson", [{"case": "ok", "n": 1}]), **kwargs)
    with pytest.raises(InputsError, match="other inputs_sha256"):
        run_batch(MIXED, _ndjson(tmp_path / "b.ndjson", [{"case": "ok", "n": 2}]), **kwargs)
    with pytest.raises(InputsError, match="other processor_ref"):
        run_batch("demo/echo@1", _ndjson(tmp_path / "c.ndjson", [{"case": "ok", "n": 1}]),
                  **kwargs)


def test_a_batch_running_elsewhere_is_refused_not_joined(fixture_root, tmp_path):
    source = _ndjson(tmp_path / "in.ndjson", [{"case": "ok"}])
    folder = BatchFolder.under((tmp_path / "art").resolve(), "busy")
    folder.root.mkdir(parents=True)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with file_lock(folder.lock_path):
            held.set()
            release.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(60)
        with pytest.raises(InputsError, match="being run by another process"):
            run_batch(MIXED, source, root=fixture_root, artifacts_root=tmp_path / "art",
                      batch_id="busy")
    finally:
        release.set()
        holder.join(60)
    assert not (folder.root / "results.ndjson").exists()


def test_progress_reports_every_item_and_a_final_snapshot(fixture_root, tmp_path):
    seen = []
    source = _ndjson(tmp_path / "in.ndjson", [{"case": "ok"}, {"case": "crash"}, {"case": "ok"}])
    run_batch(MIXED, source, root=fixture_root, artifacts_root=tmp_path / "art",
              on_progress=seen.append)
    assert [p.done for p in seen if not p.final] == [1, 2, 3]
    assert seen[-1].final
    assert seen[-1].failed == 1
    assert seen[-1].total == 3


def test_an_execution_id_used_by_another_run_is_kept_and_that_item_refused(fixture_root,
                                                                          tmp_path):
    art = tmp_path / "art"
    foreign = run_processor(MIXED, inputs={"case": "ok"}, artifacts_root=art, root=fixture_root,
                            execution_id="clash-000001")
    receipt = art / "execution" / foreign.execution_id / "determinism.json"
    before = receipt.read_bytes()
    source = _ndjson(tmp_path / "in.ndjson", [{"case": "ok"}, {"case": "ok"}])
    result = run_batch(MIXED, source, root=fixture_root, artifacts_root=art, batch_id="clash")
    items = _items(result)
    assert items[0]["status"] == "success"
    assert items[1]["error"]["code"] == "ERR_INPUTS"
    assert "already used" in items[1]["error"]["message"]
    assert receipt.read_bytes() == before


def test_a_refused_batch_names_its_batch_id(fixture_root, tmp_path):
    source = tmp_path / "in.ndjson"
    source.write_text("[]\n")
    with pytest.raises(InputsError) as caught:
        run_batch(MIXED, source, root=fixture_root, artifacts_root=tmp_path / "art",
                  batch_id="named")
    assert caught.value.meta["batch_id"] == "named"


def test_an_item_writing_beside_its_prefix_fails_as_the_single_run_does(fixture_root, tmp_path):
    """``<prefix>/..`` of an item is the batch's ``items/`` folder: a write there is the same
    breach (``ERR_ADAPTER_INVOCATION``) as ``runs/`` is for a single run, never a success."""
    escape = fixture_ref("write_escape")
    rows = [{"where": "dotdot"}, {"where": "execution"}]
    result = run_batch(escape, _ndjson(tmp_path / "in.ndjson", rows), root=fixture_root,
                       artifacts_root=tmp_path / "art", batch_id="esc", concurrency=1)
    items = _items(result)
    assert [item["status"] for item in items] == ["error", "error"]
    assert {item["error"]["code"] for item in items} == {"ERR_ADAPTER_INVOCATION"}
    assert "batches/esc/items/ESCAPED.txt" in items[0]["error"]["message"]
    assert "extra.txt" in items[1]["error"]["message"]
    for row in rows:
        with pytest.raises(ProcessorRuntimeError) as single:
            run_processor(escape, inputs=row, artifacts_root=tmp_path / "single", root=fixture_root)
        assert single.value.code == "ERR_ADAPTER_INVOCATION"
    assert result.errors == {"ERR_ADAPTER_INVOCATION": 2}
    assert not result.ok
