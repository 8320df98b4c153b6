"""The local engine, registry and base image as tasks and tests use them, errors in the canon.

:mod:`runtime.devinfra.services` and :mod:`runtime.images.base` raise
:class:`~runtime.devinfra.services.InfraError` for what is not available (the engine, the registry,
mmdebstrap); here that becomes ``ERR_IMAGE_UNAVAILABLE``. Canon errors raised below (a registry
that serves another digest) pass through unchanged,
and the base image digest is recorded in the registry YAML with the round-trip editor.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from runtime.errors import ImageUnavailableError, bound_message
from runtime.logging import get_logger
from runtime.paths import REGISTRY_RELATIVE, project_root

T = TypeVar("T")


def _canon(action: str, fn: Callable[[], T]) -> T:
    from runtime.devinfra.services import InfraError

    try:
        return fn()
    except InfraError as exc:
        raise ImageUnavailableError(bound_message(f"{action}: {exc}")) from exc


def infra_up(registry_port: int = 5000, timeout_s: float = 60.0) -> dict[str, Any]:
    """Reuse or start the Docker Engine and the registry (idempotent); ``ERR_IMAGE_UNAVAILABLE``."""
    from runtime.devinfra import services as infra

    status = _canon("infra.up", lambda: infra.up(registry_port=registry_port, timeout=timeout_s))
    get_logger().info("infra.up.complete", docker_host=status.docker_host,
                      registry=status.registry, engine_started_by_us=status.engine_started_by_us,
                      registry_started_by_us=status.registry_started_by_us)
    return status.to_dict()


def infra_down() -> dict[str, Any]:
    """Stop only what ``infra_up`` started; returns the stopped components."""
    from runtime.devinfra import services as infra

    stopped = _canon("infra.down", infra.down)
    get_logger().info("infra.down.complete", stopped=stopped)
    return {"stopped": stopped}


def infra_status() -> dict[str, Any]:
    """Probe the recorded engine and registry (starts nothing)."""
    from runtime.devinfra import services as infra

    return _canon("infra.status", infra.status).to_dict()


def record_base_image(root: str | Path | None = None, *, rebuild: bool = False) -> dict[str, Any]:
    """Build/reuse and push the base image, then record it as ``base_image`` in the registry YAML.

    Raises ``ERR_IMAGE_UNAVAILABLE`` (no registry, mmdebstrap/push failure) and ``ERR_INPUTS``
    (invalid registry YAML; nothing is written then).
    """
    from runtime.images.base import build_base_image
    from runtime.images.engine import engine_session
    from runtime.registry.edit import set_base_image

    with engine_session() as client:
        result = _canon("infra.base-image",
                        lambda: build_base_image(rebuild=rebuild, client=client))
    project = Path(root).resolve() if root else project_root()
    changed = set_base_image(project / REGISTRY_RELATIVE, repository=result["repository"],
                             digest=result["digest"])
    get_logger().info("infra.base_image.recorded", reference=result["reference"],
                      image_id=result["image_id"], cached=result["cached"], changed=changed)
    return {**result, "registry_changed": changed}
