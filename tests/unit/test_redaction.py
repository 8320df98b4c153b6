"""Redaction: known values, token shapes and sensitive keys, in text and nested data."""

import secrets

import pytest

from runtime.redaction import (
    REDACTED,
    is_sensitive_key,
    redact,
    redact_text,
    register_secret_names,
    register_secret_values,
    register_sensitive_environ,
)


def _value(prefix="v"):
    return f"{prefix}{secrets.token_hex(8)}"


def test_registered_values_are_replaced_in_text():
    value = _value()
    register_secret_values([value])
    assert redact_text(f"before {value} after") == f"before {REDACTED} after"


def test_short_values_are_not_registered():
    register_secret_values(["abc"])
    assert redact_text("abc abcdef") == "abc abcdef"


def test_declared_names_register_their_current_values():
    value = _value()
    register_secret_names(["SOME_DECLARED_KEY", "UNSET_ONE"], {"SOME_DECLARED_KEY": value})
    assert value not in redact_text(f"x{value}x")


def test_sensitive_environ_names_register_their_values():
    value = _value("plain")
    register_sensitive_environ({"MY_DB_PASSWORD": value, "HARMLESS": "visible-value"})
    assert redact_text(f"{value} visible-value") == f"{REDACTED} visible-value"


@pytest.mark.parametrize("token", [
    "sk-" + "a" * 24,
    "ghp_" + "b" * 30,
    "xoxb-" + "1234567890ab",
    "AKIA" + "ABCDEFGHIJKLMNOP",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXZhbHVl",
    "Bearer abcdefghijklmnop",
])
def test_token_shaped_strings_are_redacted_without_registration(token):
    assert token not in redact_text(f"header {token} tail")


@pytest.mark.parametrize("key", ["api_key", "API-KEY", "ACME_API_KEY", "password", "db_passwd",
                                 "access_token", "Authorization", "client_secret",
                                 "credentials", "private_key"])
def test_sensitive_keys_are_recognised(key):
    assert is_sensitive_key(key)


@pytest.mark.parametrize("key", ["message", "path", "execution_id", "stderr_sha256", "mode"])
def test_ordinary_keys_are_not_sensitive(key):
    assert not is_sensitive_key(key)


def test_sensitive_keys_lose_their_whole_value_in_nested_data():
    data = {"outer": {"password": "hunter2", "items": [{"api_key": 12345}], "ok": "fine"}}
    assert redact(data) == {"outer": {"password": REDACTED, "items": [{"api_key": REDACTED}],
                                      "ok": "fine"}}


def test_non_string_values_under_ordinary_keys_are_kept():
    assert redact({"count": 3, "flag": True, "none": None}) == {"count": 3, "flag": True,
                                                                "none": None}


def test_empty_sensitive_values_stay_empty():
    assert redact({"token": ""}) == {"token": ""}


def test_a_boolean_under_a_secret_name_is_presence_and_stays_readable():
    presence = {"ACME_API_KEY": True, "GITHUB_TOKEN": False}
    assert redact({"present": presence}) == {"present": presence}


def test_a_number_or_text_under_a_secret_name_is_still_redacted():
    assert redact({"ACME_API_KEY": 12345, "GITHUB_TOKEN": "abc"}) == {
        "ACME_API_KEY": REDACTED, "GITHUB_TOKEN": REDACTED}


def test_a_known_value_is_redacted_in_every_json_spelling():
    import json

    value = 'Pa55"w0rd\\long-\u00e9' + secrets.token_hex(4)
    register_secret_values([value])
    for text in (json.dumps({"m": value}), json.dumps({"m": value}, ensure_ascii=False),
                 repr(value), json.dumps({"m": value}).upper().replace(value.upper(), "")):
        assert redact_text(text).count(value) == 0
    assert "long" not in redact_text(json.dumps(f"boom {value}"))
    assert "long" not in redact_text(json.dumps(f"boom {value}", ensure_ascii=False))


def test_a_piece_of_a_secret_at_a_cut_edge_is_redacted():
    from runtime.kit.message import keep_head

    value = "edge-secret-" + secrets.token_hex(8)
    register_secret_values([value])
    assert redact_text(value[5:] + " rest", cut_start=True) == f"{REDACTED} rest"
    assert redact_text("head " + value[:9], cut_end=True) == f"head {REDACTED}"
    cut = keep_head("x" * 10 + value, 15)  # the kit's own cut, marked
    assert value[:5] not in redact_text(cut)


def test_redact_is_bounded_on_deep_data():
    from runtime.redaction import MAX_DEPTH, TOO_DEEP

    deep: list = []
    node = deep
    for _ in range(5000):
        node.append([])
        node = node[0]
    out = redact(deep)
    for _ in range(MAX_DEPTH):
        out = out[0]
    assert out == TOO_DEEP
