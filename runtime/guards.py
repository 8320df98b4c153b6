"""Preflight guards that refuse unsafe requests before anything runs.

``ci_enabled`` lives with the child environment (standard library only, the container entry
asks it too) and is re-exported here.
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Mapping

from runtime.child.env import ci_enabled as ci_enabled  # re-exported: the one CI check
from runtime.contract.shapes import ENVS, EXECUTION_ID_RE, MODES
from runtime.errors import CISafetyError, ImageUnavailableError, ImageUnpinnedError, InputsError


def new_execution_id() -> str:
    """A fresh, path-safe execution id (``ex-<32 hex>``)."""
    return f"ex-{uuid.uuid4().hex}"


def check_execution_id(execution_id: str) -> str:
    """The one check of an execution id: it names folders, so it must match the whole pattern
    (``fullmatch``: a trailing newline is refused too). ``ERR_INPUTS`` otherwise."""
    if not EXECUTION_ID_RE.fullmatch(execution_id):
        raise InputsError(f"execution id {execution_id[:80]!r} must match {EXECUTION_ID_RE.pattern}")
    return execution_id


def is_loopback_host(host: str | None) -> bool:
    """The one loopback check: ``localhost``, ``127.0.0.0/8`` or ``::1`` (brackets allowed).

    The network rule of this project (tests and local services talk to loopback only) and the
    refusal of loopback pins where Modal must pull both ask this question.
    """
    if not host:
        return False
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def is_local_only_host(host: str | None) -> bool:
    """Loopback or link-local (``169.254.0.0/16``, ``fe80::/10``): reachable from this machine
    only, so a remote puller (Modal) can never fetch an image from it."""
    if is_loopback_host(host):
        return True
    name = (host or "").strip().strip("[]").lower().split("%", 1)[0]
    try:
        return ipaddress.ip_address(name).is_link_local
    except ValueError:
        return False


def hostname_of(hostport: str) -> str:
    """``host`` of ``host[:port]`` (``[::1]:5000`` included)."""
    if hostport.startswith("["):
        return hostport[1:].split("]", 1)[0]
    return hostport.rsplit(":", 1)[0] if hostport.count(":") == 1 else hostport


def check_remote_pullable(reference: str, env: str) -> None:
    """staging/main deploy to Modal, which pulls the image itself: a pin on a loopback or
    link-local registry host cannot be pulled there. ``ERR_IMAGE_UNAVAILABLE`` before anything
    is published (the docker adapter may still run such a pin on this machine)."""
    if env == "dev":
        return
    host = hostname_of(reference.split("/", 1)[0])
    if is_local_only_host(host):
        raise ImageUnavailableError(
            f"env={env} deploys to Modal, which cannot pull {reference.split('@', 1)[0]}: "
            f"{host} is a loopback/link-local registry host; push to the configured image "
            "registry (PROCESSOR_IMAGE_REGISTRY or image_registry in registry/processors.yaml) "
            "and re-pin through the reviewed pin PR", retryable=False,
            meta={"env": env, "registry_host": host})


def check_mode(mode: str, environ: Mapping[str, str] | None = None) -> None:
    """Mode is explicit and one of ``mock|real``; ``real`` under ``CI=true`` is ``ERR_CI_SAFETY``."""
    if mode not in MODES:
        raise InputsError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "real" and ci_enabled(environ):
        raise CISafetyError("mode=real is refused with CI=true; CI runs mode=mock only")


def check_env(env: str) -> None:
    """``env`` is one of ``dev|staging|main``."""
    if env not in ENVS:
        raise InputsError(f"env must be one of {', '.join(ENVS)}, got {env!r}")


def check_image_override(env: str, image_override: str | None) -> None:
    """``--image-override`` is a dev-only escape hatch: staging/main run pins only."""
    if image_override and env != "dev":
        raise InputsError(
            f"--image-override is accepted in env=dev only (got env={env}); "
            "staging and main run the pinned digest"
        )


SOURCE_ADAPTERS = ("local",)


def check_pinned_env(env: str, adapter: str) -> None:
    """staging and main run pinned digests only: an adapter that runs source is refused there.

    Raises ``ERR_IMAGE_UNPINNED`` (fails closed) before anything is spawned.
    """
    if env != "dev" and adapter in SOURCE_ADAPTERS:
        raise ImageUnpinnedError(
            f"env={env} runs pinned images only, but the {adapter} adapter runs source; "
            "use --adapter docker or --adapter modal (or --env dev)"
        )
