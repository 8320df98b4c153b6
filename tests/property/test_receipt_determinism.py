"""Same inputs + same code ⇒ the same receipt hashes (SPEC §6), across real runs."""

import json
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.runner import run_processor
from tests.helpers import ROOT

HASHES = ("inputs_sha256", "outputs_sha256", "code_sha256", "env_fingerprint", "outputs")

scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=16))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)
inputs_strategy = st.dictionaries(st.text(max_size=8), values, max_size=4)


def _receipt(inputs: dict, artifacts: Path) -> dict:
    envelope = run_processor("demo/echo@1", inputs=inputs, artifacts_root=artifacts, root=ROOT)
    prefix = Path(envelope.index_path).parent
    return json.loads((prefix / "receipt.json").read_text())


@settings(max_examples=15, deadline=None)
@given(inputs_strategy)
def test_same_inputs_give_identical_receipt_hashes(inputs):
    with tempfile.TemporaryDirectory() as first, tempfile.TemporaryDirectory() as second:
        a = _receipt(inputs, Path(first))
        b = _receipt(inputs, Path(second))
    assert a["execution_id"] != b["execution_id"]
    assert {key: a[key] for key in HASHES} == {key: b[key] for key in HASHES}


@settings(max_examples=5, deadline=None)
@given(inputs_strategy)
def test_key_order_of_the_inputs_does_not_change_the_receipt(inputs):
    reordered = dict(reversed(list(inputs.items())))
    with tempfile.TemporaryDirectory() as first, tempfile.TemporaryDirectory() as second:
        a = _receipt(inputs, Path(first))
        b = _receipt(reordered, Path(second))
    assert a["inputs_sha256"] == b["inputs_sha256"]
    assert a["outputs_sha256"] == b["outputs_sha256"]


@settings(max_examples=5, deadline=None)
@given(st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=20))
def test_different_messages_give_different_input_and_output_hashes(one, other):
    if one == other:
        return
    with tempfile.TemporaryDirectory() as first, tempfile.TemporaryDirectory() as second:
        a = _receipt({"message": one}, Path(first))
        b = _receipt({"message": other}, Path(second))
    assert a["inputs_sha256"] != b["inputs_sha256"]
    assert a["outputs_sha256"] != b["outputs_sha256"]
    assert a["code_sha256"] == b["code_sha256"]
