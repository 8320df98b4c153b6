import json
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.kit.hashing import canonical_json, sha256_hex, tree_sha256

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(st.text(max_size=8), json_values, max_size=8))
def test_canonical_hash_is_independent_of_key_order(mapping):
    reordered = dict(reversed(list(mapping.items())))
    assert sha256_hex(canonical_json(mapping)) == sha256_hex(canonical_json(reordered))


def _reorder(value):
    """The same JSON value with every mapping's keys in reverse order, at every depth."""
    if isinstance(value, dict):
        return {key: _reorder(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [_reorder(item) for item in value]
    return value


@given(json_values)
def test_canonical_hash_is_independent_of_key_order_at_every_depth(value):
    assert sha256_hex(canonical_json(value)) == sha256_hex(canonical_json(_reorder(value)))


@given(json_values)
def test_canonical_json_round_trips(value):
    assert json.loads(canonical_json(value)) == value


@given(json_values, json_values)
def test_different_values_hash_differently(one, other):
    if one != other:
        assert sha256_hex(canonical_json(one)) != sha256_hex(canonical_json(other))


@settings(max_examples=20, deadline=None)
@given(st.dictionaries(st.from_regex(r"[a-z]{1,6}", fullmatch=True), st.binary(max_size=64),
                       min_size=1, max_size=5))
def test_tree_hash_ignores_creation_order(files):
    with tempfile.TemporaryDirectory() as first, tempfile.TemporaryDirectory() as second:
        for root, names in ((first, sorted(files)), (second, sorted(files, reverse=True))):
            for name in names:
                Path(root, name).write_bytes(files[name])
        assert tree_sha256(first) == tree_sha256(second)
