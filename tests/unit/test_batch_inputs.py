"""The batch input file: every line checked up front, named by its number when it is refused."""

from __future__ import annotations

import json

import pytest

from runtime.batch.inputs import MAX_REPORTED_LINES, iter_items, parse_line, validate_file
from runtime.errors import InputsError
from runtime.kit.message import INPUTS_LIMIT_BYTES


def _accept(inputs):
    return inputs


def _no_extra(inputs):
    if "extra" in inputs:
        raise InputsError("inputs.extra: not allowed")
    return inputs


def test_every_line_is_counted_and_hashed_in_order(tmp_path):
    source = tmp_path / "in.ndjson"
    source.write_text('{"a": 1}\n{"a": 2}\n')
    swapped = tmp_path / "swapped.ndjson"
    swapped.write_text('{"a": 2}\n{"a": 1}\n')
    count, digest = validate_file(source, _accept)
    assert count == 2
    assert digest != validate_file(swapped, _accept)[1]


def test_the_last_line_may_lack_its_newline(tmp_path):
    source = tmp_path / "in.ndjson"
    source.write_text('{"a": 1}\n{"a": 2}')
    assert list(iter_items(source, _accept)) == [(0, {"a": 1}), (1, {"a": 2})]


def test_equal_objects_spelled_differently_hash_alike(tmp_path):
    one, two = tmp_path / "one.ndjson", tmp_path / "two.ndjson"
    one.write_text('{"a": 1, "b": 2}\n')
    two.write_text('{ "b":2,"a":1 }\r\n')
    assert validate_file(one, _accept) == validate_file(two, _accept)


@pytest.mark.parametrize(("text", "expected"), [
    ('{"a": 1}\n\n{"a": 2}\n', "line 2: empty line"),
    ('{"a": 1}\n[1, 2]\n', "line 2: inputs must be a JSON object, got list"),
    ('{"a": 1}\n{"a": \n', "line 2: inputs are not valid JSON"),
    ('{"extra": 1}\n', "line 1: inputs.extra: not allowed"),
])
def test_a_bad_line_is_refused_with_its_number(tmp_path, text, expected):
    source = tmp_path / "in.ndjson"
    source.write_text(text)
    with pytest.raises(InputsError) as caught:
        validate_file(source, _no_extra)
    assert expected in caught.value.message
    assert caught.value.message.endswith("nothing was run")


def test_non_utf8_is_refused_with_its_line_number(tmp_path):
    source = tmp_path / "in.ndjson"
    source.write_bytes(b'{"a": 1}\n{"a": "\xff"}\n')
    with pytest.raises(InputsError, match="line 2: not valid UTF-8"):
        validate_file(source, _accept)


def test_a_line_over_the_inputs_limit_is_refused_without_reading_it_whole(tmp_path):
    source = tmp_path / "in.ndjson"
    big = json.dumps({"text": "x" * (INPUTS_LIMIT_BYTES + 10)})
    source.write_text(f'{{"a": 1}}\n{big}\n{{"a": 3}}\n{{"extra": 1}}\n')
    with pytest.raises(InputsError) as caught:
        validate_file(source, _no_extra)
    assert f"line 2: inputs JSON exceeds {INPUTS_LIMIT_BYTES} bytes" in caught.value.message
    assert "line 4: inputs.extra" in caught.value.message  # the overlong line is one line


def test_many_bad_lines_name_the_first_few_and_count_the_rest(tmp_path):
    source = tmp_path / "in.ndjson"
    source.write_text("nope\n" * (MAX_REPORTED_LINES + 3))
    with pytest.raises(InputsError) as caught:
        validate_file(source, _accept)
    assert f"line {MAX_REPORTED_LINES}:" in caught.value.message
    assert f"line {MAX_REPORTED_LINES + 1}:" not in caught.value.message
    assert "(+3 more bad lines)" in caught.value.message


def test_an_empty_file_is_refused(tmp_path):
    source = tmp_path / "in.ndjson"
    source.write_text("")
    with pytest.raises(InputsError, match="holds no line"):
        validate_file(source, _accept)


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(InputsError, match="cannot be read"):
        validate_file(tmp_path / "absent.ndjson", _accept)


def test_a_file_changed_after_validation_is_refused_at_the_changed_line(tmp_path):
    source = tmp_path / "in.ndjson"
    source.write_text('{"a": 1}\n{"a": 2}\n')
    validate_file(source, _accept)
    source.write_text('{"a": 1}\n{"extra": 2}\n')
    items = iter_items(source, _no_extra)
    assert next(items) == (0, {"a": 1})
    with pytest.raises(InputsError, match="changed while the batch ran: line 2"):
        next(items)


def test_parse_line_applies_the_given_check():
    with pytest.raises(InputsError, match=r"inputs\.extra"):
        parse_line(b'{"extra": true}', _no_extra)
