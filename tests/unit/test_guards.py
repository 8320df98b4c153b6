"""Preflight guards: explicit mode, CI safety, env names, dev-only image override."""

import pytest

from runtime.errors import CISafetyError, InputsError
from runtime.guards import check_env, check_image_override, check_mode, ci_enabled


@pytest.mark.parametrize("value", ["true", "TRUE", "1", "yes", " true ", "True", "on",
                                   "github-actions", "woodpecker"])
def test_ci_truthy_values_enable_the_guard(value):
    assert ci_enabled({"CI": value})


@pytest.mark.parametrize("environ", [{}, {"CI": ""}, {"CI": "false"}, {"CI": "0"},
                                     {"CI": "FALSE"}, {"CI": "No"}, {"CI": " off "}])
def test_ci_absent_or_falsy_disables_the_guard(environ):
    assert not ci_enabled(environ)


def test_real_mode_under_ci_is_refused():
    with pytest.raises(CISafetyError, match="ERR_CI_SAFETY"):
        check_mode("real", {"CI": "true"})


def test_mock_mode_under_ci_is_allowed():
    check_mode("mock", {"CI": "true"})


def test_real_mode_outside_ci_is_allowed():
    check_mode("real", {})


@pytest.mark.parametrize("mode", ["smoke", "", "MOCK", "dry-run"])
def test_only_mock_and_real_are_modes(mode):
    with pytest.raises(InputsError, match="mode must be one of mock, real"):
        check_mode(mode, {})


@pytest.mark.parametrize("env", ["prod", "", "Dev"])
def test_unknown_envs_are_refused(env):
    with pytest.raises(InputsError, match="env must be one of"):
        check_env(env)


@pytest.mark.parametrize("env", ["staging", "main"])
def test_image_override_is_refused_outside_dev(env):
    with pytest.raises(InputsError, match="env=dev only"):
        check_image_override(env, "sha256:" + "0" * 64)


def test_image_override_is_accepted_in_dev_and_absence_everywhere():
    check_image_override("dev", "sha256:" + "0" * 64)
    check_image_override("main", None)


@pytest.mark.parametrize("env", ["staging", "main"])
def test_source_adapter_is_refused_where_only_pins_may_run(env):
    from runtime.errors import ImageUnpinnedError
    from runtime.guards import check_pinned_env

    with pytest.raises(ImageUnpinnedError, match="runs pinned images only"):
        check_pinned_env(env, "local")


@pytest.mark.parametrize(("env", "adapter"), [("dev", "local"), ("staging", "docker"),
                                              ("main", "modal")])
def test_pinned_adapters_and_dev_pass_the_env_guard(env, adapter):
    from runtime.guards import check_pinned_env

    check_pinned_env(env, adapter)


@pytest.mark.parametrize(("host", "expected"), [
    ("127.0.0.1", True), ("127.1.2.3", True), ("localhost", True), ("LOCALHOST", True),
    ("::1", True), ("[::1]", True), ("10.0.0.1", False), ("169.254.1.1", False),
    ("registry.example.invalid", False), ("", False), (None, False), ("127.0.0.1.nip", False),
])
def test_is_loopback_host_is_the_one_loopback_check(host, expected):
    from runtime.guards import is_loopback_host

    assert is_loopback_host(host) is expected


@pytest.mark.parametrize("bad", ["trail\n", "", "-lead", "a/b", "x" * 65, "ex\x00"])
def test_execution_ids_are_checked_whole(bad):
    from runtime.guards import check_execution_id

    with pytest.raises(InputsError, match="execution id"):
        check_execution_id(bad)


def test_a_fresh_execution_id_passes_its_own_check():
    from runtime.guards import check_execution_id, new_execution_id

    eid = new_execution_id()
    assert check_execution_id(eid) == eid
