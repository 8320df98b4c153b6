import re

import pytest

from runtime.modal.naming import (
    MODAL_NAME_MAX,
    dev_fallback_used,
    modal_app_name_from_ref,
    modal_function_name,
    sanitize_modal_name,
)

MODAL_NAME = re.compile(r"^[a-zA-Z0-9._-]{1,64}$")


def test_staging_and_main_use_the_canonical_name():
    assert modal_app_name_from_ref("demo/echo@1", "staging") == "demo-echo-v1"
    assert modal_app_name_from_ref("demo/echo@1", "main", branch="x", user="y") == "demo-echo-v1"


def test_dev_prefixes_branch_and_user():
    assert modal_app_name_from_ref("demo/echo@1", "dev", "feat", "ana") == "feat-ana-demo-echo-v1"


def test_dev_without_branch_or_user_falls_back_to_canonical():
    assert modal_app_name_from_ref("demo/echo@1", "dev", None, "ana") == "demo-echo-v1"
    assert dev_fallback_used("dev", None, "ana")
    assert not dev_fallback_used("dev", "b", "u")


def test_unsafe_characters_are_sanitised_with_a_hash_tail():
    name = modal_app_name_from_ref("demo/echo@1", "dev", "feature/JIRA-1 fix", "ana@corp")
    assert MODAL_NAME.match(name)
    assert name.startswith("feature-jira-1-fix-ana-corp-demo-echo-v1-")


def test_long_names_are_cut_to_the_modal_limit_with_distinct_tails():
    a = modal_app_name_from_ref("demo/echo@1", "dev", "b" * 80, "u")
    b = modal_app_name_from_ref("demo/echo@1", "dev", "b" * 81, "u")
    assert len(a) <= MODAL_NAME_MAX
    assert len(b) <= MODAL_NAME_MAX
    assert a != b


def test_names_that_collide_after_sanitising_stay_distinct():
    assert sanitize_modal_name("a/b") != sanitize_modal_name("a:b")


def test_unknown_env_is_a_programmer_error():
    with pytest.raises(ValueError, match="env must be one of"):
        modal_app_name_from_ref("demo/echo@1", "prod")


def test_function_name_has_no_dots():
    assert "." not in modal_function_name("demo/echo@1.2")


def test_a_long_branch_is_cut_before_the_processor_part():
    name = modal_app_name_from_ref("demo/echo@1", "dev", "b" * 80, "ana")
    assert len(name) <= MODAL_NAME_MAX
    assert MODAL_NAME.match(name)
    assert name.endswith("-demo-echo-v1")
    assert name.startswith("bbbb")


def test_a_cut_name_keeps_a_hash_of_the_unsanitised_parts():
    a = modal_app_name_from_ref("demo/echo@1", "dev", "B" * 70, "ana")
    b = modal_app_name_from_ref("demo/echo@1", "dev", "b" * 70, "ana")
    assert a.endswith("-demo-echo-v1")
    assert b.endswith("-demo-echo-v1")
    assert a != b


def test_a_sanitised_name_that_needs_cutting_still_ends_in_the_processor_part():
    name = modal_app_name_from_ref("text/stats@2", "dev", "Feature/" + "x" * 40, "Ana.Corp")
    assert len(name) <= MODAL_NAME_MAX
    assert name.endswith("-text-stats-v2")
    assert name.startswith("feature-xxxx")
