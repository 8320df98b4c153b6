"""Fuzzing the envelope validator: random bytes and JSON never crash it with anything but
``ERR_ADAPTER_INVOCATION``, and only well-formed envelopes pass."""

from __future__ import annotations

import json
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.contract.envelope import parse_envelope
from runtime.contract.wire import Envelope
from runtime.errors import AdapterInvocationError

JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                         st.text(max_size=20))
JSON = st.recursive(JSON_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=20)
HEX = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
SEGMENT = st.text(alphabet=string.ascii_letters + string.digits + "_-", min_size=1, max_size=8)
OUTPUT = st.fixed_dictionaries({
    "path": st.lists(SEGMENT, min_size=1, max_size=3).map(lambda p: "outputs/" + "/".join(p)),
    "sha256": HEX, "size": st.integers(min_value=0, max_value=2**40),
    "media_type": st.sampled_from(["text/plain", "application/json"])})
META = st.dictionaries(st.text(max_size=10), JSON_SCALARS, max_size=4)
SUCCESS = st.fixed_dictionaries({
    "status": st.just("success"), "execution_id": st.text(min_size=1, max_size=20),
    "outputs": st.lists(OUTPUT, max_size=3),
    "index_path": st.lists(SEGMENT, max_size=3).map(lambda p: "/" + "/".join(
        [*p, "outputs.json"])),
    "meta": META})
ERROR = st.fixed_dictionaries({
    "status": st.just("error"), "execution_id": st.text(min_size=1, max_size=20),
    "outputs": st.just([]), "index_path": st.just(""),
    "error": st.fixed_dictionaries({
        "code": st.from_regex(r"\AERR_[A-Z_]{1,20}\Z"), "message": st.text(max_size=200),
        "retryable": st.booleans()}),
    "meta": META})
VALID = st.one_of(SUCCESS, ERROR)
# Valid envelopes with one field broken: a wrong type, a missing key or an unknown key.
BROKEN = st.tuples(VALID, st.sampled_from(["status", "execution_id", "outputs", "index_path",
                                           "error", "meta", "extra"]), JSON)
NEST = st.integers(min_value=1, max_value=200_000)


def _line(value: object) -> bytes:
    return (json.dumps(value) + "\n").encode("utf-8", "surrogatepass")


def _parse_or_reject(data: bytes) -> Envelope | None:
    try:
        return parse_envelope(data)
    except AdapterInvocationError as exc:  # any other exception fails the test
        rejected = exc
    assert rejected.code == "ERR_ADAPTER_INVOCATION"
    assert "envelope contract" in rejected.message
    return None


@given(st.binary(max_size=512))
def test_random_bytes_are_rejected_or_parsed_never_crash(data):
    _parse_or_reject(data)


@given(JSON)
def test_random_json_is_rejected_or_parsed_never_crash(value):
    _parse_or_reject(_line(value))


@given(VALID)
def test_every_valid_envelope_passes(value):
    envelope = _parse_or_reject(_line(value))
    assert envelope is not None
    assert envelope.status == value["status"]


@given(BROKEN)
def test_an_envelope_with_a_broken_field_is_rejected(case):
    value, key, replacement = case
    broken = dict(value)
    if key == "extra":
        broken["unexpected"] = replacement
    elif key in broken and (replacement is None or not isinstance(replacement, type(broken[key]))
                            ) and not (key == "error" and value["status"] == "success"):
        broken[key] = replacement
    else:
        broken.pop(key, None)
        if key in ("outputs", "index_path", "meta") or (key == "error"
                                                         and value["status"] == "success"):
            return  # optional fields: leaving them out is still a valid envelope
    assert _parse_or_reject(_line(broken)) is None


@settings(max_examples=20, suppress_health_check=[HealthCheck.too_slow])
@given(NEST, st.sampled_from(["[", '{"a":']))
def test_deeply_nested_json_is_rejected_not_a_recursion_crash(depth, opener):
    closer = "]" if opener == "[" else "}"
    _parse_or_reject((opener * depth + "1" + closer * depth).encode())


@given(st.text(max_size=40), VALID)
def test_a_valid_envelope_followed_by_anything_on_a_second_line_is_rejected(tail, value):
    data = _line(value) + tail.encode("utf-8", "surrogatepass")
    if tail.strip("\n") == "" and tail.count("\n") <= 0:
        return
    assert _parse_or_reject(data) is None
