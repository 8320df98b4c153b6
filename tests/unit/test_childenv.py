"""The scrubbed child environment: plumbing only, declared secrets in real mode only."""

import pytest

from runtime.child.env import FIXED, build_child_env, missing_secrets
from runtime.errors import MissingSecretError

PARENT = {
    "PATH": "/usr/bin",
    "HOME": "/home/x",
    "CI": "true",
    "AWS_SECRET_ACCESS_KEY": "ambient-aws-secret",
    "ACME_API_KEY": "declared-acme-key",
    "RANDOM_SETTING": "1",
    "PYTHONHASHSEED": "123",
}


def test_default_child_env_holds_plumbing_and_fixed_keys_only():
    child = build_child_env(mode="mock", env="dev", parent=PARENT)
    assert child == {"PATH": "/usr/bin", "HOME": "/home/x", "CI": "true", **FIXED}


def test_fixed_keys_override_the_parent():
    child = build_child_env(mode="mock", env="dev", parent=PARENT)
    assert child["PYTHONHASHSEED"] == "0"
    assert child["LOG_STREAM"] == "stderr"


def test_path_falls_back_to_the_default_when_the_parent_has_none():
    assert build_child_env(mode="mock", env="dev", parent={})["PATH"]


def test_extra_keys_are_added_last():
    child = build_child_env(mode="mock", env="dev", parent=PARENT, extra={"PYTHONPATH": "/src"})
    assert child["PYTHONPATH"] == "/src"


def test_real_mode_adds_declared_secrets_only():
    child = build_child_env(mode="real", env="dev", secrets=["ACME_API_KEY"], parent=PARENT)
    assert child["ACME_API_KEY"] == "declared-acme-key"
    assert "AWS_SECRET_ACCESS_KEY" not in child


def test_mock_mode_never_receives_declared_secrets():
    child = build_child_env(mode="mock", env="dev", secrets=["ACME_API_KEY"], parent=PARENT)
    assert "ACME_API_KEY" not in child


def test_mock_mode_drops_declared_secrets_even_with_ambient_secrets_allowed():
    parent = {**PARENT, "CI": "false", "ALLOW_ENV_SECRETS": "1"}  # the opt-in is off under CI
    child = build_child_env(mode="mock", env="dev", secrets=["ACME_API_KEY"], parent=parent)
    assert "ACME_API_KEY" not in child
    assert child["AWS_SECRET_ACCESS_KEY"] == "ambient-aws-secret"


def test_missing_declared_secrets_are_all_named():
    with pytest.raises(MissingSecretError, match=r"ERR_MISSING_SECRET.*A_KEY, B_KEY"):
        build_child_env(mode="real", env="dev", secrets=["A_KEY", "B_KEY"], parent=PARENT)


def test_an_empty_secret_counts_as_missing():
    assert missing_secrets(["ACME_API_KEY"], {"ACME_API_KEY": ""}) == ["ACME_API_KEY"]


def test_ambient_secrets_pass_with_allow_flag_in_dev():
    parent = {**PARENT, "CI": "false", "ALLOW_ENV_SECRETS": "1"}  # the opt-in is off under CI
    child = build_child_env(mode="mock", env="dev", parent=parent)
    assert child["AWS_SECRET_ACCESS_KEY"] == "ambient-aws-secret"


@pytest.mark.parametrize("env", ["staging", "main"])
def test_ambient_secrets_never_pass_outside_dev(env):
    parent = {**PARENT, "ALLOW_ENV_SECRETS": "1"}
    child = build_child_env(mode="mock", env=env, parent=parent)
    assert "AWS_SECRET_ACCESS_KEY" not in child
    assert "RANDOM_SETTING" not in child


@pytest.mark.parametrize("flag", ["0", "true", "yes", ""])
def test_only_the_exact_flag_value_1_allows_ambient_secrets(flag):
    parent = {**PARENT, "ALLOW_ENV_SECRETS": flag}
    assert "AWS_SECRET_ACCESS_KEY" not in build_child_env(mode="mock", env="dev", parent=parent)


@pytest.mark.parametrize("ci", ["true", "True", "1", "buildkite"])
def test_allow_env_secrets_is_ignored_under_ci(ci):
    from runtime.child.env import build_child_env

    parent = {"PATH": "/bin", "CI": ci, "ALLOW_ENV_SECRETS": "1", "SOME_AMBIENT_TOKEN": "t0ken-v4lue"}
    child = build_child_env(mode="mock", env="dev", parent=parent)
    assert "SOME_AMBIENT_TOKEN" not in child
    assert "ALLOW_ENV_SECRETS" not in child
