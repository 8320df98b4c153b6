from runtime.errors import (
    CANON,
    TRUNCATION_MARK,
    AdapterInvocationError,
    ModalTimeoutError,
    bound_message,
    error_class,
)

SEED_CODES = {
    "ERR_IMAGE_UNPINNED", "ERR_IMAGE_UNAVAILABLE", "ERR_REGISTRY_MISMATCH", "ERR_MODAL_LOOKUP",
    "ERR_MODAL_INVOCATION", "ERR_MODAL_TIMEOUT", "ERR_ADAPTER_INVOCATION", "ERR_INPUTS",
    "ERR_MISSING_SECRET", "ERR_CI_SAFETY",
}


def test_canon_holds_exactly_the_seed_codes():
    assert set(CANON) == SEED_CODES


def test_each_code_has_a_distinct_nonzero_exit_code():
    codes = [cls.exit_code for cls in CANON.values()]
    assert len(set(codes)) == len(codes)
    assert all(code > 0 for code in codes)


def test_str_starts_with_the_code():
    assert str(AdapterInvocationError("boom")).startswith("ERR_ADAPTER_INVOCATION: boom")


def test_only_timeouts_are_retryable_by_default():
    assert ModalTimeoutError("t").retryable
    assert not AdapterInvocationError("x").retryable
    assert AdapterInvocationError("x", retryable=True).retryable


def test_unknown_codes_map_to_adapter_invocation():
    assert error_class("ERR_NOPE") is AdapterInvocationError


def test_bound_message_leaves_short_text_alone():
    assert bound_message("short", limit=100) == "short"


def test_bound_message_keeps_head_and_end_within_the_limit():
    text = "Container failed with exit code 1. STDERR:\n" + "x" * 5000 + "\nValueError: boom"
    bounded = bound_message(text, limit=500)
    assert len(bounded) == 500
    assert bounded.startswith("Container failed with exit code 1.")
    assert bounded.endswith("ValueError: boom")
    assert TRUNCATION_MARK in bounded
