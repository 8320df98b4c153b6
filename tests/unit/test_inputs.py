"""Parsing ``--inputs-json`` / ``--inputs-file``: a JSON object within the size bound."""

import pytest

from runtime.errors import InputsError
from runtime.runner import INPUTS_LIMIT_BYTES, load_inputs_file, parse_inputs_json


def test_an_object_parses():
    assert parse_inputs_json('{"a": [1, 2]}') == {"a": [1, 2]}


@pytest.mark.parametrize(("text", "reason"), [
    ("{", "not valid JSON"),
    ("", "not valid JSON"),
    ("[1]", "must be a JSON object, got list"),
    ("null", "must be a JSON object, got NoneType"),
    ("42", "must be a JSON object, got int"),
])
def test_bad_inputs_are_err_inputs_with_the_reason(text, reason):
    with pytest.raises(InputsError, match=reason):
        parse_inputs_json(text)


def test_oversized_inputs_are_refused_before_parsing():
    with pytest.raises(InputsError, match=f"exceeds {INPUTS_LIMIT_BYTES} bytes"):
        parse_inputs_json('{"a": "' + "x" * INPUTS_LIMIT_BYTES + '"}')


def test_an_inputs_file_follows_the_same_rules(tmp_path):
    file = tmp_path / "in.json"
    file.write_text("[]")
    with pytest.raises(InputsError, match="must be a JSON object"):
        load_inputs_file(file)


def test_a_missing_inputs_file_is_err_inputs(tmp_path):
    with pytest.raises(InputsError, match="cannot be read"):
        load_inputs_file(tmp_path / "nope.json")


def test_a_non_utf8_inputs_file_is_err_inputs(tmp_path):
    file = tmp_path / "in.json"
    file.write_bytes(b'{"a": "\xff"}')
    with pytest.raises(InputsError, match="not readable UTF-8"):
        load_inputs_file(file)
