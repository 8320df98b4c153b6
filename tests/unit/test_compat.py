"""Each compatibility rule with one breaking and one compatible example."""

import json

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
    return [f"{render_input_path(gap.path)}: {gap.reason}" for gap in input_breaks(old, new)]


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
        'inputs.text: pattern "^[a-z]+$" added']
    same = with_prop("text", pattern="^[a-z]+$")
    assert reasons(same, same) == []


def test_inputs_changed_unmodelled_keyword_breaks_but_annotations_do_not():
    assert reasons(BASE_IN, with_prop("text", **{"not": {"const": ""}})) == [
        "inputs.text: 'not' changed (cannot prove compatible)"]
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
    return [f"{render_output_path(gap.path)}: {gap.reason}" for gap in output_breaks(old, new)]


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


# -- outputs: the values a consumer relies on ----------------------------------------------------
def test_outputs_widened_enum_breaks():
    assert out_reasons({"enum": ["a", "b"]}, {"enum": ["a", "b", "c"]}) == [
        'outputs: enum widened: ["c"] now possible']


def test_outputs_narrowed_enum_is_compatible():
    assert out_reasons({"enum": ["a", "b"]}, {"const": "a"}) == []


def test_outputs_dropped_maximum_breaks():
    assert out_reasons({"type": "integer", "maximum": 5}, {"type": "integer"}) == [
        "outputs: maximum loosened from 5 to none"]


def test_outputs_lowered_minimum_breaks_and_a_raised_one_is_compatible():
    assert out_reasons({"type": "number", "minimum": 0}, {"type": "number", "minimum": -1}) == [
        "outputs: minimum loosened from 0 to -1"]
    assert out_reasons({"type": "number", "minimum": 0}, {"type": "number", "minimum": 1}) == []


def test_outputs_removed_additional_properties_false_breaks():
    closed = {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": False}
    opened = {k: v for k, v in closed.items() if k != "additionalProperties"}
    assert out_reasons(closed, opened) == [
        "outputs: additionalProperties: false removed: undeclared fields now possible"]
    assert out_reasons(opened, closed) == []


def test_outputs_removed_pattern_or_format_breaks():
    assert out_reasons({"type": "string", "pattern": "^a"}, {"type": "string"}) == [
        'outputs: pattern "^a" removed']
    assert out_reasons({"type": "string", "format": "date"}, {"type": "string"}) == [
        'outputs: format "date" removed']


def test_outputs_widened_item_schema_breaks_at_the_items_path():
    old = {"type": "array", "items": {"type": "string", "maxLength": 3}}
    new = {"type": "array", "items": {"type": "string"}}
    assert out_reasons(old, new) == ["outputs#/*: maxLength loosened from 3 to none"]


def test_outputs_widened_prefix_item_breaks_at_its_position():
    old = {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}], "maxItems": 2}
    new = {**old, "prefixItems": [{"type": "string"}, {"type": "number"}]}
    assert out_reasons({"type": "object", "properties": {"pair": old}},
                       {"type": "object", "properties": {"pair": new}}) == [
        "pair#/1: type widened: now also number"]


def test_outputs_dropped_unique_items_breaks():
    old = {"type": "array", "uniqueItems": True}
    assert out_reasons(old, {"type": "array"}) == ["outputs: uniqueItems no longer guaranteed"]


def test_outputs_loosened_multiple_of_breaks():
    old = {"type": "integer", "multipleOf": 4}
    assert out_reasons(old, {"type": "integer", "multipleOf": 2}) == [
        "outputs: multipleOf loosened from 4 to 2"]
    assert out_reasons({"type": "integer", "multipleOf": 2}, old) == []


def test_outputs_overlapping_one_of_is_judged_as_exactly_one():
    # an integer matches both branches, so this oneOf emits only non-integer numbers
    new = {"oneOf": [{"type": "integer"}, {"type": "number"}]}
    assert out_reasons({"type": "integer"}, new) == ["outputs: type widened: now also number"]


# -- equivalent spellings and reorderings are not breaks -----------------------------------------
ANY_OF = {"anyOf": [{"type": "string", "minLength": 1}, {"type": "integer", "minimum": 0}]}


def test_inputs_any_of_reorder_is_compatible():
    assert reasons(ANY_OF, {"anyOf": list(reversed(ANY_OF["anyOf"]))}) == []


def test_inputs_dropped_any_of_branch_breaks():
    assert reasons(ANY_OF, {"anyOf": ANY_OF["anyOf"][:1]}) == [
        "inputs: type narrowed: integer no longer accepted"]


@pytest.mark.parametrize(("old", "new"), [
    ({"type": ["string", "integer"]}, {"anyOf": [{"type": "integer"}, {"type": "string"}]}),
    ({"const": "a"}, {"enum": ["a"]}),
    ({"enum": ["a", "b"]}, {"type": "string", "enum": ["b", "a"]}),
    ({"allOf": [{"type": "integer"}, {"minimum": 1}]}, {"type": "integer", "minimum": 1}),
    ({"type": "integer", "maximum": 5.5}, {"type": "integer", "maximum": 5}),
    ({"type": "integer", "exclusiveMaximum": 6}, {"type": "integer", "maximum": 5}),
    ({"$defs": {"s": {"type": "string"}}, "properties": {"a": {"$ref": "#/$defs/s"}}},
     {"properties": {"a": {"type": "string"}}}),
    ({"oneOf": [{"type": "string"}, {"type": "null"}]}, {"anyOf": [{"type": "null"}, {"type": "string"}]}),
    ({"required": ["a", "b"], "properties": {"a": {}, "b": {}}},
     {"required": ["b", "a"], "properties": {"b": {}, "a": {}}}),
])
def test_equivalent_spellings_break_neither_side(old, new):
    assert reasons(old, new) == []
    assert out_reasons(old, new) == []


def test_inputs_finite_enum_is_judged_value_by_value():
    old = {"enum": ["a", "bb"]}
    assert reasons(old, {"type": "string", "maxLength": 2}) == []
    assert reasons(old, {"type": "string", "maxLength": 1}) == [
        'inputs: enum narrowed: ["bb"] no longer accepted']


def test_inputs_added_format_breaks():
    assert reasons({"type": "string"}, {"type": "string", "format": "date"}) == [
        'inputs: format "date" added']


def test_inputs_new_enum_where_there_was_none_breaks():
    assert reasons({"type": "string"}, {"enum": ["a"]}) == [
        'inputs: enum narrowed: now restricted to ["a"]']


def test_inputs_unchanged_unmodelled_keyword_is_compatible_elsewhere_changed():
    old = {"type": "object", "patternProperties": {"^x-": {"type": "string"}},
           "properties": {"n": {"type": "integer", "maximum": 5}}}
    new = {**old, "properties": {"n": {"type": "integer", "maximum": 9}}}
    assert reasons(old, new) == []
    assert reasons(old, {**old, "patternProperties": {"^x-": {"type": "integer"}}}) == [
        "inputs: 'patternProperties' changed (cannot prove compatible)"]


def test_schema_too_large_to_expand_is_a_break_not_a_pass():
    branchy = {"allOf": [{"anyOf": [{"type": "string", "pattern": f"a{i}"},
                                    {"type": "string", "pattern": f"b{i}"}]} for i in range(10)]}
    assert reasons(branchy, {"allOf": [*branchy["allOf"], {"minimum": 0}]}) == [
        "inputs: too many alternatives to prove (over 256)"]


def test_input_paths_render_positions_and_additional_properties():
    assert render_input_path(["pair", 0]) == "inputs.pair[0]"
    assert render_input_path(["tags", ITEMS, "<additional>"]) == "inputs.tags[*].<additional>"


def test_a_repeated_one_of_branch_is_not_folded_away():
    # 1 matches two branches of the old oneOf, so the old schema never accepted it
    old = {"oneOf": [{"enum": [1, 0]}, {"enum": [1, 0]}, {"type": "boolean"}]}
    assert reasons(old, {"type": "boolean"}) == []
    assert out_reasons(old, {"oneOf": [{"enum": [1, 0]}, {"type": "boolean"}]}) == [
        "outputs: enum widened: [1, 0] now possible"]


# -- references and keywords whose meaning depends on their neighbours ---------------------------
TREE = {"$defs": {"node": {"type": "object", "properties": {
    "value": {"type": "integer"}, "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}},
    "$ref": "#/$defs/node"}


def test_recursive_ref_unchanged_is_compatible_and_a_changed_target_breaks():
    assert reasons(TREE, json.loads(json.dumps(TREE))) == []
    wider = json.loads(json.dumps(TREE))
    wider["$defs"]["node"]["properties"]["value"] = {"type": "number"}
    assert out_reasons(TREE, wider) == ["children#/*: '$ref' changed (cannot prove compatible)",
                                        "value: type widened: now also number"]


def test_unevaluated_properties_with_a_new_property_is_an_output_break():
    old = {"type": "object", "properties": {"a": {"type": "integer"}}, "unevaluatedProperties": False}
    new = {**old, "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}}
    assert out_reasons(old, new) == [
        "outputs: 'unevaluatedProperties' changed (cannot prove compatible)"]


def test_closed_tuple_opened_is_an_output_break():
    old = {"type": "array", "prefixItems": [{"type": "string"}], "items": False}
    # items: false caps the array at its prefix, so the count is named as well as the items
    assert out_reasons(old, {**old, "items": True}) == [
        "outputs: maxItems loosened from 1 to none", "outputs#/*: values now possible where none were"]
    assert reasons({**old, "items": True}, old) == [
        "inputs: maxItems tightened from none to 1", "inputs[*]: no value accepted any more"]


def test_an_anchor_ref_is_kept_as_written_and_its_changed_target_breaks():
    old = {"$defs": {"s": {"$anchor": "str", "type": "string"}},
           "type": "object", "properties": {"a": {"$ref": "#str"}}}
    new = json.loads(json.dumps(old))
    new["$defs"]["s"]["maxLength"] = 3
    assert reasons(old, json.loads(json.dumps(old))) == []
    assert reasons(old, new) == ["inputs.a: '$ref' changed (cannot prove compatible)"]


def test_an_array_whose_items_cannot_be_valid_holds_only_its_prefix():
    impossible = {"type": "string", "minLength": 1, "maxLength": 0}
    old = {"type": "array", "items": impossible}
    assert reasons(old, {**old, "maxItems": 0}) == []
    assert out_reasons({**old, "maxItems": 0}, old) == []
