"""Pure rules of the supply chain: error classification, targets, digests, hash-locked wheels."""

from __future__ import annotations

import hashlib

import pytest

from runtime.errors import InputsError
from runtime.images.build import parse_lock, select_wheels, split_target
from runtime.images.engine import is_transient_message
from runtime.images.oci import check_digest, shown_reference, split_pin_reference, split_repository


@pytest.mark.parametrize("text", [
    'Get "http://127.0.0.1:5999/v2/": dial tcp 127.0.0.1:5999: connect: connection refused',
    "received unexpected HTTP status: 503 Service Unavailable",
    "toomanyrequests: slow down",
    "net/http: TLS handshake timeout",
])
def test_transient_registry_messages_are_retried(text):
    assert is_transient_message(text)


@pytest.mark.parametrize("text", [
    "unauthorized: authentication required",
    "denied: requested access to the resource is denied",
    "tag does not exist: 127.0.0.1:5000/x:doesnotexist",
    "no space left on device",
    "manifest unknown",
])
def test_permanent_registry_messages_are_not_retried(text):
    assert not is_transient_message(text)


def test_split_target_defaults_the_tag():
    assert split_target("127.0.0.1:5000/a/b", "v1") == ("127.0.0.1:5000/a/b", "v1")


def test_split_target_keeps_an_explicit_tag_and_the_port():
    assert split_target("127.0.0.1:5000/a/b:rc1", "v1") == ("127.0.0.1:5000/a/b", "rc1")


def test_split_target_refuses_a_digest_reference():
    with pytest.raises(InputsError):
        split_target("127.0.0.1:5000/a/b@sha256:" + "0" * 64, "v1")


def test_unqualified_repository_is_refused():
    with pytest.raises(InputsError, match="fully qualified"):
        split_repository("demo/echo")


@pytest.mark.parametrize("digest", ["sha256:abc", "sha512:" + "0" * 64, "SHA256:" + "0" * 64, ""])
def test_malformed_digest_is_refused(digest):
    with pytest.raises(InputsError):
        check_digest(digest)


def test_lock_requires_a_hash_on_every_requirement(tmp_path):
    lock = tmp_path / "requirements.lock"
    lock.write_text("tinydep==1.0\n")
    with pytest.raises(InputsError, match="hash-locked"):
        parse_lock(lock)


def test_lock_accepts_continuation_lines_and_comments(tmp_path):
    lock = tmp_path / "requirements.lock"
    lock.write_text("# pinned\ntinydep==1.0 \\\n    --hash=sha256:" + "a" * 64 + "\n")
    [requirement] = parse_lock(lock)
    assert (requirement.name, requirement.version, requirement.hashes) == ("tinydep", "1.0",
                                                                            ("a" * 64,))


def _wheelhouse(tmp_path, name="tinydep-1.0-py3-none-any.whl", data=b"wheel bytes"):
    house = tmp_path / "wheelhouse"
    house.mkdir()
    (house / name).write_bytes(data)
    return house


def test_wheel_with_a_matching_hash_is_selected(tmp_path):
    house = _wheelhouse(tmp_path)
    lock = tmp_path / "requirements.lock"
    lock.write_text(f"tinydep==1.0 --hash=sha256:{hashlib.sha256(b'wheel bytes').hexdigest()}\n")
    assert [w.name for w in select_wheels(parse_lock(lock), house)] == [
        "tinydep-1.0-py3-none-any.whl"]


def test_wheel_with_another_hash_is_refused(tmp_path):
    house = _wheelhouse(tmp_path)
    lock = tmp_path / "requirements.lock"
    lock.write_text("tinydep==1.0 --hash=sha256:" + "0" * 64 + "\n")
    with pytest.raises(InputsError, match="does not match"):
        select_wheels(parse_lock(lock), house)


def test_platform_wheel_is_refused(tmp_path):
    data = b"binary wheel"
    house = _wheelhouse(tmp_path, "tinydep-1.0-cp311-cp311-manylinux_2_17_x86_64.whl", data)
    lock = tmp_path / "requirements.lock"
    lock.write_text(f"tinydep==1.0 --hash=sha256:{hashlib.sha256(data).hexdigest()}\n")
    with pytest.raises(InputsError, match="pure-python"):
        select_wheels(parse_lock(lock), house)


def test_missing_wheel_is_refused(tmp_path):
    lock = tmp_path / "requirements.lock"
    lock.write_text("tinydep==1.0 --hash=sha256:" + "0" * 64 + "\n")
    with pytest.raises(InputsError, match="pre-download"):
        select_wheels(parse_lock(lock), tmp_path / "nowhere")


DIGEST = "sha256:" + "ab" * 32


def test_a_bare_digest_pins_without_a_repository():
    assert split_pin_reference(f" {DIGEST}\n") == (None, DIGEST)


def test_the_reference_push_processor_prints_splits_into_repository_and_digest():
    reference = f"127.0.0.1:5000/processors/demo/echo@{DIGEST}"
    assert split_pin_reference(reference) == ("127.0.0.1:5000/processors/demo/echo", DIGEST)


@pytest.mark.parametrize("value", [f"@{DIGEST}", "127.0.0.1:5000/a/b@sha256:abc",
                                   f"demo/echo@{DIGEST}", "127.0.0.1:5000/a/b:v1", ""])
def test_a_malformed_pin_reference_is_refused(value):
    with pytest.raises(InputsError):
        split_pin_reference(value)


def test_the_refusal_shows_the_whole_reference_never_cut_mid_digest():
    reference = "127.0.0.1:5000/processors/demo/echo@sha256:" + "0" * 63 + "Z"
    with pytest.raises(InputsError) as caught:
        split_pin_reference(reference)
    assert repr(reference) in str(caught.value)


def test_an_overlong_reference_keeps_its_digest_whole_in_the_message():
    reference = "127.0.0.1:5000/" + "a" * 400 + "@sha256:" + "0" * 63 + "Z"
    shown = shown_reference(reference)
    assert len(shown) < len(reference)
    assert shown.endswith("@sha256:" + "0" * 63 + "Z")
