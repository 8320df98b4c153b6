"""The batch folder: item ids, the manifest, result verification, the receipt chain, progress."""

from __future__ import annotations

import io
import json
import threading

import pytest

from runtime.batch.progress import NdjsonProgress, Progress, TerminalProgress, status_line
from runtime.batch.store import BatchFolder, ItemsWriter, ReceiptChain, check_batch_id, new_batch_id
from runtime.contract.wire import EXECUTION_ID_RE
from runtime.errors import InputsError
from runtime.kit.hashing import canonical_json, sha256_hex

REF, MODE = "demo/echo@1", "mock"


def test_item_ids_derive_from_the_batch_id_and_index_and_are_execution_ids(tmp_path):
    folder = BatchFolder.under(tmp_path, "b" * 48)
    assert folder.item_id(7) == "b" * 48 + "-000007"
    assert EXECUTION_ID_RE.fullmatch(folder.item_id(10**9))
    assert BatchFolder.under(tmp_path, "x").item_id(3) == BatchFolder.under(tmp_path, "x").item_id(3)


def test_fresh_batch_ids_are_valid_and_distinct():
    ids = {check_batch_id(new_batch_id()) for _ in range(5)}
    assert len(ids) == 5


@pytest.mark.parametrize("bad", ["", "-lead", "a/b", "a" * 49, "sp ace", "ok\n"])
def test_bad_batch_ids_are_refused(bad):
    with pytest.raises(InputsError):
        check_batch_id(bad)


def test_claim_records_the_manifest_then_accepts_only_the_same_batch(tmp_path):
    folder = BatchFolder.under(tmp_path, "m")
    manifest = {"batch_id": "m", "processor_ref": REF, "mode": MODE, "items": 2}
    assert folder.claim(manifest) is False
    assert folder.claim(manifest) is True
    with pytest.raises(InputsError, match="other items, mode"):
        folder.claim({**manifest, "mode": "real", "items": 3})


def test_an_unreadable_manifest_is_refused(tmp_path):
    folder = BatchFolder.under(tmp_path, "m")
    folder.root.mkdir(parents=True)
    folder.manifest_path.write_text("{half")
    with pytest.raises(InputsError, match="unreadable"):
        folder.claim({"batch_id": "m"})


def _finished_item(folder: BatchFolder, index: int, inputs: dict, record: bool = True) -> str:
    """Lay out what a successful item leaves: outputs, index, both receipts, the result line."""
    eid = folder.item_id(index)
    prefix = folder.item_prefix(eid)
    (prefix / "outputs").mkdir(parents=True)
    data = b"hello\n"
    (prefix / "outputs" / "echo.txt").write_bytes(data)
    outputs = [{"path": "outputs/echo.txt", "sha256": sha256_hex(data)}]
    receipt = canonical_json({"execution_id": eid, "processor_ref": REF, "mode": MODE,
                              "inputs_sha256": sha256_hex(canonical_json(inputs)),
                              "outputs": outputs}) + "\n"
    (prefix / "receipt.json").write_text(receipt)
    folder.execution_dir(eid).mkdir(parents=True)
    (folder.execution_dir(eid) / "determinism.json").write_text(receipt)
    (prefix / "outputs.json").write_text("[]")
    envelope = {"status": "success", "execution_id": eid, "outputs": [],
                "index_path": str(prefix / "outputs.json"), "meta": {}}
    if record:
        folder.record_result(eid, json.dumps(envelope))
    return eid


def _verify(folder, eid, inputs):
    return folder.verified_result(eid, REF, MODE, lambda: sha256_hex(canonical_json(inputs)))


def test_a_finished_item_verifies(tmp_path):
    folder = BatchFolder.under(tmp_path, "v")
    eid = _finished_item(folder, 0, {"a": 1})
    found = _verify(folder, eid, {"a": 1})
    assert found is not None
    assert found[1] == sha256_hex((folder.item_prefix(eid) / "receipt.json").read_bytes())


def test_other_inputs_do_not_verify(tmp_path):
    folder = BatchFolder.under(tmp_path, "v")
    eid = _finished_item(folder, 0, {"a": 1})
    assert _verify(folder, eid, {"a": 2}) is None


def test_a_changed_output_does_not_verify(tmp_path):
    folder = BatchFolder.under(tmp_path, "v")
    eid = _finished_item(folder, 0, {"a": 1})
    (folder.item_prefix(eid) / "outputs" / "echo.txt").write_bytes(b"other\n")
    assert _verify(folder, eid, {"a": 1}) is None


def test_differing_receipt_copies_do_not_verify(tmp_path):
    folder = BatchFolder.under(tmp_path, "v")
    eid = _finished_item(folder, 0, {"a": 1})
    (folder.execution_dir(eid) / "determinism.json").write_text("{}\n")
    assert _verify(folder, eid, {"a": 1}) is None


def test_an_output_linked_outside_the_prefix_does_not_verify(tmp_path):
    folder = BatchFolder.under(tmp_path, "v")
    eid = _finished_item(folder, 0, {"a": 1})
    target = folder.item_prefix(eid) / "outputs" / "echo.txt"
    outside = tmp_path / "outside.txt"
    outside.write_bytes(target.read_bytes())
    target.unlink()
    target.symlink_to(outside)
    assert _verify(folder, eid, {"a": 1}) is None


def test_a_recorded_error_or_a_missing_result_does_not_verify(tmp_path):
    folder = BatchFolder.under(tmp_path, "v")
    assert _verify(folder, folder.item_id(0), {}) is None
    eid = _finished_item(folder, 1, {})
    folder.record_result(eid, json.dumps({"status": "error", "execution_id": eid, "error": {
        "code": "ERR_INPUTS", "message": "x", "retryable": False}}))
    assert _verify(folder, eid, {}) is None
    folder.record_result(eid, "{torn")
    assert _verify(folder, eid, {}) is None


def test_reset_item_removes_every_trace_of_an_attempt(tmp_path):
    folder = BatchFolder.under(tmp_path, "r")
    eid = _finished_item(folder, 0, {})
    folder.reset_item(eid)
    assert not folder.item_prefix(eid).exists()
    assert not folder.execution_dir(eid).exists()
    assert folder.journal.line(0) is None
    assert BatchFolder.under(tmp_path, "r").journal.line(0) is None  # as the next run reads it


def test_a_result_recorded_before_a_reset_never_verifies_the_next_attempts_files(tmp_path):
    # The item ran again and its child wrote new receipts, but the batch was killed before the
    # new result was journalled: the old line must not pass for the new attempt's.
    folder = BatchFolder.under(tmp_path, "s")
    eid = _finished_item(folder, 0, {"a": 1})
    folder.reset_item(eid)
    _finished_item(folder, 0, {"a": 1}, record=False)  # the new attempt's files, no line yet
    folder.journal.close()
    assert _verify(BatchFolder.under(tmp_path, "s"), eid, {"a": 1}) is None


def test_the_journal_keeps_the_latest_line_of_each_item_across_readers(tmp_path):
    folder = BatchFolder.under(tmp_path, "j")
    folder.journal.append(0, '{"n":0}')
    folder.journal.append(2, '{"n":2}')
    folder.journal.append(0, '{"n":"0 again"}')
    assert folder.journal.line(0) == '{"n":"0 again"}'
    folder.journal.close()
    reader = BatchFolder.under(tmp_path, "j").journal
    assert [reader.line(i) for i in range(4)] == ['{"n":"0 again"}', None, '{"n":2}', None]
    with pytest.raises(ValueError, match="no newline"):
        reader.append(1, "two\nlines")


def test_a_torn_last_line_is_cut_and_the_next_line_stands_on_its_own(tmp_path):
    folder = BatchFolder.under(tmp_path, "t")
    folder.journal.append(0, '{"n":0}')
    folder.journal.close()
    with (folder.root / "results.ndjson").open("ab") as handle:
        handle.write(b'1\t{"n":')  # a power cut mid-line
    resumed = BatchFolder.under(tmp_path, "t").journal
    assert resumed.line(1) is None
    assert resumed.line(0) == '{"n":0}'
    resumed.append(2, '{"n":2}')
    resumed.close()
    assert (folder.root / "results.ndjson").read_bytes() == b'0\t{"n":0}\n2\t{"n":2}\n'
    assert BatchFolder.under(tmp_path, "t").journal.line(2) == '{"n":2}'


def test_items_settling_at_once_journal_whole_lines(tmp_path):
    folder = BatchFolder.under(tmp_path, "p")
    line = json.dumps({"pad": "x" * 5000})

    def settle(first: int) -> None:
        for index in range(first, 400, 4):
            folder.journal.append(index, line)

    threads = [threading.Thread(target=settle, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    folder.journal.close()
    reader = BatchFolder.under(tmp_path, "p").journal
    assert all(reader.line(index) == line for index in range(400))


def test_an_id_of_another_batch_has_no_index_here(tmp_path):
    folder = BatchFolder.under(tmp_path, "a-b")
    assert folder.item_index(folder.item_id(12)) == 12
    for other in ("a-000001", "a-b-x", "zz-b-000001"):
        with pytest.raises(ValueError, match="not an item id"):
            folder.item_index(other)


def test_reset_item_drops_an_empty_claim_a_kill_left_without_its_prefix(tmp_path):
    # SIGKILL between run_processor's claim of the id and its write prefix: an empty execution
    # folder, no prefix. Resuming must run the item, not refuse its id as taken.
    folder = BatchFolder.under(tmp_path, "k")
    eid = "k-000003"
    folder.execution_dir(eid).mkdir(parents=True)
    folder.reset_item(eid)
    assert not folder.execution_dir(eid).exists()


def test_reset_item_keeps_another_runs_execution_folder_that_holds_anything(tmp_path):
    folder = BatchFolder.under(tmp_path, "k")
    eid = "k-000004"
    folder.execution_dir(eid).mkdir(parents=True)
    (folder.execution_dir(eid) / "determinism.json").write_text("{}")
    folder.reset_item(eid)
    assert (folder.execution_dir(eid) / "determinism.json").read_text() == "{}"


def test_the_receipt_chain_depends_on_order_and_on_each_entry():
    def chain(entries):
        built = ReceiptChain()
        for entry in entries:
            built.add(*entry)
        return built.receipt({"batch_id": "c"}, {}, {})["item_receipts_sha256"]

    a = (0, "c-000000", "aa", None)
    b = (1, "c-000001", None, "ERR_INPUTS")
    assert chain([a, b]) == chain([a, b])
    assert chain([a, b]) != chain([b, a])
    assert chain([a, b]) != chain([a, (1, "c-000001", None, "ERR_CI_SAFETY")])


def test_items_writer_replaces_the_file_only_on_commit(tmp_path):
    folder = BatchFolder.under(tmp_path, "w")
    folder.root.mkdir(parents=True)
    folder.items_path.write_text("old\n")
    writer = ItemsWriter(folder)
    writer.append("new")
    assert folder.items_path.read_text() == "old\n"
    writer.commit()
    assert folder.items_path.read_text() == "new\n"
    discarded = ItemsWriter(folder)
    discarded.append("lost")
    discarded.discard()
    assert folder.items_path.read_text() == "new\n"
    assert sorted(p.name for p in folder.root.iterdir()) == ["items.ndjson"]


def test_items_writer_removes_a_temp_file_left_by_a_killed_run(tmp_path):
    folder = BatchFolder.under(tmp_path, "w")
    folder.root.mkdir(parents=True)
    stale = folder.root / ".items.ndjson.abc123.tmp"
    stale.write_text("half")
    ItemsWriter(folder).discard()
    assert not stale.exists()


def test_progress_rate_and_eta_leave_reused_items_out():
    progress = Progress("b", total=100, done=60, failed=2, reused=50, elapsed_s=5.0)
    assert progress.rate == pytest.approx(2.0)
    assert progress.eta_s == pytest.approx(20.0)
    assert Progress("b", 10, 0, 0, 0, 1.0).eta_s is None


def test_status_line_shows_done_failed_rate_and_eta():
    line = status_line(Progress("b-1", total=100, done=40, failed=3, reused=0, elapsed_s=10.0))
    assert line == "batch b-1: 40/100 done, 3 failed, 4.0/s, ETA 0m15s"


def test_terminal_progress_redraws_one_line_and_ends_it():
    stream = io.StringIO()
    sink = TerminalProgress(stream, interval_s=3600)
    sink(Progress("b", 2, 1, 0, 0, 1.0))
    sink(Progress("b", 2, 2, 0, 0, 1.0))  # throttled
    sink(Progress("b", 2, 2, 0, 0, 1.0, final=True))
    text = stream.getvalue()
    assert text.count("\r") == 2
    assert text.endswith("2/2 done, 0 failed, 2.0/s, ETA 0m00s\n")


def test_ndjson_progress_is_one_json_object_per_line_and_always_the_last():
    stream = io.StringIO()
    sink = NdjsonProgress(stream, interval_s=3600)
    sink(Progress("b", 3, 1, 1, 0, 1.0))
    sink(Progress("b", 3, 2, 1, 0, 1.0))  # throttled
    sink(Progress("b", 3, 3, 1, 0, 1.0, final=True))
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(e["event"], e["done"], e["final"]) for e in events] == [
        ("batch.progress", 1, False), ("batch.progress", 3, True)]
