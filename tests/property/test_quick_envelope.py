"""The pydantic-free envelope check never accepts what the pydantic ``Envelope`` refuses.

Whatever :func:`runtime.contract.shapes.quick_envelope` accepts, ``Envelope.model_validate``
accepts too, with the same data (``model_dump``); and the canonical envelopes the kit prints are
accepted by the quick check (so a plain run takes the fast path). Everything it declines goes to
pydantic, which keeps the verdicts and messages of before.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from runtime.contract.envelope import parse_envelope
from runtime.contract.shapes import WireEnvelope, quick_envelope
from runtime.contract.wire import Envelope
from runtime.kit import message
from tests.property.test_fuzz_envelope import ERROR, JSON, SUCCESS

AWKWARD = st.one_of(JSON, st.sampled_from([
    "", "x", "\ud800", "outputs/a", "/outputs/a", "outputs/../a", "outputs//a", "a" * 64,
    "0" * 64, "0" * 63 + "\n", "ERR_X", "ERR_x", "err_X", "5", 5, -1, 2**70, True, 1.0, None,
    "/r/outputs.json", "x" * 4001, [], {}]))
FIELDS = ["status", "execution_id", "outputs", "index_path", "error", "meta", "path", "sha256",
          "size", "media_type", "code", "message", "retryable", "extra"]


def _mutate(document: dict, data: st.DataObject) -> dict:
    """Replace, drop or add one key at the top, in an output item or in the error block."""
    target = document
    choices = ["top"]
    items = document.get("outputs")
    if isinstance(items, list) and any(isinstance(item, dict) for item in items):
        choices.append("output")
    if isinstance(document.get("error"), dict):
        choices.append("error")
    where = data.draw(st.sampled_from(choices))
    if where == "output":
        target = data.draw(st.sampled_from([item for item in items if isinstance(item, dict)]))
    elif where == "error":
        target = document["error"]
    key = data.draw(st.sampled_from(FIELDS))
    if data.draw(st.booleans()):
        target.pop(key, None)
    else:
        target[key] = data.draw(AWKWARD)
    return document


def _pydantic(raw: dict) -> Envelope | None:
    try:
        return Envelope.model_validate(raw)
    except ValidationError:
        return None


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(SUCCESS, ERROR), st.data())
def test_what_the_quick_check_accepts_pydantic_accepts_with_the_same_data(document, data):
    for _ in range(data.draw(st.integers(0, 3))):
        document = _mutate(document, data)
    quick = quick_envelope(document)
    if quick is None:
        return
    model = _pydantic(document)
    assert model is not None, document
    assert quick.model_dump() == model.model_dump()
    assert quick.model_dump(exclude_none=True) == model.model_dump(exclude_none=True)


@settings(max_examples=300, deadline=None)
@given(st.one_of(SUCCESS, ERROR))
def test_canonical_envelopes_take_the_quick_path(document):
    if any("\ud800" <= ch <= "\udfff" for ch in repr(document)):
        return  # a lone surrogate in a str field: pydantic's to refuse
    assert quick_envelope(document) is not None


def test_the_kit_s_envelopes_take_the_quick_path():
    success = message.success_envelope("ex-1", [{"path": "outputs/a.txt", "sha256": "0" * 64,
                                                 "size": 3, "media_type": "text/plain"}],
                                       "/p/outputs.json", {"k": [1, {"x": None}]})
    failure = message.error_envelope("ex-1", "ERR_INPUTS", "bad", retryable=False)
    for document in (success, failure):
        assert quick_envelope(document) is not None
        assert isinstance(parse_envelope(message.envelope_line(document).encode()), WireEnvelope)


def test_the_wire_envelope_becomes_the_same_pydantic_model():
    line = message.envelope_line(message.success_envelope(
        "ex-1", [{"path": "outputs/a.txt", "sha256": "0" * 64, "size": 3}], "/p/outputs.json",
        {"n": 1})).encode()
    wire = parse_envelope(line)
    assert wire.to_model() == Envelope.model_validate_json(line)
    assert wire.model_dump() == Envelope.model_validate_json(line).model_dump()
