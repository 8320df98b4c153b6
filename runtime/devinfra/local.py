"""The local engine, registry and base image as tasks and tests use them, errors in the canon.

:mod:`runtime.devinfra.services` and :mod:`runtime.images.base` raise
:class:`~runtime.devinfra.services.InfraError` for what is not available (the engine, the registry,
mmdebstrap); here that becomes ``ERR_IMAGE_UNAVAILABLE``. Canon errors raised below (a registry
that serves another digest) pass through unchanged,
and the base image digest is recorded in the ignored state folder (``.state/base-image.json``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from runtime.errors import ImageUnavailableError, bound_message
from runtime.logging import get_logger
from runtime.paths import project_root

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


def record_base_image(root: str | Path | None = None, *, rebuild: bool = False,
                      build: Callable[..., dict[str, Any]] | None = None) -> dict[str, Any]:
    """Build/reuse and push the base image, then record it in ``<root>/.state/base-image.json``.

    The record is this machine's (a digest in its 127.0.0.1 registry), so it goes to the ignored
    state folder, never into the committed ``registry/processors.yaml``; builds read it from
    there first (:func:`runtime.images.build.base_reference`). ``build`` replaces the real
    engine build (tests). Raises ``ERR_IMAGE_UNAVAILABLE`` (no registry, mmdebstrap/push failure).
    """
    import json

    from runtime.images.build import BASE_IMAGE_STATE
    from runtime.kit.files import atomic_write

    if build is None:
        from runtime.images.base import build_base_image
        from runtime.images.engine import engine_session

        def build(*, rebuild: bool) -> dict[str, Any]:
            with engine_session() as client:
                return build_base_image(rebuild=rebuild, client=client)

    result = _canon("infra.base-image", lambda: build(rebuild=rebuild))
    project = Path(root).resolve() if root else project_root()
    record = {"repository": result["repository"], "digest": result["digest"],
              "reference": result["reference"], "image_id": result["image_id"]}
    path = project / BASE_IMAGE_STATE
    data = (json.dumps(record, indent=2, sort_keys=True) + "\n").encode("utf-8")
    changed = not path.is_file() or path.read_bytes() != data
    if changed:
        atomic_write(path, data, confine_to=project)
    get_logger().info("infra.base_image.recorded", reference=result["reference"],
                      image_id=result["image_id"], cached=result["cached"], changed=changed,
                      recorded_in=str(BASE_IMAGE_STATE))
    return {**result, "recorded_in": str(BASE_IMAGE_STATE), "record_changed": changed}
