import pytest

from runtime.errors import InputsError
from runtime.modal.boundary import BOUNDARY_ENV, FAKE_TRANSPORT_TARGET, SdkBoundary, get_boundary


def test_unset_boundary_switch_selects_the_sdk(monkeypatch):
    monkeypatch.delenv(BOUNDARY_ENV, raising=False)
    assert isinstance(get_boundary(), SdkBoundary)


def test_boundary_switch_naming_anything_but_a_fake_is_err_inputs(monkeypatch):
    monkeypatch.setenv(BOUNDARY_ENV, FAKE_TRANSPORT_TARGET.replace("fake_server", "os"))
    with pytest.raises(InputsError) as caught:
        get_boundary()
    assert FAKE_TRANSPORT_TARGET in caught.value.message
