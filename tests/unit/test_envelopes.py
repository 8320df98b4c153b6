"""Host-side envelope handling: parsing, file checks, receipts, error envelopes."""

import json
import os

import pytest

from runtime.contract.envelope import (
    check_receipts,
    check_success_files,
    error_envelope,
    parse_envelope,
    raise_for_error_envelope,
)
from runtime.contract.wire import Envelope
from runtime.errors import (
    MESSAGE_LIMIT,
    AdapterInvocationError,
    InputsError,
    MissingSecretError,
)
from runtime.kit.hashing import canonical_json, sha256_hex
from runtime.redaction import REDACTED

EID = "ex-unit"


def _line(**overrides):
    envelope = {"status": "success", "execution_id": EID, "outputs": [],
                "index_path": "/p/outputs.json", **overrides}
    return (json.dumps(envelope) + "\n").encode()


# -- parse_envelope: one rejection reason per test ---------------------------------------------

def test_parse_accepts_one_line_with_or_without_trailing_newline():
    assert parse_envelope(_line()).status == "success"
    assert parse_envelope(_line().rstrip(b"\n")).execution_id == EID


@pytest.mark.parametrize(("stdout", "reason"), [
    (b"\xff\xfe{}", "stdout is not valid UTF-8"),
    (b"", "stdout is empty"),
    (b"\n", "stdout is empty"),
    (b"{}\n{}\n", "stdout has 2 lines"),
    (b"hello\n", "stdout is not JSON"),
    (b"[1, 2]\n", "the envelope is not a JSON object"),
    (b'{"execution_id": "x"}\n', "invalid envelope at status"),
    (b'{"status": "done", "execution_id": "x"}\n', "invalid envelope at status"),
    (b'{"status": "success", "execution_id": ""}\n', "invalid envelope at execution_id"),
    (b'{"status": "success", "execution_id": "x", "index_path": "/p/index.json"}\n',
     "must end with '/outputs.json'"),
    (b'{"status": "error", "execution_id": "x"}\n', "needs 'error'"),
    (b'{"status": "success", "execution_id": "x", "index_path": "/p/outputs.json", '
     b'"surprise": 1}\n', "invalid envelope at surprise"),
    (b"[" * 50000 + b"]" * 50000 + b"\n", "stdout JSON nests too deeply"),
    (b'{"status": "success", "execution_id": "x", "index_path": "/p/outputs.json", "meta": '
     b'{"a": ' + b"[" * 40 + b"]" * 40 + b"}}\n", "invalid envelope at meta"),
])
def test_parse_rejects_with_the_reason(stdout, reason):
    with pytest.raises(AdapterInvocationError, match="broke the envelope contract") as caught:
        parse_envelope(stdout)
    assert reason in caught.value.message


def test_parse_rejects_output_paths_outside_outputs():
    item = {"path": "outputs/../x", "sha256": "0" * 64, "size": 1}
    with pytest.raises(AdapterInvocationError, match=r"outputs\.0\.path"):
        parse_envelope(_line(outputs=[item]))


def test_parse_rejection_preview_is_redacted():
    token = "sk-" + "w" * 30
    with pytest.raises(AdapterInvocationError) as caught:
        parse_envelope(f"garbage {token}\n".encode())
    assert token not in caught.value.message


# -- check_success_files -----------------------------------------------------------------------

@pytest.fixture
def prefix(tmp_path):
    root = tmp_path / "prefix"
    (root / "outputs").mkdir(parents=True)
    return root


def _write_run(prefix, files=None, index=None):
    files = {"a.txt": b"hello"} if files is None else files
    items = []
    for name, data in files.items():
        (prefix / "outputs" / name).write_bytes(data)
        items.append({"path": f"outputs/{name}", "sha256": sha256_hex(data), "size": len(data),
                      "media_type": "text/plain"})
    (prefix / "outputs.json").write_text(canonical_json(items if index is None else index))
    return Envelope(status="success", execution_id=EID, outputs=items,
                    index_path=str(prefix / "outputs.json"))


def test_a_truthful_envelope_passes(prefix):
    check_success_files(_write_run(prefix), prefix, EID)


def test_a_relative_index_path_is_taken_under_the_prefix(prefix):
    envelope = _write_run(prefix).model_copy(update={"index_path": "./outputs.json"})
    check_success_files(envelope, prefix, EID)


def test_execution_id_mismatch_is_rejected(prefix):
    with pytest.raises(AdapterInvocationError, match="!= requested"):
        check_success_files(_write_run(prefix), prefix, "ex-other")


@pytest.mark.parametrize("index_path", ["/etc/outputs.json", "{prefix}/../outputs.json",
                                        "{prefix}/outputs/outputs.json"])
def test_index_path_elsewhere_is_rejected(prefix, index_path):
    envelope = _write_run(prefix).model_copy(
        update={"index_path": index_path.format(prefix=prefix)})
    with pytest.raises(AdapterInvocationError, match="resolves outside the write prefix"):
        check_success_files(envelope, prefix, EID)


def test_index_symlinked_outside_is_rejected(prefix, tmp_path):
    envelope = _write_run(prefix)
    outside = tmp_path / "outside.json"
    outside.write_text((prefix / "outputs.json").read_text())
    (prefix / "outputs.json").unlink()
    (prefix / "outputs.json").symlink_to(outside)
    with pytest.raises(AdapterInvocationError, match="resolves outside the write prefix"):
        check_success_files(envelope, prefix, EID)


def test_index_that_is_missing_is_rejected(prefix):
    envelope = _write_run(prefix)
    (prefix / "outputs.json").unlink()
    with pytest.raises(AdapterInvocationError, match="is not a regular file"):
        check_success_files(envelope, prefix, EID)


def test_output_linked_outside_is_rejected(prefix, tmp_path):
    envelope = _write_run(prefix)
    target = tmp_path / "secret.txt"
    target.write_bytes(b"hello")
    (prefix / "outputs" / "a.txt").unlink()
    (prefix / "outputs" / "a.txt").symlink_to(target)
    with pytest.raises(AdapterInvocationError, match="resolves outside"):
        check_success_files(envelope, prefix, EID)


def test_output_with_the_wrong_size_is_rejected(prefix):
    envelope = _write_run(prefix)
    (prefix / "outputs" / "a.txt").write_bytes(b"hello, longer")
    with pytest.raises(AdapterInvocationError, match="missing or has the wrong size"):
        check_success_files(envelope, prefix, EID)


def test_missing_output_is_rejected(prefix):
    envelope = _write_run(prefix)
    (prefix / "outputs" / "a.txt").unlink()
    with pytest.raises(AdapterInvocationError, match="missing or has the wrong size"):
        check_success_files(envelope, prefix, EID)


def test_an_output_reached_through_a_link_inside_the_prefix_is_judged_where_it_lands(prefix):
    # A link that stays inside the prefix is allowed, but an output named through it is where
    # the link leads (here beside outputs/, not in it): the path is resolved, never read as text.
    envelope = _write_run(prefix)
    (prefix / "elsewhere").mkdir()
    (prefix / "elsewhere" / "a.txt").write_bytes(b"hello")
    (prefix / "outputs" / "a.txt").unlink()
    os.symlink("../elsewhere", prefix / "outputs" / "via")
    moved = [{**item.model_dump(), "path": "outputs/via/a.txt"} for item in envelope.outputs]
    (prefix / "outputs.json").write_text(canonical_json(moved))
    through_link = Envelope(status="success", execution_id=EID, outputs=moved,
                            index_path=str(prefix / "outputs.json"))
    with pytest.raises(AdapterInvocationError, match="resolves outside"):
        check_success_files(through_link, prefix, EID)


def test_an_index_named_through_a_link_is_not_a_regular_file(prefix):
    envelope = _write_run(prefix)
    os.symlink("outputs.json", prefix / "alias.json")
    with pytest.raises(AdapterInvocationError, match="is not a regular file"):
        check_success_files(envelope.model_copy(update={"index_path": "alias.json"}), prefix, EID)


def test_a_stray_link_pointing_outside_the_prefix_is_rejected(prefix, tmp_path):
    envelope = _write_run(prefix)
    os.symlink(tmp_path, prefix / "outputs" / "escape")
    with pytest.raises(AdapterInvocationError, match="link pointing outside"):
        check_success_files(envelope, prefix, EID)


def test_an_index_listing_other_outputs_is_rejected(prefix):
    envelope = _write_run(prefix, index=[])
    with pytest.raises(AdapterInvocationError, match="does not list the envelope's outputs"):
        check_success_files(envelope, prefix, EID)


def test_an_unreadable_index_is_rejected(prefix):
    envelope = _write_run(prefix)
    (prefix / "outputs.json").write_text("{not json")
    with pytest.raises(AdapterInvocationError, match=r"outputs\.json is unreadable"):
        check_success_files(envelope, prefix, EID)


# -- receipts ----------------------------------------------------------------------------------

def _receipts(tmp_path, first=b"{}\n", second=b"{}\n"):
    prefix, artifacts = tmp_path / "p", tmp_path / "a"
    (artifacts / "execution" / EID).mkdir(parents=True)
    prefix.mkdir()
    (prefix / "receipt.json").write_bytes(first)
    if second is not None:
        (artifacts / "execution" / EID / "determinism.json").write_bytes(second)
    return prefix, artifacts


def test_identical_receipts_pass(tmp_path):
    assert check_receipts(*_receipts(tmp_path), EID) == "{}\n"


def test_a_missing_determinism_copy_is_rejected(tmp_path):
    with pytest.raises(AdapterInvocationError, match="determinism receipt missing"):
        check_receipts(*_receipts(tmp_path, second=None), EID)


def test_differing_receipt_copies_are_rejected(tmp_path):
    with pytest.raises(AdapterInvocationError, match="differ"):
        check_receipts(*_receipts(tmp_path, second=b'{"x":1}\n'), EID)


# -- error envelopes ---------------------------------------------------------------------------

def _error_env(code, message="m", retryable=False):
    return Envelope(status="error", execution_id=EID,
                    error={"code": code, "message": message, "retryable": retryable})


def test_a_processor_error_envelope_raises_its_canon_class():
    with pytest.raises(InputsError, match=r"inputs\.text: required"):
        raise_for_error_envelope(_error_env("ERR_INPUTS", "inputs.text: required"))
    with pytest.raises(MissingSecretError):
        raise_for_error_envelope(_error_env("ERR_MISSING_SECRET"))


def test_an_unknown_processor_error_code_becomes_adapter_invocation():
    with pytest.raises(AdapterInvocationError):
        raise_for_error_envelope(_error_env("ERR_MADE_UP"))


def test_a_success_envelope_raises_nothing():
    raise_for_error_envelope(Envelope(status="success", execution_id=EID,
                                      index_path="/p/outputs.json"))


def test_error_envelope_bounds_and_redacts_the_message_and_meta():
    token = "sk-" + "k" * 30
    err = AdapterInvocationError("head " + "x" * 5000 + f" {token} the end",
                                 meta={"api_key": "v", "rc": 1})
    envelope = error_envelope(err, execution_id=EID)
    assert envelope.status == "error"
    assert envelope.error is not None
    assert len(envelope.error.message) <= MESSAGE_LIMIT
    assert envelope.error.message.startswith("head ")
    assert envelope.error.message.endswith("the end")
    assert token not in envelope.error.message
    assert envelope.meta == {"api_key": REDACTED, "rc": 1}
    assert envelope.outputs == []
    assert envelope.index_path == ""


def test_error_envelope_serialises_to_one_line():
    line = error_envelope(InputsError("multi\nline"), execution_id=EID).to_line()
    assert "\n" not in line
    assert json.loads(line)["error"]["message"] == "multi\nline"
