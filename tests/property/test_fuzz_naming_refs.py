"""Fuzzing the ref parser and the Modal naming helper.

Every computed name is a legal Modal object name within the length bound and never looks like
an app id; two distinct (branch, user) pairs whose names needed sanitising never share a name.
"""

from __future__ import annotations

import re

from hypothesis import assume, given
from hypothesis import strategies as st

from runtime.errors import InputsError
from runtime.modal.naming import modal_app_name_from_ref, modal_function_name, sanitize_modal_name
from runtime.registry.refs import ProcessorRef, parse_ref

MODAL_NAME = re.compile(r"^[a-zA-Z0-9._-]{1,64}$")
APP_ID = re.compile(r"^ap-[a-zA-Z0-9]{22}$")
PART = st.from_regex(r"\A[a-z0-9](?:[a-z0-9_-]{0,38}[a-z0-9])?\Z")
VERSION = st.from_regex(r"\A[0-9]{1,6}(?:\.[0-9]{1,6}){0,2}\Z")
REFS = st.builds(ProcessorRef, PART, PART, VERSION)
# Branch/user text: anything a shell could hand us, biased towards the characters that sanitise.
WORD = st.one_of(st.text(max_size=90),
                 st.text(alphabet="aB-_./ @:", min_size=1, max_size=30),
                 st.from_regex(r"\Aap-[a-zA-Z0-9]{22}\Z"))


def _legal(name: str) -> bool:
    return bool(MODAL_NAME.match(name)) and not APP_ID.match(name)


@given(st.one_of(st.text(max_size=60), st.builds(str, REFS)))
def test_parse_ref_returns_a_round_tripping_ref_or_inputs_error(text):
    try:
        ref = parse_ref(text)
    except InputsError:  # the only refusal allowed; anything else fails the test
        return
    assert parse_ref(str(ref)) == ref


@given(st.one_of(st.none(), st.integers(), st.binary(), st.lists(st.text())))
def test_parse_ref_refuses_non_strings_with_inputs_error(value):
    try:
        parse_ref(value)
    except InputsError:
        return
    raise AssertionError("a non-string ref parsed")


@given(REFS, st.sampled_from(["dev", "staging", "main"]), st.one_of(st.none(), WORD),
       st.one_of(st.none(), WORD))
def test_every_app_name_is_a_legal_modal_name(ref, env, branch, user):
    assert _legal(modal_app_name_from_ref(ref, env, branch, user))


@given(REFS)
def test_every_function_name_is_legal_and_has_no_dot(ref):
    name = modal_function_name(ref)
    assert _legal(name)
    assert "." not in name


@given(st.text(max_size=200))
def test_sanitize_always_yields_a_legal_name(raw):
    assert _legal(sanitize_modal_name(raw))


@given(REFS, WORD, WORD, WORD, WORD)
def test_distinct_branch_user_pairs_that_needed_sanitising_get_distinct_names(
        ref, branch_a, user_a, branch_b, user_b):
    assume(branch_a and user_a and branch_b and user_b)
    assume((branch_a, user_a) != (branch_b, user_b))
    canonical = f"{ref.ns}-{ref.name}-v{ref.version}"
    raw_a, raw_b = f"{branch_a}-{user_a}-{canonical}", f"{branch_b}-{user_b}-{canonical}"
    assume(sanitize_modal_name(raw_a) != raw_a or sanitize_modal_name(raw_b) != raw_b)
    name_a = modal_app_name_from_ref(ref, "dev", branch_a, user_a)
    name_b = modal_app_name_from_ref(ref, "dev", branch_b, user_b)
    assert name_a != name_b


@given(st.text(min_size=1, max_size=200), st.text(min_size=1, max_size=200))
def test_distinct_raw_names_that_sanitise_alike_keep_distinct_tails(a, b):
    assume(a != b)
    name_a, name_b = sanitize_modal_name(a), sanitize_modal_name(b)
    assume(name_a != a and name_b != b)
    assert name_a != name_b


SEGMENTS = st.lists(st.text(alphabet="ab/C", min_size=1, max_size=4), min_size=3, max_size=5)


@given(REFS, SEGMENTS, st.data())
def test_pairs_that_join_to_the_same_text_still_get_distinct_names(ref, segments, data):
    # ("a/b", "c-d") and ("a/b-c", "d") join to the same raw text; the dash moved between
    # branch and user. Needs sanitising ('/', upper case), so a hash tail must tell them apart.
    assume(any(ch in "".join(segments) for ch in "/C"))
    first, second = data.draw(st.lists(st.integers(1, len(segments) - 1), min_size=2,
                                       max_size=2, unique=True))
    pair_a = ("-".join(segments[:first]), "-".join(segments[first:]))
    pair_b = ("-".join(segments[:second]), "-".join(segments[second:]))
    assert modal_app_name_from_ref(ref, "dev", *pair_a) != modal_app_name_from_ref(
        ref, "dev", *pair_b)
