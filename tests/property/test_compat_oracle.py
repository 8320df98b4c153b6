"""The contract gate against an independent checker: ``jsoncompat`` as the oracle.

Hypothesis generates schema pairs (an old schema and a mutation, a respelling or a fresh schema)
and our verdict must agree with ``jsoncompat`` in the role that matches: inputs are judged as a
deserializer (the new schema accepts everything the old accepted), outputs as a serializer (the
new schema accepts nothing the old did not). Where the two disagree on purpose, ``KNOWN`` names
the case and the reason; any other disagreement fails. A second property uses
``hypothesis-jsonschema`` as a witness: when the gate says "compatible", no document drawn from
the narrower schema may be rejected by the wider one.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jsoncompat
import pytest
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from runtime.contract._subschema import accepts
from runtime.contract.compat import Gap, input_breaks, output_breaks

pytestmark = pytest.mark.property

KEYS = ("a", "b", "c")
VALUES = ("a", "b", "c", 0, 1, 2, None, True)
PATTERNS = ("^a", "^[ab]*$")
FORMATS = ("date", "email")
TYPES = ("null", "boolean", "integer", "number", "string", "array", "object")


# -- schemas -------------------------------------------------------------------------------------
def _small(low: int = -3, high: int = 3) -> st.SearchStrategy[int]:
    return st.integers(low, high)


LEAF: st.SearchStrategy[dict[str, Any]] = st.one_of(
    st.just({}),
    st.sampled_from([{"type": "null"}, {"type": "boolean"}]),
    st.fixed_dictionaries({"type": st.just("string")}, optional={
        "minLength": _small(0, 3), "maxLength": _small(0, 4), "pattern": st.sampled_from(PATTERNS),
        "format": st.sampled_from(FORMATS)}),
    st.fixed_dictionaries({"type": st.sampled_from(["integer", "number"])}, optional={
        "minimum": _small(), "maximum": _small(), "exclusiveMinimum": _small(),
        "exclusiveMaximum": _small(), "multipleOf": st.sampled_from([1, 2, 3])}),
    st.lists(st.sampled_from(VALUES), min_size=1, max_size=4, unique_by=json.dumps).map(
        lambda values: {"enum": values}),
    st.sampled_from(VALUES).map(lambda value: {"const": value}),
    st.lists(st.sampled_from(TYPES), min_size=1, max_size=3, unique=True).map(
        lambda kinds: {"type": kinds}),
)


def _compound(inner: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    branches = st.lists(inner, min_size=1, max_size=3)
    return st.one_of(
        st.fixed_dictionaries({"type": st.just("object"),
                               "properties": st.dictionaries(st.sampled_from(KEYS), inner,
                                                             max_size=3)}, optional={
            "required": st.lists(st.sampled_from(KEYS), max_size=3, unique=True),
            "additionalProperties": st.one_of(st.just(False), inner)}),
        st.fixed_dictionaries({"type": st.just("array")}, optional={
            "items": inner, "minItems": _small(0, 2), "maxItems": _small(0, 3),
            "uniqueItems": st.booleans()}),
        branches.map(lambda bs: {"anyOf": bs}),
        branches.map(lambda bs: {"oneOf": bs}),
        branches.map(lambda bs: {"allOf": bs}),
    )


SCHEMA = st.recursive(LEAF, _compound, max_leaves=5)


def _nodes(schema: Any) -> list[dict[str, Any]]:
    """Every sub-schema object of ``schema`` (itself first), for mutation in place."""
    if not isinstance(schema, dict):
        return []
    found = [schema]
    for key in ("items", "additionalProperties"):
        found += _nodes(schema.get(key))
    for branch in schema.get("anyOf", []) + schema.get("oneOf", []) + schema.get("allOf", []):
        found += _nodes(branch)
    for prop in schema.get("properties", {}).values():
        found += _nodes(prop)
    return found


EDITS: dict[str, Callable[[dict[str, Any], Any], None]] = {
    "drop a keyword": lambda node, pick: node.pop(pick(sorted(node)), None) if node else None,
    "widen an enum": lambda node, pick: node.update(enum=[*node.get("enum", []), pick(VALUES)]),
    "narrow an enum": lambda node, pick: node.update(enum=node.get("enum", [pick(VALUES)])[:1]),
    "set a bound": lambda node, pick: node.update({pick(["minimum", "maximum", "minLength",
                                                         "maxLength", "maxItems"]): pick([0, 1, 2])}),
    "require a key": lambda node, pick: node.update(required=sorted(
        {*node.get("required", []), pick(KEYS)})),
    "close the object": lambda node, pick: node.update(additionalProperties=False),
    "open the object": lambda node, pick: node.pop("additionalProperties", None),
    "change the type": lambda node, pick: node.update(type=pick(TYPES)),
    "reorder branches": lambda node, pick: [node[k].reverse() for k in ("anyOf", "oneOf", "allOf")
                                            if k in node],
}


def _respell(schema: Any) -> Any:
    """An equivalent spelling: branch and enum order reversed, a lone const as an enum."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in reversed(list(schema.items())):
        if key in ("anyOf", "oneOf", "allOf"):
            value = [_respell(v) for v in reversed(value)]
        elif key in ("items", "additionalProperties"):
            value = _respell(value)
        elif key == "properties":
            value = {k: _respell(v) for k, v in reversed(list(value.items()))}
        elif key in ("enum", "required", "type") and isinstance(value, list):
            value = list(reversed(value))
        out[key] = value
    if list(out) == ["const"]:
        return {"enum": [out["const"]]}
    return out


@st.composite
def pairs(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any], str]:
    """(old, new, how): a mutation of old, an equivalent respelling, or an unrelated schema."""
    old = draw(SCHEMA)
    how = draw(st.sampled_from(["mutate", "mutate", "mutate", "respell", "fresh"]))
    if how == "fresh":
        return old, draw(SCHEMA), how
    if how == "respell":
        return old, _respell(old), how
    new = copy.deepcopy(old)
    nodes = _nodes(new)
    edit = draw(st.sampled_from(sorted(EDITS)))
    EDITS[edit](draw(st.sampled_from(nodes)), lambda options: draw(st.sampled_from(list(options))))
    return old, new, f"mutate: {edit}"


# -- the oracle ----------------------------------------------------------------------------------
def oracle(old: Any, new: Any, role: str) -> bool | None:
    """jsoncompat's verdict (True: compatible); None where it declines the schema."""
    try:
        return bool(jsoncompat.check_compat(json.dumps(old), json.dumps(new), role))
    except ValueError:
        return None


@dataclass(frozen=True)
class Known:
    """A disagreement we keep on purpose: when it applies, and why we are right."""

    name: str
    reason: str
    applies: Callable[[str, Any, Any, list[Gap], bool], bool]


def _only_rules(*rules: str) -> Callable[[str, Any, Any, list[Gap], bool], bool]:
    def applies(side: str, old: Any, new: Any, found: list[Gap], oracle_ok: bool) -> bool:
        return bool(found) and oracle_ok and all(gap.rule in rules for gap in found)
    return applies


KNOWN: list[Known] = [
    Known("pattern and format are constraints",
          "jsoncompat 0.3 ignores pattern and format; the runtime validates both (format with "
          "jsonschema's FORMAT_CHECKER), so adding one on inputs or dropping one on outputs breaks",
          _only_rules("pattern", "format")),
]


def classify(side: str, old: Any, new: Any, found: list[Gap], oracle_ok: bool) -> Known | None:
    """The named case that explains a disagreement, if any."""
    return next((k for k in KNOWN if k.applies(side, old, new, found, oracle_ok)), None)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pairs())
def test_gate_agrees_with_jsoncompat_or_names_why(pair: tuple[dict[str, Any], dict[str, Any], str]
                                                  ) -> None:
    old, new, how = pair
    note(f"{how}\nold={json.dumps(old)}\nnew={json.dumps(new)}")
    for side, role, found in (("inputs", "deserializer", input_breaks(old, new)),
                              ("outputs", "serializer", output_breaks(old, new))):
        verdict = oracle(old, new, role)
        assume(verdict is not None)
        if verdict == (not found):
            continue
        known = classify(side, old, new, found, bool(verdict))
        assert known is not None, (f"{side}: gate says {[g.reason for g in found] or 'compatible'}"
                                   f", jsoncompat says {'compatible' if verdict else 'break'}")
