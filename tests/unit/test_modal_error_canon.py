"""The SDK -> canon translation table, the lookup drill's message and the SDK version check."""

from __future__ import annotations

import builtins
import inspect

import modal.exception as mexc
import pytest

from runtime.errors import (
    ImageUnavailableError,
    InputsError,
    ModalInvocationError,
    ModalLookupError,
    ModalTimeoutError,
)
from runtime.modal.boundary import check_sdk_version
from runtime.modal.ops import SDK_ERROR_CANON, lookup_causes, translate_sdk_error
from runtime.modal.target import ModalTarget

pytestmark = pytest.mark.modal


def _sdk_exception_classes() -> list[type[BaseException]]:
    return [cls for _, cls in inspect.getmembers(mexc, inspect.isclass)
            if issubclass(cls, BaseException) and cls.__module__ == mexc.__name__]


def test_every_exception_class_of_the_installed_sdk_has_a_canon_code():
    unmapped = [cls.__name__ for cls in _sdk_exception_classes()
                if cls.__name__ not in SDK_ERROR_CANON]
    assert unmapped == []


def test_the_table_names_no_class_the_sdk_does_not_define():
    defined = {cls.__name__ for cls in _sdk_exception_classes()}
    assert sorted(set(SDK_ERROR_CANON) - defined) == []


@pytest.mark.parametrize("cls", [mexc.AuthError, mexc.PermissionDeniedError])
@pytest.mark.parametrize("stage", ["lookup", "invocation", "deploy"])
def test_an_authentication_failure_is_err_modal_lookup_at_any_stage(cls, stage):
    assert isinstance(translate_sdk_error(cls("token rejected"), stage=stage), ModalLookupError)


def test_not_found_is_a_lookup_error_only_while_looking_up():
    assert isinstance(translate_sdk_error(mexc.NotFoundError("x"), stage="lookup"),
                      ModalLookupError)
    assert isinstance(translate_sdk_error(mexc.NotFoundError("x"), stage="invocation"),
                      ModalInvocationError)


def test_timeouts_of_the_function_and_of_the_client_are_err_modal_timeout():
    assert isinstance(translate_sdk_error(mexc.FunctionTimeoutError("t"), stage="invocation"),
                      ModalTimeoutError)
    client = translate_sdk_error(builtins.TimeoutError(), stage="invocation")
    assert isinstance(client, ModalTimeoutError)
    assert "client timeout" in client.message


def test_a_failed_image_build_is_err_image_unavailable():
    err = translate_sdk_error(mexc.ImageBuildError("step 2 failed", "im-1"), stage="deploy")
    assert isinstance(err, ImageUnavailableError)
    assert "step 2 failed" in err.message


def test_a_remote_user_exception_is_err_modal_invocation():
    assert isinstance(translate_sdk_error(ZeroDivisionError("x"), stage="invocation"),
                      ModalInvocationError)


def test_a_canon_error_passes_through_unchanged():
    original = InputsError("bad inputs")
    assert translate_sdk_error(original, stage="invocation") is original


def test_the_lookup_message_names_both_sides_the_environment_and_the_ambient_one(monkeypatch):
    monkeypatch.setenv("MODAL_ENVIRONMENT", "other-env")
    message = lookup_causes(ModalTarget("demo/echo@1", "dev", "feat", "ana"),
                            function_name="run_demo_echo_v1")
    assert "run side looked up 'feat-ana-demo-echo-v1'" in message
    assert "deploys 'feat-ana-demo-echo-v1'" in message
    assert "deploys 'demo-echo-v1'" in message  # what a fallback deploy made
    assert "Modal environment 'dev'" in message
    assert "MODAL_ENVIRONMENT='other-env'" in message
    assert "credentials" in message


@pytest.mark.parametrize("version", ["1.5.2", "0.73.1", "2.0.0", "garbage", "not installed"])
def test_an_unsupported_modal_client_is_refused_with_the_versions_named(version):
    with pytest.raises(ModalInvocationError) as caught:
        check_sdk_version(version)
    assert version in caught.value.message
    assert "modal>=1.6,<2" in caught.value.message


def test_the_installed_modal_client_is_supported():
    from importlib import metadata

    assert check_sdk_version() == metadata.version("modal")
