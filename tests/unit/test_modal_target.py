"""One Modal target value: the five values an app is addressed by travel together."""

from __future__ import annotations

import inspect

import pytest

import runtime.modal.ops as ops
from runtime.errors import InputsError
from runtime.modal.naming import modal_app_name_from_ref, modal_function_name
from runtime.modal.target import ModalTarget

LOOSE = {"ref", "env", "branch", "user", "modal_environment"}


def test_names_are_the_naming_modules_and_the_modal_environment_follows_env():
    target = ModalTarget("demo/echo@1", "dev", "Feature/X", "ana")
    assert target.app_name == modal_app_name_from_ref("demo/echo@1", "dev", "Feature/X", "ana")
    assert target.function_name == modal_function_name("demo/echo@1")
    assert target.environment == "dev"
    assert not target.dev_fallback
    assert ModalTarget("demo/echo@1", "staging", modal_environment="blue").environment == "blue"


def test_unset_flags_mean_absent_and_dev_without_identity_falls_back():
    target = ModalTarget.from_flags(ref="demo/echo@1", env="dev", branch="", user="ana")
    assert (target.branch, target.user, target.modal_environment) == (None, "ana", None)
    assert target.dev_fallback
    assert target.app_name == "demo-echo-v1"
    assert ModalTarget("", "main").ref is None


def test_a_bad_env_is_refused_when_the_target_is_made():
    with pytest.raises(InputsError, match="env must be one of"):
        ModalTarget("demo/echo@1", "prod")


def test_a_target_without_a_ref_refuses_to_name_an_app():
    scope = ModalTarget(None, "staging")
    with pytest.raises(InputsError, match="--ref is required"):
        _ = scope.app_name
    assert scope.with_ref("demo/echo@1").app_name == "demo-echo-v1"


def test_deploy_flags_reproduce_the_target():
    target = ModalTarget("demo/echo@1", "dev", "feat", "ana", "sandbox")
    assert target.deploy_flags() == ("--ref demo/echo@1 --env dev --branch feat --user ana "
                                     "--modal-environment sandbox")
    assert ModalTarget("demo/echo@1", "main").deploy_flags() == "--ref demo/echo@1 --env main"


def test_no_modal_operation_takes_the_target_as_loose_parameters():
    # Not targets: the dev identity's defaults, and a pin's deployability for an env.
    allowed = {"dev_identity": {"branch", "user"}, "check_deployable_pin": {"ref", "env"}}
    seen = []
    for name, function in inspect.getmembers(ops, inspect.isfunction):
        if function.__module__ != ops.__name__ or name.startswith("_"):
            continue
        seen.append(name)
        loose = LOOSE & set(inspect.signature(function).parameters)
        assert loose <= allowed.get(name, set()), f"{name} takes {sorted(loose)} loose"
    assert {"deploy_modal", "modal_status", "modal_logs", "destroy_modal", "drift_modal",
            "sync_modal_secrets", "dev_build_push_deploy", "lookup_causes"} <= set(seen)
