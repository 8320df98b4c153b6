"""The batch line reader: any objects come back in order, and a bad line is named exactly."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.batch.inputs import iter_items, validate_file
from runtime.errors import InputsError
from runtime.runner import inputs_check

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=12),
                    st.floats(allow_nan=False, allow_infinity=False))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=8)
OBJECTS = st.lists(st.dictionaries(st.text(max_size=6), VALUES, max_size=4), min_size=1,
                   max_size=12)
BAD_LINES = st.sampled_from([b"", b"[]", b"42", b"{", b"\xff\xfe", b'"text"', b"{} {}"])


class _NoSchema:
    """``inputs_check`` for a version without an input schema: shape, encoding and size only."""

    class version:  # noqa: N801 - mimics ResolvedProcessor.version
        input_schema = None

    settings = version  # mimics ResolvedProcessor.settings (what the run's checks read)

    ref = "fixture/any@1"


CHECK = inputs_check(_NoSchema())  # type: ignore[arg-type]


def _write(lines: list[bytes], newline: bytes) -> Path:
    handle = tempfile.NamedTemporaryFile("wb", suffix=".ndjson", delete=False)  # noqa: SIM115
    with handle:
        handle.write(b"".join(line + newline for line in lines))
    return Path(handle.name)


@settings(max_examples=60, deadline=None)
@given(objects=OBJECTS, newline=st.sampled_from([b"\n", b"\r\n"]),
       compact=st.booleans())
def test_valid_objects_come_back_in_input_order(objects, newline, compact):
    separators = (",", ":") if compact else (", ", ": ")
    path = _write([json.dumps(o, separators=separators).encode() for o in objects], newline)
    try:
        count, _digest = validate_file(path, CHECK)
        assert count == len(objects)
        assert [item for _, item in iter_items(path, CHECK)] == objects
        assert [index for index, _ in iter_items(path, CHECK)] == list(range(len(objects)))
    finally:
        path.unlink()


@settings(max_examples=60, deadline=None)
@given(objects=OBJECTS, bad=BAD_LINES, data=st.data())
def test_one_bad_line_anywhere_is_refused_by_its_number(objects, bad, data):
    position = data.draw(st.integers(min_value=0, max_value=len(objects)))
    lines = [json.dumps(o).encode() for o in objects]
    lines.insert(position, bad)
    path = _write(lines, b"\n")
    try:
        with pytest.raises(InputsError) as caught:
            validate_file(path, CHECK)
    finally:
        path.unlink()
    message = caught.value.message
    assert re.findall(r"\bline (\d+): ", message) == [str(position + 1)]
