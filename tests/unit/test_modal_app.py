import warnings

import pytest

from runtime.errors import ImageUnpinnedError, InputsError
from runtime.modal.app import build_app, client_timeout_s, function_timeout_s, plan_app
from runtime.modal.target import ModalTarget
from runtime.registry.load import Registry
from tests.modal_support import DIGEST, OVERRIDE, pinned_project

pytestmark = pytest.mark.modal


@pytest.fixture
def pinned(tmp_path):
    return Registry.load(pinned_project(tmp_path))


def test_staging_image_is_the_registry_pin(pinned):
    plan = plan_app(pinned, ModalTarget("text/stats@1", "staging"))
    assert plan.functions[0].image == f"registry.example.invalid/processors/text-stats@{DIGEST}"


def test_staging_refuses_an_image_override(pinned):
    with pytest.raises(InputsError, match="env=dev only"):
        plan_app(pinned, ModalTarget("text/stats@1", "staging"), image_override=OVERRIDE)


def test_unpinned_ref_is_err_image_unpinned_in_main(project_root):
    with pytest.raises(ImageUnpinnedError, match="demo/echo@1"):
        plan_app(Registry.load(project_root), ModalTarget("demo/echo@1", "main"))


def test_dev_override_replaces_the_pinned_digest(pinned):
    plan = plan_app(pinned, ModalTarget("demo/echo@1", "dev"), image_override=OVERRIDE)
    assert plan.functions[0].image.endswith(f"@{OVERRIDE}")


def test_function_settings_come_from_the_registry(pinned):
    fn = plan_app(pinned, ModalTarget("acme/summarize@1", "main")).functions[0]
    assert (fn.memory_mb, fn.secrets, fn.entry["timeout_s"]) == (512, ("ACME_API_KEY", "ACME_ORG_ID"),
                                                                  120)
    assert fn.timeout_s == function_timeout_s(120)


def test_client_timeout_is_at_least_1_2_times_the_function_timeout():
    assert all(client_timeout_s(t) >= 1.2 * t for t in (1, 11, 40, 130, 86410))


def test_build_app_registers_one_function_under_the_computed_name(pinned):
    plan = plan_app(pinned, ModalTarget("demo/echo@1", "main"))
    app = build_app(plan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert sorted(app.registered_functions) == ["run_demo_echo_v1"]


@pytest.mark.parametrize(("requested", "registry"), [(2, 30), (0.5, 30), (29.5, 30), (30, 30),
                                                     (100, 30), (1, 1)])
def test_the_client_wait_is_at_least_1_2_times_the_effective_function_timeout(requested, registry):
    from runtime.adapters.modal import call_timeouts

    effective, wait = call_timeouts(requested, registry)
    assert wait >= 1.2 * effective
    assert effective <= function_timeout_s(registry)


def test_a_shorter_timeout_s_shortens_the_call():
    from runtime.adapters.modal import call_timeouts

    assert call_timeouts(2, 30) == (2, 3.0)


def test_the_registry_timeout_keeps_the_deployed_function_timeout_and_its_grace():
    from runtime.adapters.modal import call_timeouts

    assert call_timeouts(30, 30) == (function_timeout_s(30), client_timeout_s(function_timeout_s(30)))
    assert call_timeouts(300, 30) == call_timeouts(30, 30)


def test_the_deployed_entry_carries_the_image_digest(pinned):
    plan = plan_app(pinned, ModalTarget("text/stats@1", "staging"))
    assert plan.functions[0].entry["image_digest"] == DIGEST
