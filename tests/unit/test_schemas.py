import pytest

from runtime.contract.schemas import field_path, output_path, parse_schema_text, schema_violations
from runtime.errors import InputsError

STATS = {
    "type": "object",
    "required": ["text"],
    "properties": {
        "text": {"type": "string", "maxLength": 10},
        "top_n": {"type": "integer", "minimum": 1, "maximum": 100},
        "style": {"enum": ["plain", "fancy"]},
        "opts": {"type": "object", "properties": {"level": {"type": "integer"}}},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "additionalProperties": False,
}


def messages(schema, instance, root="inputs"):
    return [f"{field_path(root, where)}: {rule}" for where, rule in schema_violations(schema, instance)]


def test_missing_field_is_reported_as_required():
    assert messages(STATS, {}) == ["inputs.text: required"]


def test_wrong_type_names_the_expected_type():
    assert messages(STATS, {"text": "a", "top_n": "5"}) == ["inputs.top_n: must be integer"]


def test_extra_field_is_not_allowed_when_additional_properties_is_false():
    assert messages(STATS, {"text": "a", "extra": 1}) == ["inputs.extra: not allowed"]


def test_extra_field_passes_when_the_schema_allows_additional_properties():
    schema = {**STATS, "additionalProperties": True}
    assert messages(schema, {"text": "a", "extra": 1}) == []


def test_oversized_field_names_the_length_bound():
    assert messages(STATS, {"text": "x" * 11}) == ["inputs.text: must be at most 10 characters"]


def test_bound_violation_names_the_bound():
    assert messages(STATS, {"text": "a", "top_n": 101}) == ["inputs.top_n: must be <= 100"]


def test_enum_violation_lists_the_allowed_values():
    assert messages(STATS, {"text": "a", "style": "odd"}) == [
        'inputs.style: must be one of ["plain", "fancy"]']


def test_nested_and_array_paths_are_spelled_out():
    found = messages(STATS, {"text": "a", "opts": {"level": "x"}, "tags": ["ok", 3]})
    assert found == ["inputs.opts.level: must be integer", "inputs.tags[1]: must be string"]


def test_every_violation_is_reported_sorted_by_path():
    assert messages(STATS, {"top_n": 0, "zzz": 1}) == [
        "inputs.text: required", "inputs.top_n: must be >= 1", "inputs.zzz: not allowed"]


def test_messages_never_quote_the_offending_value():
    found = messages(STATS, {"text": "a", "top_n": "sk-secret-value"})
    assert found == ["inputs.top_n: must be integer"]
    assert "sk-secret-value" not in " ".join(found)


def test_odd_keys_are_quoted_in_field_paths():
    assert field_path("inputs", ["a b", 0, "ok"]) == 'inputs["a b"][0].ok'


def test_output_paths_use_the_file_then_a_json_pointer():
    assert output_path(["outputs/stats.json", "top_words", 0]) == "outputs/stats.json#/top_words/0"
    assert output_path(["outputs/report.txt"]) == "outputs/report.txt"


def test_a_schema_that_is_not_json_is_err_inputs_naming_the_file():
    with pytest.raises(InputsError, match=r"v1\.inputs\.schema\.json: not valid JSON"):
        parse_schema_text("{nope", "v1.inputs.schema.json")


def test_a_malformed_json_schema_is_err_inputs():
    with pytest.raises(InputsError, match=r"not a valid JSON Schema at properties/x"):
        parse_schema_text('{"properties": {"x": {"type": 12}}}', "s.json")


# -- the schema file: resolved once per name, read every time ------------------------------------

def test_a_schema_name_is_resolved_again_when_it_leads_to_another_file(tmp_path):
    from runtime.contract.schemas import _schema_text

    code = tmp_path / "proc"
    (code / "schemas").mkdir(parents=True)
    (code / "schemas" / "in.json").write_text('{"type": "object"}')
    assert _schema_text(code, "schemas/in.json")[0] == '{"type": "object"}'
    # Edited in place: the same file, read again.
    (code / "schemas" / "in.json").write_text('{"type": "array"}')
    assert _schema_text(code, "schemas/in.json")[0] == '{"type": "array"}'
    # Replaced by a link out of the processor's folder: another file, so resolved and refused.
    outside = tmp_path / "outside.json"
    outside.write_text('{"type": "object"}')
    (code / "schemas" / "in.json").unlink()
    (code / "schemas" / "in.json").symlink_to(outside)
    with pytest.raises(InputsError, match="resolves outside"):
        _schema_text(code, "schemas/in.json")
