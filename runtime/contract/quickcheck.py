"""A compiled yes/no check for the common subset of JSON Schema, without loading ``jsonschema``.

Processor schemas mostly use ``type``, ``properties``, ``required``, ``additionalProperties``,
``items``/``prefixItems``, ``enum``/``const`` and the numeric/length/size bounds.
:func:`compile_check` turns such a schema into one Python predicate that gives
``jsonschema``'s Draft 2020-12 verdict with the standard library only, so a valid run never
imports ``jsonschema`` (with ``referencing`` and ``attrs``, about 40 ms of a cold CLI).

The predicate only says *valid*: when it says no, the caller asks ``jsonschema`` for the messages,
and ``jsonschema`` stays the authority (a "no" it does not confirm is a pass). Any keyword outside
the subset (``$ref``, ``pattern``, ``format``, ``oneOf`` …) or a keyword value of an unexpected
type makes :func:`compile_check` return ``None``: the caller then uses ``jsonschema`` alone. The
semantics mirror ``jsonschema``'s ``_keywords``, ``_types`` and ``_utils.equal``; a hypothesis
test (``tests/property/test_quickcheck.py``) holds the two verdicts equal on generated schemas
and instances.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Check = Callable[[Any], bool]

#: Keywords that never change a verdict.
ANNOTATIONS = frozenset({"$schema", "$comment", "title", "description", "default", "examples",
                         "deprecated", "readOnly", "writeOnly"})
_TYPES = ("array", "boolean", "integer", "null", "number", "object", "string")


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, numbers.Number)


def _is_integer(value: Any) -> bool:
    # Draft 6 and later: 1.0 is an integer; bool is never a number.
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


_IS_TYPE: dict[str, Check] = {
    "array": lambda value: isinstance(value, list),
    "boolean": lambda value: isinstance(value, bool),
    "integer": _is_integer,
    "null": lambda value: value is None,
    "number": _is_number,
    "object": lambda value: isinstance(value, dict),
    "string": lambda value: isinstance(value, str),
}


def equal(one: Any, two: Any) -> bool:
    """JSON equality as ``jsonschema`` judges it: ``True`` is not ``1``, ``1`` is ``1.0``."""
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return bool(one == two)
    if isinstance(one, Sequence) and isinstance(two, Sequence):
        return len(one) == len(two) and all(equal(a, b) for a, b in zip(one, two, strict=True))
    if isinstance(one, Mapping) and isinstance(two, Mapping):
        return len(one) == len(two) and all(key in two and equal(value, two[key])
                                            for key, value in one.items())
    return bool(_unbool(one) == _unbool(two))


_TRUE, _FALSE = object(), object()


def _unbool(value: Any) -> Any:
    if value is True:
        return _TRUE
    if value is False:
        return _FALSE
    return value


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def compile_check(schema: Any) -> Check | None:
    """The verdict of ``schema`` as one predicate, or ``None`` when it uses more than the subset."""
    try:
        return _compile(schema)
    except _UnsupportedError:
        return None


class _UnsupportedError(Exception):
    """The schema uses a keyword (or a keyword value) outside the compiled subset."""


def _compile(schema: Any) -> Check:
    if schema is True:
        return _always
    if schema is False:
        return _never
    if not isinstance(schema, dict):
        raise _UnsupportedError
    checks: list[Check] = []
    for keyword, value in schema.items():
        if keyword in ANNOTATIONS:
            continue
        build = _KEYWORDS.get(keyword)
        if build is None:
            raise _UnsupportedError
        checks.append(build(value, schema))
    if not checks:
        return _always
    if len(checks) == 1:
        return checks[0]
    return lambda instance: all(check(instance) for check in checks)


def _always(_instance: Any) -> bool:
    return True


def _never(_instance: Any) -> bool:
    return False


def _type(value: Any, _schema: dict[str, Any]) -> Check:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names or any(n not in _TYPES for n in names):
        raise _UnsupportedError
    tests = [_IS_TYPE[name] for name in names]
    return lambda instance: any(test(instance) for test in tests)


def _properties(value: Any, schema: dict[str, Any]) -> Check:
    if not isinstance(value, dict):
        raise _UnsupportedError
    compiled = [(name, _compile(sub)) for name, sub in value.items()]

    def check(instance: Any) -> bool:
        if not isinstance(instance, dict):
            return True
        return all(check_(instance[name]) for name, check_ in compiled if name in instance)

    return check


def _additional(value: Any, schema: dict[str, Any]) -> Check:
    if "patternProperties" in schema:
        raise _UnsupportedError
    known = schema.get("properties", {})
    if not isinstance(known, dict):
        raise _UnsupportedError
    sub = _compile(value)

    def check(instance: Any) -> bool:
        if not isinstance(instance, dict):
            return True
        return all(sub(item) for key, item in instance.items() if key not in known)

    return check


def _required(value: Any, _schema: dict[str, Any]) -> Check:
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise _UnsupportedError
    names = list(value)
    return lambda instance: not isinstance(instance, dict) or all(n in instance for n in names)


def _items(value: Any, schema: dict[str, Any]) -> Check:
    prefix = schema.get("prefixItems", [])
    if not isinstance(prefix, list):
        raise _UnsupportedError
    skip, sub = len(prefix), _compile(value)
    return lambda instance: not isinstance(instance, list) or all(
        sub(item) for item in instance[skip:])


def _prefix_items(value: Any, _schema: dict[str, Any]) -> Check:
    if not isinstance(value, list) or not value:
        raise _UnsupportedError
    compiled = [_compile(sub) for sub in value]
    return lambda instance: not isinstance(instance, list) or all(
        check(item) for check, item in zip(compiled, instance, strict=False))


def _enum(value: Any, _schema: dict[str, Any]) -> Check:
    if not isinstance(value, list):
        raise _UnsupportedError
    allowed = list(value)
    return lambda instance: any(equal(each, instance) for each in allowed)


def _const(value: Any, _schema: dict[str, Any]) -> Check:
    return lambda instance: equal(instance, value)


def _bound(test: Callable[[Any, Any], bool]) -> Callable[[Any, dict[str, Any]], Check]:
    def build(value: Any, _schema: dict[str, Any]) -> Check:
        if not _is_number(value):
            raise _UnsupportedError
        return lambda instance: not _is_number(instance) or test(instance, value)

    return build


def _size(kind: str, test: Callable[[int, int], bool]) -> Callable[[Any, dict[str, Any]], Check]:
    is_kind = _IS_TYPE[kind]

    def build(value: Any, _schema: dict[str, Any]) -> Check:
        if not _count(value):
            raise _UnsupportedError
        return lambda instance: not is_kind(instance) or test(len(instance), value)

    return build


def _at_least(size: int, bound: int) -> bool:
    return not size < bound


def _at_most(size: int, bound: int) -> bool:
    return not size > bound


_KEYWORDS: dict[str, Callable[[Any, dict[str, Any]], Check]] = {
    "type": _type,
    "properties": _properties,
    "additionalProperties": _additional,
    "required": _required,
    "items": _items,
    "prefixItems": _prefix_items,
    "enum": _enum,
    "const": _const,
    # Written as jsonschema's failure tests, negated: NaN then compares the same way.
    "minimum": _bound(lambda instance, bound: not instance < bound),
    "maximum": _bound(lambda instance, bound: not instance > bound),
    "exclusiveMinimum": _bound(lambda instance, bound: not instance <= bound),
    "exclusiveMaximum": _bound(lambda instance, bound: not instance >= bound),
    "minLength": _size("string", _at_least),
    "maxLength": _size("string", _at_most),
    "minItems": _size("array", _at_least),
    "maxItems": _size("array", _at_most),
    "minProperties": _size("object", _at_least),
    "maxProperties": _size("object", _at_most),
}
