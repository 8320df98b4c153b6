"""What a source-run child wrote beside its prefix is found the same way whether the folders are
listed before and after or watched with inotify (a large ``execution/`` after a big batch)."""

import os
import shutil
import struct

import pytest

from runtime import _dirwatch
from runtime.adapters.outcome import WATCH_ABOVE_BYTES, Confinement

EID = "ex-" + "a" * 32
OTHER = "ex-" + "b" * 32


@pytest.fixture
def root(tmp_path):
    artifacts = tmp_path / "artifacts"
    (artifacts / "runs" / EID).mkdir(parents=True)
    (artifacts / "execution" / EID).mkdir(parents=True)
    (artifacts / "keep.txt").write_text("there before the run")
    return artifacts


@pytest.fixture(params=[False, True], ids=["listed", "watched"])
def watch(request):
    return request.param


def _confine(root, watch):
    confinement = Confinement(root, EID, watch=watch)
    assert (confinement._watch is not None) is watch
    return confinement


def _escapes(confinement):
    try:
        return confinement.escapes()
    finally:
        confinement.close()


def test_a_child_that_stays_in_its_prefix_escapes_nothing(root, watch):
    confinement = _confine(root, watch)
    (root / "runs" / EID / "outputs.json").write_text("[]")
    (root / "execution" / EID / "determinism.json").write_text("{}")
    assert _escapes(confinement) == []


def test_stray_writes_beside_the_prefix_are_named(root, watch):
    confinement = _confine(root, watch)
    (root / "ESCAPED.txt").write_text("x")
    (root / "runs" / "loose.txt").write_text("x")
    (root / "execution" / OTHER).write_text("an id-shaped file, not a run's folder")
    (root / "execution" / EID / "extra.json").write_text("x")
    assert sorted(_escapes(confinement)) == sorted([
        "ESCAPED.txt", "runs/loose.txt", f"execution/{OTHER}", f"execution/{EID}/extra.json"])


def test_another_runs_folders_are_not_an_escape(root, watch):
    confinement = _confine(root, watch)
    (root / "runs" / OTHER).mkdir()
    (root / "execution" / OTHER).mkdir()
    assert _escapes(confinement) == []


def test_an_id_shaped_link_is_an_escape(root, watch, tmp_path):
    confinement = _confine(root, watch)
    os.symlink(tmp_path, root / "execution" / OTHER)
    assert _escapes(confinement) == [f"execution/{OTHER}"]


def test_a_name_created_and_removed_during_the_run_is_not_reported(root, watch):
    confinement = _confine(root, watch)
    (root / "runs" / "tmp.txt").write_text("x")
    (root / "runs" / "tmp.txt").unlink()
    (root / "moved-in.txt").write_text("x")
    os.rename(root / "moved-in.txt", root / "runs" / EID / "moved-in.txt")
    assert _escapes(confinement) == []


def test_a_name_moved_in_from_elsewhere_is_an_escape(root, watch, tmp_path):
    (tmp_path / "outside.txt").write_text("x")
    confinement = _confine(root, watch)
    os.rename(tmp_path / "outside.txt", root / "execution" / "outside.txt")
    assert _escapes(confinement) == ["execution/outside.txt"]


def test_a_watched_folder_replaced_during_the_run_is_reported_not_trusted(root):
    confinement = _confine(root, True)
    os.rename(root / "execution", root / "execution.old")
    (root / "execution" / EID).mkdir(parents=True)
    (root / "execution" / "stray.txt").write_text("unseen by the old watch")
    escaped = _escapes(confinement)
    assert "execution (moved, removed or too busy to watch)" in escaped
    assert "execution.old" in escaped


def test_an_overflowed_queue_makes_every_watched_folder_doubtful(root):
    confinement = _confine(root, True)
    try:
        overflow = struct.pack("iIII", -1, _dirwatch.IN_Q_OVERFLOW, 0, 0)
        confinement._watch._watcher._dispatch(overflow)
        assert sorted(confinement.escapes()) == sorted(
            f"{area} (moved, removed or too busy to watch)" for area in (".", "runs", "execution"))
    finally:
        confinement.close()


def test_a_large_execution_folder_is_watched_and_a_small_one_listed(root):
    small = Confinement(root, EID)
    try:
        assert small._watch is None
    finally:
        small.close()
    index = 0
    while os.stat(root / "execution").st_size <= WATCH_ABOVE_BYTES:
        for _ in range(500):
            (root / "execution" / f"ex-{index:032x}").mkdir()
            index += 1
    large = Confinement(root, EID)
    try:
        assert large._watch is not None
        assert (root / "execution") not in large._before
        (root / "execution" / "stray.txt").write_text("x")
        assert large.escapes() == ["execution/stray.txt"]
    finally:
        large.close()
        shutil.rmtree(root / "execution")


def test_a_folder_missing_before_the_run_is_listed_after_it(tmp_path, watch):
    root = tmp_path / "bare"
    root.mkdir()
    confinement = Confinement(root, EID, watch=watch)
    (root / "runs").mkdir()
    (root / "runs" / "stray.txt").write_text("x")
    assert _escapes(confinement) == ["runs/stray.txt"]


def test_close_twice_is_harmless(root):
    confinement = _confine(root, True)
    confinement.close()
    confinement.close()


def test_every_folder_between_a_prefix_of_its_own_and_the_root_is_covered(root, watch):
    """A batch item's prefix is ``batches/<id>/items/<eid>``: its ``..`` is ``items/``, its
    ``../..`` the batch folder, and both are as reachable as ``runs/`` is for a default prefix."""
    prefix = root / "batches" / "b1" / "items" / EID
    prefix.mkdir(parents=True)
    (root / "batches" / "b1" / "results.ndjson").write_text("")
    confinement = Confinement(root, EID, prefix=prefix, watch=watch)
    (prefix / "outputs.json").write_text("[]")
    (root / "batches" / "b1" / "items" / OTHER).mkdir()  # another item of the batch
    (root / "batches" / "b2").mkdir()  # another batch starting beside this one
    (root / "batches" / "b1" / "items" / "ESCAPED.txt").write_text("x")
    (root / "batches" / "b1" / "ESCAPED.txt").write_text("x")
    (root / "batches" / "loose.txt").write_text("x")
    assert sorted(_escapes(confinement)) == sorted([
        "batches/b1/items/ESCAPED.txt", "batches/b1/ESCAPED.txt", "batches/loose.txt"])


def test_a_prefix_outside_the_root_adds_no_folder(root, tmp_path, watch):
    outside = tmp_path / "elsewhere" / EID
    outside.mkdir(parents=True)
    confinement = Confinement(root, EID, prefix=outside, watch=watch)
    try:
        assert confinement._areas == (root, root / "runs", root / "execution")
    finally:
        confinement.close()


def test_the_runtime_may_create_its_batches_folder_beside_a_run(root, watch):
    confinement = _confine(root, watch)
    (root / "batches").mkdir()
    assert _escapes(confinement) == []
