"""Set reasoning over JSON Schemas: the documents one schema accepts that another rejects.

The compatibility gate asks one question in two directions — does every document ``sub`` accepts
also pass ``sup``? — so this module answers it once, as a list of :class:`Gap`.

Each schema is split into *facets*: one per JSON type and ``anyOf``/``oneOf`` branch (its
disjunctive form, with ``allOf`` folded in), each a plain record of bounds, lengths, patterns,
formats, properties and items. ``sub`` fits when every facet of it fits inside one facet of
``sup``; a finite facet (an ``enum``, ``const``, ``null`` or ``boolean``) is checked exactly by
validating each value against both schemas. The reasoning is sound, not complete: a constraint
it cannot model (``not``, ``if``, ``patternProperties``, ``contains``, a recursive ``$ref`` …)
must appear unchanged on both sides, else it is a gap — a false alarm is a version bump, a
missed break is a broken consumer.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from fractions import Fraction
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator
from referencing.exceptions import Unresolvable

ITEMS = -1  # path marker: "every item of this array" (past any prefixItems)
ADDITIONAL = "<additional>"  # path marker: "any property not named in properties"
_REF_TARGET = "x-compat-ref-target"  # beside a $ref that stays: the text of its target
_SMALL_RANGE = 1024  # an integer range this narrow is searched for a multipleOf member
MAX_FACETS = 256  # beyond this the disjunctive form is not worth building: cannot prove
KINDS = ("null", "boolean", "number", "string", "array", "object")
FINITE_KINDS = {"null": (None,), "boolean": (True, False)}

FieldPath = list[str | int]

_ANNOTATIONS = {"$schema", "$id", "$anchor", "$comment", "$vocabulary", "title", "description",
                "default", "examples", "deprecated", "readOnly", "writeOnly", "$defs",
                "definitions", "contentEncoding", "contentMediaType", "contentSchema"}
_SCHEMA_KEYS = {"items", "additionalProperties", "not", "if", "then", "else", "contains",
                "propertyNames", "unevaluatedItems", "unevaluatedProperties"}
_SCHEMA_LISTS = {"allOf", "anyOf", "oneOf", "prefixItems"}
_SCHEMA_MAPS = {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}
_UNORDERED = {"allOf", "anyOf", "required", "type", "enum"}  # and oneOf, without de-duplication
_MODELLED = {"type", "enum", "const", "allOf", "anyOf", "oneOf", "$ref",
             "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
             "minLength", "maxLength", "pattern", "format",
             "minItems", "maxItems", "uniqueItems", "items", "prefixItems",
             "properties", "additionalProperties", "required", "minProperties", "maxProperties"}
# keywords this module does not model, and the one kind each constrains (None: every kind)
_OPAQUE_KIND = {"contains": "array", "minContains": "array", "maxContains": "array",
                "unevaluatedItems": "array", "patternProperties": "object",
                "propertyNames": "object", "dependentRequired": "object",
                "dependentSchemas": "object", "unevaluatedProperties": "object"}


class _TooComplexError(Exception):
    """The schema is too large to reason about here (the gap is reported, not raised)."""


@dataclass(frozen=True)
class Gap:
    """One way ``sub`` accepts a document ``sup`` rejects: where, which rule, and in words."""

    path: FieldPath
    rule: str
    reason: str


@dataclass(frozen=True)
class Wording:
    """How one side phrases a gap; ``old_is_sub`` says which schema is the old one."""

    old_is_sub: bool
    kinds: str
    values: str
    restricted: str
    bound: str
    keyword: str
    required: str
    closed: str
    removed_closed: str
    dropped: str
    unique: str
    nothing: str


INPUTS = Wording(
    old_is_sub=True,
    kinds="type narrowed: {kinds} no longer accepted",
    values="enum narrowed: {values} no longer accepted",
    restricted="enum narrowed: now restricted to {values}",
    bound="{rule} tightened from {old} to {new}",
    keyword="{rule} {value} added",
    required="new required field",
    closed="additional properties are now forbidden",
    removed_closed="property removed while additionalProperties is false",
    dropped="",
    unique="uniqueItems now required",
    nothing="no value accepted any more",
)
OUTPUTS = Wording(
    old_is_sub=False,
    kinds="type widened: now also {kinds}",
    values="enum widened: {values} now possible",
    restricted="enum removed: no longer limited to {values}",
    bound="{rule} loosened from {old} to {new}",
    keyword="{rule} {value} removed",
    required="dropped from required",
    closed="additionalProperties: false removed: undeclared fields now possible",
    removed_closed="",
    dropped="property dropped",
    unique="uniqueItems no longer guaranteed",
    nothing="values now possible where none were",
)


# -- schema text ---------------------------------------------------------------------------------
def _canon_node(schema: Any) -> Any:
    """``schema`` without annotations and with order-free lists sorted (schema-aware)."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _ANNOTATIONS:
            continue
        if key in _SCHEMA_KEYS:
            value = _canon_node(value)
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            value = [_canon_node(v) for v in value]
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            value = {k: _canon_node(v) for k, v in value.items()}
        if key == "oneOf" and isinstance(value, list):  # a repeated branch matters here
            value = sorted(value, key=_text)
        elif key in _UNORDERED and isinstance(value, list):
            value = sorted({_text(v): v for v in value}.values(), key=_text)
        out[key] = value
    return out


def _text(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def canon(schema: Any) -> str:
    """One text per spelling class: equal texts accept exactly the same documents."""
    node = _canon_node(schema)
    return _text(True if node == {} else node)


def inline_refs(schema: Any, root: Any | None = None, stack: tuple[str, ...] = ()) -> Any:
    """``schema`` with every local, non-recursive ``$ref`` replaced by what it points at.

    A recursive or remote ``$ref`` stays as written (the facets treat it as opaque).
    """
    root = schema if root is None else root
    if isinstance(schema, list):
        return [inline_refs(v, root, stack) for v in schema]
    if not isinstance(schema, dict):
        return schema
    ref = schema.get("$ref")
    out = {k: (v if k in ("enum", "const") else inline_refs(v, root, stack))
           for k, v in schema.items() if k != "$ref"}
    if not isinstance(ref, str):
        return out
    target = _pointer(root, ref[1:]) if ref.startswith("#") else None
    if target is None or ref in stack:
        # kept as written; every definition joins the text, so a changed target is a change
        defs = {k: {name: _canon_node(v) for name, v in root.get(k, {}).items()}
                for k in ("$defs", "definitions") if isinstance(root.get(k), dict)}
        return {**out, "$ref": ref, _REF_TARGET: _text([_canon_node(target), defs])}
    resolved = inline_refs(target, root, (*stack, ref))
    return resolved if not _canon_node(out) else {"allOf": [resolved, out]}


def _pointer(root: Any, pointer: str) -> Any | None:
    if pointer and not pointer.startswith("/"):  # an anchor ("#name"), not a JSON pointer
        return None
    node = root
    for raw in pointer.split("/")[1:] if pointer else []:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


@lru_cache(maxsize=2048)
def _validator(text: str) -> Draft202012Validator:
    # format is asserted, as schemas.py validates inputs and outputs
    return Draft202012Validator(json.loads(text), format_checker=Draft202012Validator.FORMAT_CHECKER)


def accepts(schema: Any, value: Any) -> bool | None:
    """Whether ``schema`` accepts ``value``; ``None`` when it cannot be evaluated alone."""
    try:
        return bool(_validator(canon(schema)).is_valid(value))
    except Unresolvable:
        return None


def same_value(a: Any, b: Any) -> bool:
    """JSON equality: ``1 == 1.0`` but ``true != 1`` (unlike Python's ``==``)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def kind_of(value: Any) -> str:
    """The JSON type of a value (integers are numbers)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


# -- facets --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Bound:
    """One end of a number range, keeping the keyword and value as written for messages."""

    value: Fraction
    exclusive: bool
    keyword: str
    shown: Any


@dataclass(frozen=True)
class Facet:
    """The documents of one JSON kind that one branch of a schema accepts."""

    kind: str
    values: tuple[Any, ...] | None = None  # a superset of the members when finite
    opaque: frozenset[tuple[str, str]] = frozenset()  # unmodelled (keyword, canonical value)
    integer: bool = False
    lower: Bound | None = None
    upper: Bound | None = None
    multiples: tuple[Fraction, ...] = ()
    min_len: int = 0
    max_len: int | None = None
    patterns: frozenset[str] = frozenset()
    formats: frozenset[str] = frozenset()
    min_items: int = 0
    max_items: int | None = None
    unique: bool = False
    prefix: tuple[Any, ...] = ()
    items: Any = True
    named: dict[str, Any] = field(default_factory=dict)
    rest: Any = True
    required: frozenset[str] = frozenset()
    min_props: int = 0
    max_props: int | None = None

    def at(self, index: int) -> Any:
        """The schema of array position ``index``."""
        return self.prefix[index] if index < len(self.prefix) else self.items

    def prop(self, name: str) -> Any:
        """The schema of property ``name``."""
        return self.named.get(name, self.rest)

    def whole_integer(self) -> bool:
        """Only integers: ``type: integer`` or an integral ``multipleOf``."""
        return self.integer or any(m.denominator == 1 for m in self.multiples)


def _number(value: Any) -> Fraction:
    return Fraction(str(value)) if isinstance(value, float) else Fraction(value)


def _all_of(a: Any, b: Any) -> Any:
    if canon(a) == "true" or canon(a) == canon(b):
        return b
    if canon(b) == "true":
        return a
    return False if a is False or b is False else {"allOf": [a, b]}


def _tighter(a: Bound | None, b: Bound | None, lower: bool) -> Bound | None:
    if a is None or b is None:
        return a or b
    if a.value != b.value:
        return a if (a.value > b.value) == lower else b
    return a if a.exclusive else b


def _min_none(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _intersect(a: Facet, b: Facet) -> Facet:
    values = a.values if b.values is None else b.values if a.values is None else \
        tuple(v for v in a.values if any(same_value(v, w) for w in b.values))
    named = {k: _all_of(a.prop(k), b.prop(k)) for k in sorted({*a.named, *b.named})}
    width = max(len(a.prefix), len(b.prefix))
    return replace(
        a, values=values, opaque=a.opaque | b.opaque,
        integer=a.integer or b.integer, lower=_tighter(a.lower, b.lower, True),
        upper=_tighter(a.upper, b.upper, False), multiples=(*a.multiples, *b.multiples),
        min_len=max(a.min_len, b.min_len), max_len=_min_none(a.max_len, b.max_len),
        patterns=a.patterns | b.patterns, formats=a.formats | b.formats,
        min_items=max(a.min_items, b.min_items), max_items=_min_none(a.max_items, b.max_items),
        unique=a.unique or b.unique, prefix=tuple(_all_of(a.at(i), b.at(i)) for i in range(width)),
        items=_all_of(a.items, b.items), named=named, rest=_all_of(a.rest, b.rest),
        required=a.required | b.required, min_props=max(a.min_props, b.min_props),
        max_props=_min_none(a.max_props, b.max_props))


def _int_range(facet: Facet) -> tuple[int | None, int | None]:
    low = up = None
    if facet.lower is not None:
        v = facet.lower.value
        low = math.floor(v) + 1 if facet.lower.exclusive else math.ceil(v)
    if facet.upper is not None:
        v = facet.upper.value
        up = math.ceil(v) - 1 if facet.upper.exclusive else math.floor(v)
    return low, up


def _is_empty(facet: Facet) -> bool:
    """Whether the modelled constraints alone already admit no document."""
    if facet.values is not None and not facet.values:
        return True
    if facet.kind == "number":
        lo, hi = facet.lower, facet.upper
        if facet.whole_integer():
            low, up = _int_range(facet)
            if low is None or up is None:
                return False
            if up - low <= _SMALL_RANGE:  # few enough to try each: multipleOf may rule all out
                return not any(all((n / m).denominator == 1 for m in facet.multiples)
                               for n in map(Fraction, range(low, up + 1)))
            return False
        return lo is not None and hi is not None and (
            lo.value > hi.value or (lo.value == hi.value and (lo.exclusive or hi.exclusive)))
    if facet.kind == "string":
        return facet.max_len is not None and facet.min_len > facet.max_len
    if facet.kind == "array":
        return (facet.max_items is not None and facet.min_items > facet.max_items) or any(
            _admits_nothing(facet.at(i))
            for i in range(min(facet.min_items, len(facet.prefix) + 1)))
    if facet.kind == "object":
        return (facet.max_props is not None and facet.min_props > facet.max_props) or any(
            _admits_nothing(facet.prop(k)) for k in facet.required)
    return False


def _admits_nothing(schema: Any) -> bool:
    """Whether ``schema`` provably accepts no value (a required item or property then cannot be)."""
    try:
        return not facets(schema)
    except _TooComplexError:
        return False


def _own_facets(schema: dict[str, Any]) -> list[Facet]:
    """The facets of one schema object's own keywords (not its combinators)."""
    kinds: set[str] = set(KINDS)
    declared = schema.get("type")
    integer = False
    if declared is not None:
        names = {declared} if isinstance(declared, str) else set(declared)
        integer = "integer" in names and "number" not in names
        kinds = {"number" if n == "integer" else n for n in names}
    values: list[Any] | None = None
    if "const" in schema:
        values = [schema["const"]]
    if isinstance(schema.get("enum"), list):
        enum = schema["enum"]
        values = enum if values is None else [v for v in values if any(same_value(v, w)
                                                                        for w in enum)]
    opaque = {k: v for k, v in schema.items() if k not in _MODELLED and k not in _ANNOTATIONS}
    if "$ref" in schema:  # a ref that could not be inlined: recursive or remote
        opaque["$ref"] = [schema["$ref"], schema.get(_REF_TARGET)]
        opaque.pop(_REF_TARGET, None)
    for key in ("unevaluatedProperties", "unevaluatedItems"):
        if key in schema:  # what counts as evaluated depends on the whole schema object
            opaque[key] = schema
    if "patternProperties" in schema:  # it changes what additionalProperties covers
        opaque["patternProperties"] = [schema["patternProperties"],
                                       sorted(schema.get("properties", {})),
                                       _canon_node(schema.get("additionalProperties", True))]
    facets = []
    for kind in sorted(kinds):
        facet = Facet(kind=kind, integer=integer and kind == "number")
        if values is not None:
            facet = replace(facet, values=tuple(v for v in values if kind_of(v) == kind))
        elif kind in FINITE_KINDS:
            facet = replace(facet, values=FINITE_KINDS[kind])
        marks = {k: v for k, v in opaque.items() if _OPAQUE_KIND.get(k, kind) == kind}
        facet = replace(facet, opaque=frozenset((k, _text(_canon_node(v))) for k, v in marks.items()))
        facets.append(_with_keywords(facet, schema))
    return facets


def _with_keywords(facet: Facet, schema: dict[str, Any]) -> Facet:
    get = schema.get
    if facet.kind == "number":
        lower = upper = None
        for key, is_lower, exclusive in (("minimum", True, False), ("exclusiveMinimum", True, True),
                                         ("maximum", False, False), ("exclusiveMaximum", False, True)):
            if key in schema:
                bound = Bound(_number(schema[key]), exclusive, key, schema[key])
                if is_lower:
                    lower = _tighter(lower, bound, True)
                else:
                    upper = _tighter(upper, bound, False)
        multiples = (_number(get("multipleOf")),) if "multipleOf" in schema else ()
        return replace(facet, lower=lower, upper=upper, multiples=multiples)
    if facet.kind == "string":
        return replace(facet, min_len=get("minLength", 0), max_len=get("maxLength"),
                       patterns=frozenset([schema["pattern"]] if "pattern" in schema else []),
                       formats=frozenset([schema["format"]] if "format" in schema else []))
    if facet.kind == "array":
        return replace(facet, min_items=get("minItems", 0), max_items=get("maxItems"),
                       unique=bool(get("uniqueItems", False)),
                       prefix=tuple(get("prefixItems", ())), items=get("items", True))
    if facet.kind == "object":
        rest = True if "patternProperties" in schema else get("additionalProperties", True)
        return replace(facet, named=dict(get("properties", {})), rest=rest,
                       required=frozenset(get("required", ())),
                       min_props=get("minProperties", 0), max_props=get("maxProperties"))
    return facet


def _product(left: list[Facet], right: list[Facet]) -> list[Facet]:
    found = [_intersect(a, b) for a in left for b in right if a.kind == b.kind]
    found = [f for f in found if not _is_empty(f)]
    if len(found) > MAX_FACETS:
        raise _TooComplexError
    return found


def facets(schema: Any) -> list[Facet]:
    """The disjunctive form of ``schema``: a document is accepted iff it fits one facet.

    Exact up to the opaque constraints each facet carries. Raises ``_TooComplexError`` past
    :data:`MAX_FACETS`.
    """
    if schema is False:
        return []
    if not isinstance(schema, dict):
        schema = {}
    found = [f for f in _own_facets(schema) if not _is_empty(f)]
    for member in schema.get("allOf", []):
        found = _product(found, facets(member))
    if "anyOf" in schema:
        found = _product(found, [f for branch in schema["anyOf"] for f in facets(branch)])
    if "oneOf" in schema:
        branches = [facets(branch) for branch in schema["oneOf"]]
        union = [f for branch in branches for f in branch]
        if not _disjoint(branches):  # then "exactly one" is more than "any": keep it as written
            mark = ("oneOf", _text(_canon_node(schema)["oneOf"]))
            union = [replace(f, opaque=f.opaque | {mark}) for f in union]
        found = _product(found, union)
    return found


def _disjoint(branches: list[list[Facet]]) -> bool:
    """Whether no document can match two branches: their facets pairwise contradict."""
    return all(a.kind != b.kind or _is_empty(_intersect(a, b))
               for i, left in enumerate(branches) for right in branches[i + 1:]
               for a in left for b in right)


# -- containment ---------------------------------------------------------------------------------
def gaps(sub: Any, sup: Any, words: Wording, path: FieldPath | None = None) -> list[Gap]:
    """Every way ``sub`` accepts a document ``sup`` rejects; empty means proven contained."""
    here: FieldPath = list(path or [])
    if path is None:
        sub, sup = inline_refs(sub), inline_refs(sup)
    if canon(sub) == canon(sup) or canon(sup) == "true":
        return []
    try:
        sub_facets, sup_facets = facets(sub), facets(sup)
    except _TooComplexError:
        return [Gap(here, "schema", f"too many alternatives to prove (over {MAX_FACETS})")]
    if canon(sup) == "false":
        return [Gap(here, "schema", words.nothing)] if sub_facets else []
    found: list[Gap] = []
    lost_kinds: list[str] = []
    lost_values: list[Any] = []
    for facet in sub_facets:
        same_kind = [f for f in sup_facets if f.kind == facet.kind]
        lost_here: list[Any] = []
        if facet.values is not None:  # exact, whatever sup looks like
            found += _finite_gaps(facet, sub, sup, here, lost_here)
        if (lost_here or facet.values is None) and not same_kind:
            label = "integer" if facet.kind == "number" and facet.integer else facet.kind
            lost_kinds += [] if label in lost_kinds else [label]
        elif facet.values is None:
            found += _best_fit(facet, same_kind, words, here)
        else:
            lost_values += [v for v in lost_here if not any(same_value(v, w) for w in lost_values)]
    if lost_kinds:
        found.insert(0, Gap(here, "type", words.kinds.format(kinds="/".join(sorted(lost_kinds)))))
    if lost_values:
        found.insert(0, Gap(here, "enum", words.values.format(values=_text(lost_values))))
    return _unique(found)


def _finite_gaps(facet: Facet, sub: Any, sup: Any, here: FieldPath, lost: list[Any]
                 ) -> list[Gap]:
    """Exact: each candidate value ``sub`` accepts must pass ``sup``."""
    for value in facet.values or ():
        in_sub, in_sup = accepts(sub, value), accepts(sup, value)
        if in_sub is None or in_sup is None:
            return [Gap(here, "$ref", "'$ref' changed (cannot prove compatible)")]
        if in_sub and not in_sup:
            lost.append(value)
    return []


def _best_fit(facet: Facet, candidates: list[Facet], words: Wording, here: FieldPath) -> list[Gap]:
    """No gaps when ``facet`` fits one candidate; else the gaps of the closest one."""
    best: list[Gap] | None = None
    for candidate in candidates:
        found = _facet_gaps(facet, candidate, words, here)
        if not found:
            return []
        if best is None or len(found) < len(best):
            best = found
    return best or []


def _old_new(words: Wording, sub: Any, sup: Any) -> tuple[Any, Any]:
    return (sub, sup) if words.old_is_sub else (sup, sub)


def _fraction_text(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else str(float(value))


def _shown(bound: Bound | None) -> str:
    return "none" if bound is None else _text(bound.shown)


def _bound_fits(sub: Facet, sub_bound: Bound | None, sup_bound: Bound | None, lower: bool) -> bool:
    if sup_bound is None:
        return True
    if sub.whole_integer():
        low, up = _int_range(sub)
        edge = low if lower else up
        if edge is None:
            return False
        beyond = edge > sup_bound.value if lower else edge < sup_bound.value
        return beyond or (edge == sup_bound.value and not sup_bound.exclusive)
    if sub_bound is None:
        return False
    if sub_bound.value != sup_bound.value:
        return (sub_bound.value > sup_bound.value) == lower
    return sub_bound.exclusive or not sup_bound.exclusive


def _facet_gaps(a: Facet, b: Facet, words: Wording, here: FieldPath) -> list[Gap]:
    """Every way facet ``a`` (of sub) is not inside facet ``b`` (of sup)."""
    found: list[Gap] = []
    if b.values is not None:
        return [Gap(here, "enum", words.restricted.format(values=_text(list(b.values))))]
    found += [Gap(here, name, f"{name!r} changed (cannot prove compatible)")
              for name in sorted({name for name, _ in b.opaque - a.opaque})]
    bound_text = words.bound
    if a.kind == "number":
        if b.integer and not a.whole_integer():
            found.append(Gap(here, "type", words.kinds.format(kinds="number")))
        for lower, sub_bound, sup_bound in ((True, a.lower, b.lower), (False, a.upper, b.upper)):
            if not _bound_fits(a, sub_bound, sup_bound, lower):
                rule = sup_bound.keyword if sup_bound else "bound"
                old, new = _old_new(words, _shown(sub_bound), _shown(sup_bound))
                found.append(Gap(here, rule, bound_text.format(rule=rule, old=old, new=new)))
        for m in b.multiples:
            if not any((x / m).denominator == 1 for x in a.multiples) and not (
                    a.whole_integer() and (1 / m).denominator == 1):
                held = "/".join(_fraction_text(x) for x in a.multiples) or "none"
                old, new = _old_new(words, held, _fraction_text(m))
                found.append(Gap(here, "multipleOf", bound_text.format(rule="multipleOf",
                                                                       old=old, new=new)))
    elif a.kind == "string":
        found += _size_gaps(("minLength", a.min_len, b.min_len), ("maxLength", a.max_len, b.max_len),
                            words, here)
        for rule, mine, theirs in (("pattern", a.patterns, b.patterns),
                                   ("format", a.formats, b.formats)):
            found += [Gap(here, rule, words.keyword.format(rule=rule, value=_text(v)))
                      for v in sorted(theirs - mine)]
    elif a.kind == "array":
        found += _array_gaps(a, b, words, here)
    elif a.kind == "object":
        found += _object_gaps(a, b, words, here)
    return found


def _size_gaps(low: tuple[str, int, int], high: tuple[str, int | None, int | None],
               words: Wording, here: FieldPath) -> list[Gap]:
    found: list[Gap] = []
    rule, mine, theirs = low
    if mine < theirs:
        old, new = _old_new(words, mine or "none", theirs or "none")
        found.append(Gap(here, rule, words.bound.format(rule=rule, old=old, new=new)))
    rule, top, limit = high
    if limit is not None and (top is None or top > limit):
        old, new = _old_new(words, "none" if top is None else top, limit)
        found.append(Gap(here, rule, words.bound.format(rule=rule, old=old, new=new)))
    return found


def _max_items(facet: Facet) -> int | None:
    """``maxItems``, or the prefix length when no item past it can be valid."""
    if _admits_nothing(facet.items):
        return _min_none(facet.max_items, len(facet.prefix))
    return facet.max_items


def _array_gaps(a: Facet, b: Facet, words: Wording, here: FieldPath) -> list[Gap]:
    a_max, b_max = _max_items(a), _max_items(b)
    found = _size_gaps(("minItems", a.min_items, b.min_items), ("maxItems", a_max, b_max),
                       words, here)
    if b.unique and not a.unique and not (a_max is not None and a_max <= 1):
        found.append(Gap(here, "uniqueItems", words.unique))
    width = max(len(a.prefix), len(b.prefix))
    for index in range(width):
        if a_max is None or index < a_max:
            found += gaps(a.at(index), b.at(index), words, [*here, index])
    if a_max is None or width < a_max:
        found += gaps(a.items, b.items, words, [*here, ITEMS])
    return found


def _object_gaps(a: Facet, b: Facet, words: Wording, here: FieldPath) -> list[Gap]:
    found: list[Gap] = [Gap([*here, name], "required", words.required)
                        for name in sorted(b.required - a.required)]
    found += _size_gaps(("minProperties", a.min_props, b.min_props),
                        ("maxProperties", a.max_props, b.max_props), words, here)
    for name in sorted({*a.named, *b.named}):
        mine, theirs = a.prop(name), b.prop(name)
        if canon(mine) in ("false", canon(theirs)):
            continue
        if name not in b.named and canon(theirs) == "false" and words.removed_closed:
            found.append(Gap([*here, name], "additionalProperties", words.removed_closed))
        elif name not in a.named and canon(mine) == "true" and words.dropped:
            found.append(Gap([*here, name], "properties", words.dropped))
        else:
            found += gaps(mine, theirs, words, [*here, name])
    if canon(b.rest) == "false" and canon(a.rest) != "false":
        found.append(Gap(here, "additionalProperties", words.closed))
    elif canon(a.rest) != "false":
        found += gaps(a.rest, b.rest, words, [*here, ADDITIONAL])
    return found


def _unique(found: list[Gap]) -> list[Gap]:
    seen: set[str] = set()
    kept = []
    for gap in found:
        key = _text([[str(p) for p in gap.path], gap.rule, gap.reason])
        if key not in seen:
            seen.add(key)
            kept.append(gap)
    return kept
