"""Where images live: the registry setting, its override, credentials presence, remote pins."""

from __future__ import annotations

import json

import pytest

from runtime.errors import ImageUnavailableError, InputsError, MissingSecretError
from runtime.guards import check_remote_pullable, is_local_only_host
from runtime.images.location import (
    PASSWORD_ENV,
    REGISTRY_ENV,
    USERNAME_ENV,
    ImageRegistry,
    find_credentials,
    image_registry,
    require_credentials,
)
from runtime.redaction import redact_text

REMOTE = "registry.example.invalid/team"


def test_environment_overrides_the_registry_yaml():
    found = image_registry("yaml.example.invalid", {REGISTRY_ENV: REMOTE})
    assert (found.value, found.source, found.host) == (REMOTE, "env", "registry.example.invalid")


def test_registry_yaml_setting_is_used_without_the_environment():
    found = image_registry("yaml.example.invalid:5443/x", {})
    assert (found.value, found.source, found.loopback) == ("yaml.example.invalid:5443/x",
                                                           "registry", False)


def test_local_default_is_the_recorded_loopback_registry(monkeypatch):
    monkeypatch.setattr("runtime.images.build.recorded_registry", lambda: "127.0.0.1:5000")
    found = image_registry(None, {})
    assert (found.value, found.source, found.loopback) == ("127.0.0.1:5000", "local", True)


@pytest.mark.parametrize("value", ["https://registry.example.invalid", "noport", "a@b.invalid"])
def test_malformed_registry_setting_is_err_inputs(value):
    with pytest.raises(InputsError, match="host\\[:port\\]"):
        image_registry(None, {REGISTRY_ENV: value})


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "[::1]", "169.254.10.2",
                                  "fe80::1", "fe80::1%eth0"])
def test_loopback_and_link_local_hosts_are_local_only(host):
    assert is_local_only_host(host)


@pytest.mark.parametrize("host", ["registry.example.invalid", "10.0.0.5", "2001:db8::1", ""])
def test_other_hosts_are_not_local_only(host):
    assert not is_local_only_host(host)


@pytest.mark.parametrize("reference", ["127.0.0.1:5000/processors/demo-echo@sha256:" + "0" * 64,
                                       "169.254.1.1/p/x@sha256:" + "0" * 64,
                                       "[::1]:5000/p/x@sha256:" + "0" * 64])
def test_staging_refuses_a_local_only_pin(reference):
    with pytest.raises(ImageUnavailableError, match="cannot pull"):
        check_remote_pullable(reference, "staging")


def test_dev_accepts_a_loopback_pin():
    check_remote_pullable("127.0.0.1:5000/p/x@sha256:" + "0" * 64, "dev")


def test_remote_push_without_credentials_is_err_missing_secret(tmp_path):
    registry = ImageRegistry(REMOTE, "env")
    with pytest.raises(MissingSecretError) as caught:
        require_credentials(registry, {"HOME": str(tmp_path)})
    assert USERNAME_ENV in caught.value.message
    assert PASSWORD_ENV in caught.value.message


def test_loopback_push_needs_no_credentials(tmp_path):
    assert require_credentials(ImageRegistry("127.0.0.1:5000", "local"),
                               {"HOME": str(tmp_path)}) is None


def test_environment_credentials_are_found_and_their_value_redacted(tmp_path):
    secret = "pw-Registry-7c1d9e0a"
    found = require_credentials(ImageRegistry(REMOTE, "env"),
                                {USERNAME_ENV: "ci", PASSWORD_ENV: secret, "HOME": str(tmp_path)})
    assert found is not None
    assert found.source == "env"
    assert found.auth_config() == {"username": "ci", "password": secret}
    assert secret not in redact_text(f"push with {secret}")


def test_docker_credential_store_entry_counts_as_present(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(
        {"auths": {"https://registry.example.invalid": {}}}))
    found = find_credentials("registry.example.invalid", {"DOCKER_CONFIG": str(tmp_path)})
    assert found is not None
    assert found.source == "docker config (auths)"
    assert found.auth_config() is None  # the engine authenticates from its own store


def test_docker_config_for_another_host_does_not_count(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"auths": {"other.example.invalid": {}}}))
    assert find_credentials("registry.example.invalid", {"DOCKER_CONFIG": str(tmp_path)}) is None


def test_a_remote_registry_client_uses_the_environment_credentials(monkeypatch, tmp_path):
    from runtime.images.oci import RegistryHTTP

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv(USERNAME_ENV, "ci")
    monkeypatch.setenv(PASSWORD_ENV, "pw-Registry-0b4e2a91")
    client = RegistryHTTP("registry.example.invalid")
    assert client.base == "https://registry.example.invalid/v2"
    assert client._session.auth == ("ci", "pw-Registry-0b4e2a91")


def test_a_loopback_registry_client_sends_no_credentials(monkeypatch):
    from runtime.images.oci import RegistryHTTP

    monkeypatch.setenv(USERNAME_ENV, "ci")
    monkeypatch.setenv(PASSWORD_ENV, "pw-Registry-0b4e2a91")
    client = RegistryHTTP("127.0.0.1:5000")
    assert client.base == "http://127.0.0.1:5000/v2"
    assert client._session.auth is None
