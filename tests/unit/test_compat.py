"""Each compatibility rule with one breaking and one compatible example."""

import pytest

from runtime.contract.compat import (
    ITEMS,
    input_breaks,
    output_breaks,
    render_input_path,
    render_output_path,
)

BASE_IN = {
    "type": "object",
    "required": ["text"],
    "properties": {
        "text": {"type": "string", "maxLength": 100},
        "top_n": {"type": "integer", "minimum": 1, "maximum": 100},
        "style": {"enum": ["plain", "fancy"]},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "additionalProperties": False,
}


def with_prop(name, **changes):
    props = {**BASE_IN["properties"], name: {**BASE_IN["properties"][name], **changes}}
    return {**BASE_IN, "properties": props}


def reasons(old, new):
    return [f"{render_input_path(where)}: {reason}" for where, reason in input_breaks(old, new)]


# -- inputs: new required field ------------------------------------------------------------------
def test_inputs_new_required_field_breaks():
    new = {**BASE_IN, "required": ["text", "top_n"]}
    assert reasons(BASE_IN, new) == ["inputs.top_n: new required field"]


def test_inputs_new_optional_field_is_compatible():
    new = {**BASE_IN, "properties": {**BASE_IN["properties"], "lang": {"type": "string"}}}
    assert reasons(BASE_IN, new) == []


# -- inputs: removed property --------------------------------------------------------------------
def test_inputs_removed_property_breaks_when_additional_properties_is_false():
    props = {k: v for k, v in BASE_IN["properties"].items() if k != "style"}
    assert reasons(BASE_IN, {**BASE_IN, "properties": props}) == [
        "inputs.style: property removed while additionalProperties is false"]


def test_inputs_removed_property_is_compatible_when_additional_properties_are_allowed():
    old = {**BASE_IN, "additionalProperties": True}
    props = {k: v for k, v in BASE_IN["properties"].items() if k != "style"}
    assert reasons(old, {**old, "properties": props}) == []


# -- inputs: additional properties ---------------------------------------------------------------
def test_inputs_forbidding_additional_properties_breaks():
    old = {**BASE_IN, "additionalProperties": True}
    assert reasons(old, BASE_IN) == ["inputs: additional properties are now forbidden"]


def test_inputs_allowing_additional_properties_is_compatible():
    assert reasons(BASE_IN, {**BASE_IN, "additionalProperties": True}) == []


# -- inputs: type --------------------------------------------------------------------------------
def test_inputs_narrowed_type_breaks():
    old = with_prop("top_n", type="number")
    assert reasons(old, BASE_IN) == ["inputs.top_n: type narrowed: number no longer accepted"]


def test_inputs_widened_type_is_compatible():
    assert reasons(BASE_IN, with_prop("top_n", type=["integer", "null"])) == []
    assert reasons(BASE_IN, with_prop("top_n", type="number")) == []


# -- inputs: enum --------------------------------------------------------------------------------
def test_inputs_narrowed_enum_breaks():
    assert reasons(BASE_IN, with_prop("style", enum=["plain"])) == [
        'inputs.style: enum narrowed: ["fancy"] no longer accepted']


def test_inputs_widened_enum_is_compatible():
    assert reasons(BASE_IN, with_prop("style", enum=["plain", "fancy", "bold"])) == []


# -- inputs: bounds ------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "key", "tighter"), [
    ("top_n", "minimum", 2), ("top_n", "maximum", 50), ("text", "maxLength", 10)])
def test_inputs_tightened_bound_breaks(name, key, tighter):
    old_value = BASE_IN["properties"][name][key]
    assert reasons(BASE_IN, with_prop(name, **{key: tighter})) == [
        f"inputs.{name}: {key} tightened from {old_value} to {tighter}"]


@pytest.mark.parametrize(("name", "key", "looser"), [
    ("top_n", "minimum", 0), ("top_n", "maximum", 200), ("text", "maxLength", 1000)])
def test_inputs_loosened_bound_is_compatible(name, key, looser):
    assert reasons(BASE_IN, with_prop(name, **{key: looser})) == []


def test_inputs_new_bound_where_there_was_none_breaks():
    assert reasons(BASE_IN, with_prop("text", minLength=1)) == [
        "inputs.text: minLength tightened from none to 1"]


# -- inputs: nested items, patterns and keywords the gate cannot reason about --------------------
def test_inputs_narrowed_item_type_breaks_at_the_items_path():
    old = with_prop("tags", items={"type": ["string", "integer"]})
    assert reasons(old, BASE_IN) == ["inputs.tags[*]: type narrowed: integer no longer accepted"]


def test_inputs_added_pattern_breaks_and_an_unchanged_one_is_compatible():
    assert reasons(BASE_IN, with_prop("text", pattern="^[a-z]+$")) == [
        'inputs.text: pattern changed from null to "^[a-z]+$"']
    same = with_prop("text", pattern="^[a-z]+$")
    assert reasons(same, same) == []


def test_inputs_changed_unchecked_keyword_breaks_but_annotations_do_not():
    assert reasons(BASE_IN, with_prop("text", anyOf=[{"minLength": 1}])) == [
        "inputs.text: 'anyOf' changed (cannot prove compatible)"]
    assert reasons(BASE_IN, with_prop("text", description="now documented", default="x")) == []


# -- outputs -------------------------------------------------------------------------------------
BASE_OUT = {
    "type": "object",
    "required": ["outputs/stats.json", "outputs/report.txt"],
    "properties": {
        "outputs/stats.json": {
            "type": "object",
            "required": ["words"],
            "properties": {"words": {"type": "integer"}, "top": {"type": "array",
                                                              "items": {"type": "string"}}},
        },
        "outputs/report.txt": {"type": "object"},
    },
}


def out_reasons(old, new):
    return [f"{render_output_path(where)}: {reason}" for where, reason in output_breaks(old, new)]


def stats_with(**changes):
    stats = {**BASE_OUT["properties"]["outputs/stats.json"], **changes}
    return {**BASE_OUT, "properties": {**BASE_OUT["properties"], "outputs/stats.json": stats}}


def test_outputs_dropped_required_output_path_breaks():
    new = {**BASE_OUT, "required": ["outputs/stats.json"]}
    assert out_reasons(BASE_OUT, new) == ["outputs/report.txt: dropped from required"]


def test_outputs_new_required_output_path_is_compatible():
    new = {**BASE_OUT, "required": [*BASE_OUT["required"], "outputs/extra.json"]}
    assert out_reasons(BASE_OUT, new) == []


def test_outputs_dropped_field_breaks():
    new = stats_with(required=[], properties={"top": {"type": "array", "items": {"type": "string"}}})
    assert out_reasons(BASE_OUT, new) == [
        "outputs/stats.json#/words: dropped from required",
        "outputs/stats.json#/words: property dropped"]


def test_outputs_added_field_is_compatible():
    props = {**BASE_OUT["properties"]["outputs/stats.json"]["properties"], "lines": {"type": "integer"}}
    assert out_reasons(BASE_OUT, stats_with(properties=props)) == []


def test_outputs_widened_type_breaks():
    props = {**BASE_OUT["properties"]["outputs/stats.json"]["properties"],
             "words": {"type": ["integer", "null"]}}
    assert out_reasons(BASE_OUT, stats_with(properties=props)) == [
        "outputs/stats.json#/words: type widened: now also null"]


def test_outputs_narrowed_type_is_compatible():
    old_props = {**BASE_OUT["properties"]["outputs/stats.json"]["properties"],
                 "words": {"type": "number"}}
    assert out_reasons(stats_with(properties=old_props), BASE_OUT) == []


def test_outputs_item_paths_render_as_a_pointer_wildcard():
    assert render_output_path(["outputs/stats.json", "top", ITEMS]) == "outputs/stats.json#/top/*"
