"""The literal prefilter in redact_text never changes what the token-shape regex would redact."""

from hypothesis import given
from hypothesis import strategies as st

from runtime.redaction import _TOKEN_PREFIXES, _TOKEN_SHAPES, REDACTED, redact_text

PIECES = st.sampled_from([*_TOKEN_PREFIXES, "p_", "b-", "_", "-", ".", " ", "A" * 16, "a1" * 10])
TEXT = st.lists(st.one_of(PIECES, st.text(max_size=8)), max_size=12).map("".join)


@given(TEXT)
def test_redact_text_matches_the_plain_token_regex(text):
    assert redact_text(text) == _TOKEN_SHAPES.sub(REDACTED, text)
