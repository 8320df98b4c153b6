"""The contract gate against an independent checker: ``jsoncompat`` as the oracle.

Hypothesis generates schema pairs (an old schema and an edit of it, an equivalent respelling or
a fresh schema) and our verdict must agree with ``jsoncompat`` in the role that matches: inputs
are judged as a deserializer (the new schema accepts everything the old accepted), outputs as a
serializer (the new schema accepts nothing the old did not). Where the two disagree on purpose,
``KNOWN`` names the case and the reason; any other disagreement fails.

Evidence for a disagreement does not come from the gate itself: a small universe of documents
validated with jsonschema gives a concrete counterexample, and hypothesis-jsonschema's canonical
form shows a schema is empty. A second property holds with no oracle at all: when the gate says
"compatible", no document of the universe is accepted by the narrower schema and rejected by
the other. (hypothesis-jsonschema 0.23's ``from_schema`` cannot draw objects under the installed
Hypothesis, so documents come from the universe, not from it.)
"""
from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jsoncompat
import pytest
from hypothesis import HealthCheck, assume, event, given, note, settings
from hypothesis import strategies as st
from hypothesis_jsonschema._canonicalise import FALSEY, canonicalish
from jsonschema import Draft202012Validator

from runtime.contract.compat import Gap, input_breaks, output_breaks

pytestmark = pytest.mark.property

# -- schemas -------------------------------------------------------------------------------------
KEYS = ("a", "b", "c")
WORDS = ("a", "b", "c")
PATTERNS = ("^a", "^[ab]*$")
FORMATS = ("date", "email")
TYPES = ("null", "boolean", "integer", "number", "string", "array", "object")
SMALL = st.integers(-3, 3)
COUNT = st.integers(0, 3)

STRING = st.fixed_dictionaries({"type": st.just("string")}, optional={
    "minLength": COUNT, "maxLength": COUNT, "pattern": st.sampled_from(PATTERNS),
    "format": st.sampled_from(FORMATS)})
NUMBER = st.fixed_dictionaries({"type": st.sampled_from(["integer", "number"])}, optional={
    "minimum": SMALL, "maximum": SMALL, "exclusiveMinimum": SMALL, "exclusiveMaximum": SMALL,
    "multipleOf": st.sampled_from([1, 2, 3])})
ENUM = st.lists(st.one_of(st.sampled_from(WORDS), st.integers(0, 2), st.none(), st.booleans()),
                min_size=1, max_size=4, unique_by=json.dumps).flatmap(lambda values: st.one_of(
                    st.just({"enum": values}),
                    st.just({"const": values[0]}),
                    st.just({"type": "string", "enum": values}) if all(
                        isinstance(v, str) for v in values) else st.just({"enum": values})))
LEAF: st.SearchStrategy[dict[str, Any]] = st.one_of(
    STRING, NUMBER, ENUM, st.sampled_from([{"type": "null"}, {"type": "boolean"}, {}]),
    st.lists(st.sampled_from(TYPES), min_size=1, max_size=3, unique=True).map(
        lambda kinds: {"type": kinds}))


def _object(inner: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    props = st.dictionaries(st.sampled_from(KEYS), inner, max_size=3)
    return props.flatmap(lambda p: st.fixed_dictionaries(
        {"type": st.just("object"), "properties": st.just(p)}, optional={
            "required": st.lists(st.sampled_from(sorted(p) or KEYS), max_size=3, unique=True),
            "additionalProperties": st.one_of(st.just(False), inner)}))


def _compound(inner: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        _object(inner),
        st.fixed_dictionaries({"type": st.just("array")}, optional={
            "items": inner, "minItems": COUNT, "maxItems": COUNT, "uniqueItems": st.booleans()}),
        inner.map(lambda x: {"anyOf": [x, {"type": "null"}]}),
        st.lists(inner, min_size=2, max_size=3).map(lambda bs: {"anyOf": bs}),
        st.lists(inner, min_size=2, max_size=3).map(lambda bs: {"oneOf": bs}),
        st.tuples(inner, LEAF).map(lambda pair: {"allOf": list(pair)}),
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


Pick = Callable[[Any], Any]


def _kind(node: dict[str, Any]) -> str:
    kind = node.get("type")
    return kind if isinstance(kind, str) else "enum" if "enum" in node else "other"


_BOUNDS = {"integer": ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"),
           "number": ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"),
           "string": ("minLength", "maxLength"), "array": ("minItems", "maxItems"),
           "object": ("minProperties", "maxProperties")}


def _set_bound(node: dict[str, Any], pick: Pick, fresh: Any) -> None:
    keys = _BOUNDS.get(_kind(node))
    if keys:
        node[pick(keys)] = pick([0, 1, 2])


def _replace(node: dict[str, Any], value: dict[str, Any]) -> None:
    node.clear()
    node.update(value)


EDITS: dict[str, Callable[[dict[str, Any], Pick, Any], None]] = {
    "drop a keyword": lambda node, pick, fresh: node.pop(pick(sorted(node)), None) if node else None,
    "widen an enum": lambda node, pick, fresh: node.update(
        enum=[*node["enum"], pick(["d", 3, False])]) if "enum" in node else None,
    "narrow an enum": lambda node, pick, fresh: node.update(
        enum=node["enum"][1:] or node["enum"]) if "enum" in node else None,
    "move a bound": _set_bound,
    "add a pattern or format": lambda node, pick, fresh: node.update(
        {pick(["pattern", "format"]): pick(PATTERNS + FORMATS)}) if _kind(node) == "string" else None,
    "require a key": lambda node, pick, fresh: node.update(required=sorted(
        {*node.get("required", []), pick(KEYS)})) if _kind(node) == "object" else None,
    "close the object": lambda node, pick, fresh: node.update(
        additionalProperties=False) if _kind(node) == "object" else None,
    "open the object": lambda node, pick, fresh: node.pop("additionalProperties", None),
    "replace a node": lambda node, pick, fresh: _replace(node, fresh),
    "make it nullable": lambda node, pick, fresh: _replace(
        node, {"anyOf": [dict(node), {"type": "null"}]}),
    "wrap it in allOf": lambda node, pick, fresh: _replace(node, {"allOf": [dict(node)]}),
    "reorder lists": lambda node, pick, fresh: [
        node[k].reverse() for k in ("anyOf", "oneOf", "allOf", "enum", "required", "type")
        if isinstance(node.get(k), list)],
}


def _respell(schema: Any) -> Any:
    """An equivalent spelling: key, branch and enum order reversed, a lone const as an enum."""
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
    """(old, new, how): one or two edits of old, an equivalent respelling, or a fresh schema."""
    old = draw(SCHEMA)
    how = draw(st.sampled_from(["edit", "edit", "edit", "edit", "respell", "fresh"]))
    if how == "fresh":
        return old, draw(SCHEMA), how
    if how == "respell":
        return old, _respell(old), how
    new = copy.deepcopy(old)
    edits = draw(st.lists(st.sampled_from(sorted(EDITS)), min_size=1, max_size=2))
    for edit in edits:
        EDITS[edit](draw(st.sampled_from(_nodes(new))),
                    lambda options: draw(st.sampled_from(list(options))), draw(LEAF))
    return old, new, "edit: " + ", ".join(edits)


# -- the oracles --------------------------------------------------------------------------------
def oracle(old: Any, new: Any, role: str) -> bool | None:
    """jsoncompat's verdict (True: compatible); None where it declines the schema."""
    try:
        return bool(jsoncompat.check_compat(json.dumps(old), json.dumps(new), role))
    except ValueError:
        return None


def _universe() -> list[Any]:
    """Small documents around the generator's vocabulary: bounds, lengths, keys, formats."""
    scalars: list[Any] = [None, True, False, -5, -3, -2, -1, 0, 1, 2, 3, 5, -2.5, 0.5, 1.5, 3.5,
                          "", "a", "b", "c", "d", "ab", "ba", "abc", "aaaaa", "2020-01-02",
                          "x@example.com"]
    arrays: list[Any] = [[], [None], ["a"], [1], ["a", "a"], [1, 2], ["a", 1], [[]], [{}],
                         [1, 1, 1], [0, 1, 2, 3], ["a", "b", "c", "d", "a"]]
    objects: list[Any] = [{}, {"a": 1}, {"a": "a"}, {"a": None}, {"b": "b"}, {"c": True},
                          {"d": 1}, {"a": [1]}, {"a": {}}, {"a": 1, "b": "a"},
                          {"a": "a", "b": None, "c": 2}, {"a": 1, "b": 2, "c": 3, "d": 4}]
    objects += [{key: value} for key in KEYS for value in (-1, 1, 1.5, "a", "ab", None, [], {})]
    return scalars + arrays + objects + [[o] for o in objects[:6]] + [{"a": a} for a in arrays[:6]]


UNIVERSE = _universe()
FORMAT_CHECKER = Draft202012Validator.FORMAT_CHECKER
_VALIDATORS: dict[str, Draft202012Validator] = {}


def _valid(schema: Any, value: Any) -> bool:
    key = json.dumps(schema, sort_keys=True)
    if key not in _VALIDATORS:
        _VALIDATORS[key] = Draft202012Validator(schema, format_checker=FORMAT_CHECKER)
    return bool(_VALIDATORS[key].is_valid(value))


def witness(sub: Any, sup: Any) -> tuple[Any] | None:
    """A document of :data:`UNIVERSE` that ``sub`` accepts and ``sup`` rejects, if any."""
    return next(((u,) for u in UNIVERSE if _valid(sub, u) and not _valid(sup, u)), None)


@dataclass(frozen=True)
class Case:
    """One judged pair on one side, with the evidence a disagreement is classified by."""

    side: str
    how: str
    sub: Any
    sup: Any
    found: list[Gap]
    oracle_ok: bool
    example: tuple[Any] | None


@dataclass(frozen=True)
class Known:
    """A disagreement we keep on purpose: when it applies, and why we are right."""

    name: str
    reason: str
    applies: Callable[[Case], bool]


def _gap_rules(case: Case) -> set[str]:
    return {gap.rule for gap in case.found}


def _requires_undeclared(schema: Any) -> bool:
    return any(set(node.get("required", [])) - set(node.get("properties", {}))
               for node in _nodes(schema))


def _uses(schema: Any, keyword: str) -> bool:
    return keyword in json.dumps(schema)


KNOWN: list[Known] = [
    Known("pattern and format are constraints",
          "jsoncompat 0.3 ignores pattern and format; the runtime validates both (format with "
          "jsonschema's FORMAT_CHECKER), so one added on inputs or dropped on outputs breaks; "
          "the example document is the proof",
          lambda c: bool(c.found) and c.oracle_ok and c.example is not None
          and _gap_rules(c) <= {"pattern", "format"}),
    Known("pattern and format are compared as written",
          "the gate compares patterns and format names, not the strings they admit: a new one "
          "that every old string already satisfies (or a format jsonschema does not know) is a "
          "false alarm, never a missed break",
          lambda c: bool(c.found) and c.oracle_ok and c.example is None
          and _gap_rules(c) <= {"pattern", "format"}),
    Known("jsoncompat misses the break",
          "jsoncompat is alpha and documents that it does not detect every incompatible change; "
          "the example document is accepted by the narrower schema and rejected by the other",
          lambda c: bool(c.found) and c.oracle_ok and c.example is not None),
    Known("an overlapping oneOf is kept as written",
          "'exactly one of' over branches that may overlap is not modelled, so the gate asks for "
          "it unchanged: a false alarm (a version bump), never a missed break",
          lambda c: bool(c.found) and c.oracle_ok and c.example is None and _uses(
              [c.sub, c.sup], "oneOf")),
    Known("a contradiction the gate does not detect",
          "the gate finds contradictions among bounds, lengths, counts, multipleOf in a narrow "
          "range and required-but-impossible fields, not all of them; where the narrower schema "
          "is empty (hypothesis-jsonschema's canonical form says so) a reported break is a false "
          "alarm, never a miss",
          lambda c: bool(c.found) and c.oracle_ok and c.example is None
          and canonicalish(c.sub) == FALSEY),
    Known("an equivalent respelling",
          "the pair was built as a respelling (lists and keys reordered, const as enum); the "
          "issue requires reorderings to pass, and jsoncompat 0.3 flags some under allOf/oneOf",
          lambda c: not c.found and not c.oracle_ok and c.how == "respell"),
    Known("the narrower schema accepts nothing",
          "a contradictory schema (e.g. allOf of two types) accepts no document, so it is inside "
          "any other; hypothesis-jsonschema's canonical form confirms it is empty",
          lambda c: not c.found and not c.oracle_ok and canonicalish(c.sub) == FALSEY),
    Known("jsoncompat flags a required key that only additionalProperties covers",
          "requiring one more key narrows an object whatever schema covers it, yet jsoncompat 0.3 "
          "reports a break when the key is not among the properties",
          lambda c: not c.found and not c.oracle_ok and c.example is None
          and _requires_undeclared(c.sub if c.side == "outputs" else c.sup)),
    Known("jsoncompat does not fold combinators",
          "jsoncompat 0.3 reports a break for allOf/oneOf/anyOf it cannot merge with their "
          "siblings even where the sets are nested; no document of the universe contradicts us",
          lambda c: not c.found and not c.oracle_ok and c.example is None and any(
              _uses([c.sub, c.sup], k) for k in ("allOf", "oneOf", "anyOf"))),
]


def classify(case: Case) -> Known | None:
    """The named case that explains a disagreement, if any."""
    return next((k for k in KNOWN if k.applies(case)), None)


def judge(old: Any, new: Any, how: str) -> list[tuple[Case, bool | None]]:
    """Both sides of one pair: our gaps, the universe's example, and jsoncompat's verdict."""
    cases = []
    for side, role, sub, sup, found in (
            ("inputs", "deserializer", old, new, input_breaks(old, new)),
            ("outputs", "serializer", new, old, output_breaks(old, new))):
        verdict = oracle(old, new, role)
        cases.append((Case(side, how, sub, sup, found, bool(verdict), witness(sub, sup)), verdict))
    return cases


# derandomized: the lane sees the same 400 pairs each run, so a rare false alarm the gate does
# not yet explain fails once and reproducibly, not at random in someone else's CI run
SETTINGS = settings(max_examples=400, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


def judge_noted(pair: tuple[Any, Any, str]) -> list[tuple[Case, bool | None]]:
    """:func:`judge` on one generated pair, noting the pair for a failure report."""
    old, new, how = pair
    note(f"{how}\nold={json.dumps(old)}\nnew={json.dumps(new)}")
    return judge(old, new, how)


@SETTINGS
@given(pairs())
def test_a_compatible_verdict_has_no_counterexample(pair: tuple[Any, Any, str]) -> None:
    for case, _ in judge_noted(pair):
        if not case.found:
            assert case.example is None, f"{case.side}: gate says compatible, yet {case.example}"


@SETTINGS
@given(pairs())
def test_gate_agrees_with_jsoncompat_or_names_why(pair: tuple[Any, Any, str]) -> None:
    for case, verdict in judge_noted(pair):
        assume(verdict is not None)
        if verdict == (not case.found):
            event("agrees with jsoncompat")
            continue
        known = classify(case)
        assert known is not None, (
            f"{case.side}: gate says {[g.reason for g in case.found] or 'compatible'}, "
            f"jsoncompat says {'compatible' if verdict else 'break'}, example {case.example}")
        event(f"disagrees on purpose: {known.name}")
