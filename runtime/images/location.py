"""Where images live: the one setting naming the registry pushes go to and pins point at.

The value is ``host[:port][/prefix]``. It comes from ``PROCESSOR_IMAGE_REGISTRY`` in the
environment, else ``image_registry`` in ``registry/processors.yaml``, else the loopback registry
``inv infra.up`` recorded — the local default only, since Modal cannot pull from loopback.

Credentials for a remote registry come from ``PROCESSOR_IMAGE_REGISTRY_USERNAME`` /
``PROCESSOR_IMAGE_REGISTRY_PASSWORD``, or from the docker credential store (``auths``,
``credHelpers`` or ``credsStore`` in ``$DOCKER_CONFIG/config.json``). Their *presence* is checked
before a push; their values are registered with the redaction log processor and never logged.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from runtime.errors import InputsError, MissingSecretError
from runtime.guards import hostname_of, is_loopback_host
from runtime.redaction import register_secret_values

REGISTRY_ENV = "PROCESSOR_IMAGE_REGISTRY"
USERNAME_ENV = "PROCESSOR_IMAGE_REGISTRY_USERNAME"
PASSWORD_ENV = "PROCESSOR_IMAGE_REGISTRY_PASSWORD"  # noqa: S105 - a variable name, not a value


@dataclass(frozen=True)
class ImageRegistry:
    """The configured registry and where the setting came from (``env``, ``registry``, ``local``)."""

    value: str
    source: str

    @property
    def host(self) -> str:
        """``host[:port]`` of the registry."""
        return self.value.split("/", 1)[0]

    @property
    def loopback(self) -> bool:
        """True for the local default (or any loopback host): fine for docker, not for Modal."""
        return is_loopback_host(hostname_of(self.host))


@dataclass(frozen=True)
class Credentials:
    """Registry credentials; ``source`` says where they were found (never the values)."""

    username: str | None
    password: str | None
    source: str

    def auth_config(self) -> dict[str, str] | None:
        """docker-py's ``auth_config`` (``None``: let the engine use its credential store)."""
        if self.username and self.password:
            return {"username": self.username, "password": self.password}
        return None


def _check_value(value: str, source: str) -> str:
    value = value.strip().rstrip("/")
    host = value.split("/", 1)[0]
    if not value or "://" in value or "@" in value or not ("." in host or ":" in host
                                                            or host == "localhost"):
        raise InputsError(f"image registry {value!r} (from {source}) must be host[:port][/prefix], "
                          "e.g. registry.example.invalid/team")
    return value


def image_registry(configured: str | None = None,
                   environ: Mapping[str, str] | None = None) -> ImageRegistry:
    """The registry pushes go to: ``PROCESSOR_IMAGE_REGISTRY``, else ``configured`` (the registry
    YAML's ``image_registry``), else the local loopback registry recorded by ``inv infra.up``.

    Raises ``ERR_INPUTS`` (malformed value) and ``ERR_IMAGE_UNAVAILABLE`` (nothing configured and
    no local registry recorded).
    """
    source = os.environ if environ is None else environ
    if source.get(REGISTRY_ENV, "").strip():
        return ImageRegistry(_check_value(source[REGISTRY_ENV], REGISTRY_ENV), "env")
    if configured:
        return ImageRegistry(_check_value(configured, "image_registry"), "registry")
    from runtime.images.build import recorded_registry

    return ImageRegistry(recorded_registry(), "local")


def _docker_config(environ: Mapping[str, str]) -> dict[str, object]:
    folder = Path(environ.get("DOCKER_CONFIG") or Path(environ.get("HOME", "~")) / ".docker")
    try:
        data = json.loads((folder.expanduser() / "config.json").read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def find_credentials(host: str, environ: Mapping[str, str] | None = None) -> Credentials | None:
    """Credentials for ``host``: the environment pair, else an entry of the docker credential
    store (the engine then authenticates itself); ``None`` when there are none."""
    source = os.environ if environ is None else environ
    username, password = source.get(USERNAME_ENV, ""), source.get(PASSWORD_ENV, "")
    if username and password:
        register_secret_values([password])
        return Credentials(username, password, "env")
    config = _docker_config(source)
    for key in ("auths", "credHelpers"):
        entries = config.get(key)
        if isinstance(entries, dict) and any(
                name.removeprefix("https://").removeprefix("http://").split("/", 1)[0] == host
                for name in entries):
            return Credentials(None, None, f"docker config ({key})")
    if config.get("credsStore"):
        return Credentials(None, None, "docker config (credsStore)")
    return None


def require_credentials(registry: ImageRegistry,
                        environ: Mapping[str, str] | None = None) -> Credentials | None:
    """Check, before a push, that a remote registry has credentials (loopback needs none).

    Raises ``ERR_MISSING_SECRET`` naming the variables to set (never a value).
    """
    if registry.loopback:
        return None
    found = find_credentials(registry.host, environ)
    if found is None:
        raise MissingSecretError(
            f"no credentials for image registry {registry.host}: set {USERNAME_ENV} and "
            f"{PASSWORD_ENV}, or log the engine in (docker credential store)",
            meta={"missing": [USERNAME_ENV, PASSWORD_ENV], "registry": registry.host})
    return found
