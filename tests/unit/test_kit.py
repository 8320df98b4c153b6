"""The processor kit: confined atomic writes and ``serve``'s envelope and exit codes."""

import io
import json
import os
import sys
from pathlib import Path

import pytest

from runtime.kit import Context, KitError, serve
from runtime.kit.files import UnsafePathError, atomic_write, safe_join


@pytest.mark.parametrize("relative", ["", "/etc/passwd", "../x", "a/../../x", "a//b", "./a",
                                      "a\0b"])
def test_safe_join_refuses_escaping_or_empty_parts(tmp_path, relative):
    with pytest.raises(UnsafePathError):
        safe_join(tmp_path, relative)


def test_safe_join_accepts_nested_relative_paths(tmp_path):
    assert safe_join(tmp_path, "a/b.txt") == tmp_path / "a" / "b.txt"


def test_atomic_write_replaces_whole_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "f.txt"
    atomic_write(target, b"one", tmp_path)
    atomic_write(target, b"two", tmp_path)
    assert target.read_bytes() == b"two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]


def test_an_unconfined_atomic_write_makes_its_missing_folder_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "a" / "b" / "f.txt"
    atomic_write(target, b"one", None)
    atomic_write(target, b"two", None)
    assert target.read_bytes() == b"two"
    assert sorted(p.name for p in target.parent.iterdir()) == ["f.txt"]


def test_an_unconfined_atomic_write_under_a_file_fails_and_writes_nothing(tmp_path):
    (tmp_path / "plain").write_bytes(b"a file")
    with pytest.raises(NotADirectoryError):
        atomic_write(tmp_path / "plain" / "f.txt", b"x", None)
    assert (tmp_path / "plain").read_bytes() == b"a file"


def test_atomic_write_refuses_a_folder_linked_outside(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    os.symlink(outside, root / "outputs")
    with pytest.raises(UnsafePathError, match="through a symlink"):
        atomic_write(root / "outputs" / "f.txt", b"x", root)
    assert not list(outside.iterdir())


def test_atomic_write_replaces_a_link_instead_of_writing_through_it(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"original")
    (tmp_path / "root").mkdir()
    link = tmp_path / "root" / "f.txt"
    link.symlink_to(victim)
    atomic_write(link, b"new", tmp_path / "root")
    assert victim.read_bytes() == b"original"
    assert not link.is_symlink()


def _payload(tmp_path, **overrides):
    return {"execution_id": "ex-kit", "ref": "demo/echo@1", "mode": "mock", "inputs": {},
            "write_prefix": str(tmp_path / "prefix"), "artifacts_root": str(tmp_path / "art"),
            **overrides}


def test_context_refuses_an_output_path_outside_outputs(tmp_path):
    ctx = Context(_payload(tmp_path), tmp_path, io.StringIO())
    with pytest.raises(KitError) as caught:
        ctx.write_text("../escape.txt", "x")
    assert caught.value.code == "ERR_ADAPTER_INVOCATION"


def test_require_names_the_field_and_the_rule(tmp_path):
    ctx = Context(_payload(tmp_path, inputs={"n": True}), tmp_path, io.StringIO())
    with pytest.raises(KitError, match=r"inputs\.n: must be int"):
        ctx.require("n", int)
    with pytest.raises(KitError, match=r"inputs\.text: required"):
        ctx.require("text", str)


def _serve(monkeypatch, stdin: bytes, handle):
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    rc = serve(handle, code_root=Path(__file__).resolve().parent)
    return rc, out.getvalue(), err.getvalue()


def test_serve_prints_one_success_envelope_and_keeps_handler_prints_off_stdout(
        monkeypatch, tmp_path):
    def handle(ctx):
        print("chatter from the handler")
        ctx.write_text("a.txt", "a")

    rc, out, err = _serve(monkeypatch, json.dumps(_payload(tmp_path)).encode(), handle)
    assert rc == 0
    assert len(out.splitlines()) == 1
    assert json.loads(out)["status"] == "success"
    assert "chatter from the handler" in err


def test_serve_reports_a_kit_error_as_an_error_envelope_with_rc_2(monkeypatch, tmp_path):
    def handle(ctx):
        ctx.require("text", str)

    rc, out, _ = _serve(monkeypatch, json.dumps(_payload(tmp_path)).encode(), handle)
    assert rc == 2
    assert json.loads(out)["error"] == {"code": "ERR_INPUTS", "message": "inputs.text: required",
                                        "retryable": False}


@pytest.mark.parametrize("stdin", [b"not json", b"[]", b'{"execution_id": "x"}'])
def test_serve_refuses_a_bad_payload_with_err_inputs(monkeypatch, stdin):
    rc, out, _ = _serve(monkeypatch, stdin, lambda ctx: None)
    assert rc == 2
    assert json.loads(out)["error"]["code"] == "ERR_INPUTS"


def test_serve_crash_prints_nothing_on_stdout_and_exits_1(monkeypatch, tmp_path):
    def handle(ctx):
        raise RuntimeError("boom")

    rc, out, err = _serve(monkeypatch, json.dumps(_payload(tmp_path)).encode(), handle)
    assert rc == 1
    assert out == ""
    assert "RuntimeError: boom" in err


def test_remove_partial_writes_drops_only_interrupted_temp_files(tmp_path):
    from runtime.kit.files import remove_partial_writes

    (tmp_path / "outputs").mkdir()
    stray = tmp_path / "outputs" / ".big.bin.abc123.tmp"
    stray.write_bytes(b"half")
    kept = [tmp_path / "outputs" / "big.tmp", tmp_path / "outputs" / ".hidden", tmp_path / "a.txt"]
    for path in kept:
        path.write_text("keep")
    assert remove_partial_writes(tmp_path) == [stray]
    assert all(path.exists() for path in kept)
