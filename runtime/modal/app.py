"""The Modal app of a processor ref: plan it from the registry pin, build it with the real SDK.

Django-free, and importable with the standard library alone: inside a Modal container the runtime
imports this module to find :func:`modal_function` (the function body), so the registry, pydantic
and the SDK are imported lazily by the host-side helpers only.

Why a global function registered programmatically (not ``serialized=True``): Modal locates a
non-serialized function in the container by module and qualname (``runtime.modal.app.modal_function``)
and needs no cloudpickle, so the deployer's Python version never has to match the image's. One
body serves every processor version; what differs per version (entrypoint, timeout, secrets, env)
is baked into the function at deploy time as the ``PROCESSOR_RUNTIME_ENTRY`` variable, so a
function always runs what was deployed with it. ``include_source=False``: the body and the kit
come from the pinned image (which carries the ``runtime`` package for the docker adapter too),
not from the deployer's working tree — the digest is the whole provenance.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from runtime.errors import ImageUnpinnedError, InputsError
from runtime.modal.naming import modal_function_name, modal_volume_name

if TYPE_CHECKING:
    from runtime.modal.target import ModalTarget
    from runtime.registry.load import Registry, ResolvedProcessor

ARTIFACTS_MOUNT = "/artifacts"
PROCESSOR_DIR = "/opt/processor"
ENTRY_ENV_KEY = "PROCESSOR_RUNTIME_ENTRY"
ENTRY_GRACE_S = 10
CLIENT_TIMEOUT_FACTOR = 1.2
RESULT_DIGEST_KEY = "image_digest"  # beside the SpawnResult wire fields in the function's result


def function_timeout_s(entry_timeout_s: float) -> int:
    """Modal's own timeout: the entry's limit plus a grace, so the entry's kill (rc 124, with a
    stderr tail) fires before Modal would kill the container blind."""
    return math.ceil(entry_timeout_s) + ENTRY_GRACE_S


def client_timeout_s(function_timeout: int) -> float:
    """How long the host waits for a result: at least 1.2 x the function timeout (SPEC §12)."""
    return float(math.ceil(function_timeout * CLIENT_TIMEOUT_FACTOR))


@dataclass(frozen=True)
class FunctionPlan:
    """Everything passed to ``app.function(...)`` for one processor version, as plain data."""

    ref: str
    function_name: str
    image: str
    timeout_s: int
    memory_mb: int
    gpu: str | None
    secrets: tuple[str, ...]
    volume: str
    mount: str
    entry: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for logs, results and the fake's records)."""
        data = asdict(self)
        data["secrets"] = list(self.secrets)
        return data


@dataclass(frozen=True)
class AppPlan:
    """One deployable app: its computed name, Modal environment and functions."""

    app_name: str
    env: str
    modal_environment: str
    functions: tuple[FunctionPlan, ...]
    dev_fallback: bool = False
    image_override: str | None = None

    @property
    def tags(self) -> dict[str, str]:
        """The tags deploy attaches to the app: the image digest it runs (see :func:`image_tags`)."""
        return image_tags(self.functions[0].image) if self.functions else {}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"app_name": self.app_name, "env": self.env,
                "modal_environment": self.modal_environment, "dev_fallback": self.dev_fallback,
                "image_override": self.image_override, "tags": self.tags,
                "functions": [plan.to_dict() for plan in self.functions]}


# Modal tag values are at most 63 characters of [A-Za-z0-9._-]: a sha256 digest (71 with its
# "sha256:" prefix) is stored as its two 32-hex halves, and joined again by digest_from_tags.
DIGEST_TAGS = ("image_sha256_1", "image_sha256_2")


def image_tags(image: str) -> dict[str, str]:
    """App tags naming the digest of ``<repository>@sha256:<hex>`` (empty for another shape)."""
    _, _, hex_digest = image.rpartition("@sha256:")
    if len(hex_digest) != 64:
        return {}
    return {DIGEST_TAGS[0]: hex_digest[:32], DIGEST_TAGS[1]: hex_digest[32:]}


def digest_from_tags(tags: dict[str, str]) -> str | None:
    """The ``sha256:<hex>`` a deployed app's tags name, or ``None`` when they name none."""
    head, tail = (tags.get(key, "") for key in DIGEST_TAGS)
    joined = head + tail
    if len(joined) != 64 or any(ch not in "0123456789abcdef" for ch in joined):
        return None
    return f"sha256:{joined}"


def image_reference(resolved: ResolvedProcessor, env: str, image_override: str | None) -> str:
    """``<repository>@<digest>`` from the registry pin (or the dev-only override).

    Raises ``ERR_IMAGE_UNPINNED`` when there is no pin to deploy, ``ERR_INPUTS`` for an override
    outside dev or of the wrong shape.
    """
    from runtime.contract.wire import is_digest
    from runtime.guards import check_image_override

    check_image_override(env, image_override)
    pin = resolved.version.image
    if image_override:
        if "@sha256:" in image_override:
            return image_override
        if not is_digest(image_override):
            raise InputsError(f"--image-override must be 'sha256:<64 hex>' or "
                              f"'<repository>@sha256:<64 hex>', got {image_override[:100]!r}")
        if not pin.repository:
            raise InputsError(f"{resolved.ref} has no image repository in the registry; pass "
                              "--image-override as '<repository>@sha256:<64 hex>'")
        return f"{pin.repository}@{image_override}"
    if not pin.repository or not pin.digest:
        hint = ("pin it with `inv pin-processor --verify-digest`" if env != "dev"
                else "pin it, or pass --image-override in env=dev")
        raise ImageUnpinnedError(f"{resolved.ref} has no pinned image digest for env={env}; {hint}")
    return f"{pin.repository}@{pin.digest}"


def image_digest(image: str) -> str:
    """The ``sha256:…`` part of ``<repository>@sha256:…``: the image identity a run reports."""
    return image.rsplit("@", 1)[-1]


def plan_function(resolved: ResolvedProcessor, env: str, image: str) -> FunctionPlan:
    """The function of one processor version, with timeouts and secrets from the registry."""
    version = resolved.version
    entry = {"ref": str(resolved.ref), "entrypoint": f"{PROCESSOR_DIR}/{version.entrypoint}",
             "timeout_s": version.timeout_s, "secrets": list(version.secrets), "env_name": env,
             "image_digest": image_digest(image)}
    return FunctionPlan(
        ref=str(resolved.ref), function_name=modal_function_name(resolved.ref), image=image,
        timeout_s=function_timeout_s(version.timeout_s), memory_mb=version.memory_mb,
        gpu=version.gpu, secrets=tuple(version.secrets), volume=modal_volume_name(),
        mount=ARTIFACTS_MOUNT, entry=entry,
    )


def plan_app(registry: Registry, target: ModalTarget, *,
             image_override: str | None = None) -> AppPlan:
    """Plan the target's app: names from :class:`runtime.modal.target.ModalTarget`, image from
    the pin. Raises ``ERR_INPUTS`` (no or unknown ref, bad override), ``ERR_IMAGE_UNPINNED``.
    """
    resolved = registry.resolve(target.processor_ref)
    image = image_reference(resolved, target.env, image_override)
    return AppPlan(
        app_name=target.app_name, env=target.env, modal_environment=target.environment,
        functions=(plan_function(resolved, target.env, image),),
        dev_fallback=target.dev_fallback, image_override=image_override,
    )


def build_app(plan: AppPlan) -> Any:
    """A real ``modal.App`` for ``plan`` (no network: SDK objects hydrate lazily at deploy)."""
    import modal

    app = modal.App(plan.app_name, include_source=False, tags=plan.tags)
    volume = modal.Volume.from_name(plan.functions[0].volume if plan.functions else
                                    modal_volume_name(), create_if_missing=True)
    for fn in plan.functions:
        app.function(
            image=modal.Image.from_registry(fn.image),
            timeout=fn.timeout_s,
            memory=fn.memory_mb,
            gpu=fn.gpu,
            secrets=[modal.Secret.from_name(name) for name in fn.secrets],
            volumes={fn.mount: volume},
            env={ENTRY_ENV_KEY: json.dumps(fn.entry, sort_keys=True)},
            name=fn.function_name,
            serialized=False,
            include_source=False,
        )(modal_function)
    return app


def modal_function(payload: dict[str, Any]) -> dict[str, Any]:
    """The Modal function body: the in-container entry with the deploy-time configuration.

    Returns :func:`runtime.child.entry.run_entry`'s result in its wire form
    (:meth:`~runtime.child.spawn.SpawnResult.to_wire`); the host judges it like a local run.
    """
    from runtime.child.entry import IMAGE_DIGEST_KEY, run_entry

    entry = json.loads(os.environ[ENTRY_ENV_KEY])
    digest = str(entry.get("image_digest") or "")
    # The deploy-time digest is the image's identity here (Modal hands the container none), so
    # it reaches the determinism receipt exactly as the docker adapter's variable does.
    environ = {**os.environ, IMAGE_DIGEST_KEY: digest} if digest else None
    result = run_entry(payload, entrypoint=str(entry["entrypoint"]),
                       timeout_s=float(entry["timeout_s"]), secrets=list(entry["secrets"]),
                       env_name=str(entry["env_name"]), environ=environ)
    _commit_artifacts_volume()
    return {**result.to_wire(), RESULT_DIGEST_KEY: digest or None}


def _commit_artifacts_volume() -> None:
    """Inside a real Modal container, commit the artifacts volume before returning, so the host
    sees the outputs and receipts as soon as it has the result (a warm container might otherwise
    answer before the background commit). Modal sets ``MODAL_IS_REMOTE=1`` in its containers; the
    fake server's host subprocess has no volume to commit and does not set it."""
    if os.environ.get("MODAL_IS_REMOTE") != "1":
        return
    import modal

    modal.Volume.from_name(modal_volume_name()).commit()
