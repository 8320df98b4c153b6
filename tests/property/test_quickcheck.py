"""The compiled quick check gives jsonschema's Draft 2020-12 verdict on every schema it accepts.

Generated schemas use the subset ``runtime.contract.quickcheck`` compiles (nested, with bool
schemas and awkward constants: ``True`` vs ``1``, ``1`` vs ``1.0``, NaN); generated instances are
JSON-like values plus the Python shapes an API caller could pass (tuples). Whenever
``compile_check`` returns a predicate, its verdict equals ``Draft202012Validator.is_valid``.
"""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from runtime.contract.quickcheck import compile_check, equal

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from([0.0, 1.0, 1.5,
                    -2.0, math.nan, math.inf]), st.sampled_from(["", "a", "ab", "abc", "é"]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.lists(inner, max_size=2).map(tuple),
    st.dictionaries(st.sampled_from(["a", "b", "c"]), inner, max_size=3)), max_leaves=8)
TYPES = st.sampled_from(["array", "boolean", "integer", "null", "number", "object", "string"])
NUMBER = st.one_of(st.integers(-2, 3), st.sampled_from([0.5, 1.0, -1.5]))
COUNT = st.integers(0, 3)


def _keywords(sub: st.SearchStrategy) -> st.SearchStrategy:
    names = st.sampled_from(["a", "b", "c"])
    return st.fixed_dictionaries({}, optional={
        "type": st.one_of(TYPES, st.lists(TYPES, min_size=1, max_size=3, unique=True)),
        "properties": st.dictionaries(names, sub, max_size=3),
        "additionalProperties": sub,
        "required": st.lists(names, max_size=3, unique=True),
        "items": sub,
        "prefixItems": st.lists(sub, min_size=1, max_size=2),
        "enum": st.lists(VALUES, max_size=3),
        "const": VALUES,
        "minimum": NUMBER, "maximum": NUMBER, "exclusiveMinimum": NUMBER,
        "exclusiveMaximum": NUMBER,
        "minLength": COUNT, "maxLength": COUNT, "minItems": COUNT, "maxItems": COUNT,
        "minProperties": COUNT, "maxProperties": COUNT,
        "title": st.just("t"), "description": st.just("d"),
    })


SCHEMAS = st.recursive(st.one_of(st.booleans(), st.just({})), _keywords, max_leaves=6)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SCHEMAS, VALUES)
def test_the_quick_verdict_equals_jsonschema(schema, instance):
    check = compile_check(schema)
    assert check is not None  # everything generated here is inside the subset
    assert check(instance) == Draft202012Validator(schema).is_valid(instance)


@settings(max_examples=500, deadline=None)
@given(VALUES, VALUES)
def test_equality_follows_jsonschema(one, two):
    from jsonschema._utils import equal as reference

    assert equal(one, two) == reference(one, two)


def test_keywords_outside_the_subset_are_not_compiled():
    for schema in ({"pattern": "a"}, {"format": "email"}, {"$ref": "#"}, {"oneOf": [True]},
                   {"properties": {"a": {"anyOf": [True]}}}, {"x-vendor": 1},
                   {"additionalProperties": False, "patternProperties": {"a": True}},
                   {"minLength": 1.5}, {"type": "int"}):
        assert compile_check(schema) is None, schema


def test_the_bundled_processor_schemas_compile():
    import json

    from tests.helpers import ROOT

    for path in sorted(ROOT.glob("processors/*/*/schemas/*.schema.json")):
        assert compile_check(json.loads(path.read_text("utf-8"))) is not None, path
