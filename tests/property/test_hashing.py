from hypothesis import given
from hypothesis import strategies as st

from runtime.kit.hashing import canonical_json, sha256_hex

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
