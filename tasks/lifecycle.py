"""Image lifecycle: ``inv build-processor`` → ``inv push-processor`` → ``inv pin-processor``.

Each task calls one function of :mod:`runtime.images.build`; progress (NDJSON) goes to stderr and with
``--json`` stdout carries exactly one result line (or the canonical error envelope).
"""

from __future__ import annotations

from typing import Any

from invoke.context import Context

from runtime.errors import InputsError
from tasks.cli import run_cli, setup_logging, task

COMMON_HELP = {
    "ref": "processor ref, ns/name@version (e.g. demo/echo@1)",
    "json": "print exactly one JSON result line on stdout (progress stays on stderr)",
    "verbose": "show info-level NDJSON progress on stderr in human mode",
}


def _success(result: Any) -> dict[str, Any]:
    return {"status": "success", **result.to_dict()}


def _need_ref(ref: str) -> None:
    if not ref:
        raise InputsError("--ref is required (e.g. --ref demo/echo@1)")


@task(help={**COMMON_HELP, "no_cache": "rebuild every step instead of reusing the engine's cache",
            "wheelhouse": "folder of pre-downloaded wheels for requirements.lock "
                          "(default: <root>/wheelhouse)"})
def build_processor(c: Context, ref: str = "", no_cache: bool = False, wheelhouse: str = "",
                    json: bool = False, verbose: bool = False) -> None:
    """Build a processor image hermetically (no network) FROM the pinned base; print its ID."""
    setup_logging(json, verbose)

    def action() -> Any:
        from runtime.images.build import build_processor as build

        _need_ref(ref)
        return build(ref, nocache=no_cache, wheelhouse=wheelhouse or None)

    run_cli(action, json_mode=json, to_json=_success,
            to_text=lambda r: f"built {r.ref}: {r.tag} image {r.image_id}"
                              f"{' (cached)' if r.cached else ''} in {r.elapsed_ms} ms")


@task(help={**COMMON_HELP,
            "image": "local image to push instead of the ref's build (tag or ID)",
            "target": "destination repo[:tag] (default: <image registry>/processors/<ns>/<name>:v<ver>; "
                      "the image registry is PROCESSOR_IMAGE_REGISTRY, else image_registry in "
                      "the registry YAML, else the local one)"})
def push_processor(c: Context, ref: str = "", image: str = "", target: str = "",
                   json: bool = False, verbose: bool = False) -> None:
    """Push a processor image (idempotent, transient errors retried); print the manifest digest."""
    setup_logging(json, verbose)

    def action() -> Any:
        from runtime.images.build import push_processor as push

        _need_ref(ref)
        return push(ref, image=image or None, target=target or None)

    run_cli(action, json_mode=json, to_json=_success,
            to_text=lambda r: f"pushed {r.ref}: {r.reference} (image {r.image_id})")


@task(help={**COMMON_HELP,
            "oci": "the image to pin: the reference push-processor prints (repo@sha256:<64 hex>) "
                   "or a bare manifest digest (sha256:<64 hex>)",
            "verify_digest": "prove the digest pullable (manifest + every blob) before writing; "
                             "always on (--no-verify-digest is refused with ERR_INPUTS)",
            "repository": "registry repository holding the digest (default: the configured "
                          "image registry, else the pin's, else the local registry)",
            "rollback": "re-pin an earlier digest a reviewed pin once named (git history); the "
                        "version tag, which names the newer image, is not compared"})
def pin_processor(c: Context, ref: str = "", oci: str = "", verify_digest: bool = True,
                  repository: str = "", rollback: bool = False, json: bool = False,
                  verbose: bool = False) -> None:
    """Pin a verified image digest in registry/processors.yaml (comments and order kept)."""
    setup_logging(json, verbose)

    def action() -> Any:
        from runtime.images.build import pin_processor as pin

        _need_ref(ref)
        if not oci:
            raise InputsError("--oci is required (the reference or digest printed by push-processor)")
        return pin(ref, oci, verify=verify_digest, repository=repository or None,
                   rollback=rollback)

    run_cli(action, json_mode=json, to_json=_success,
            to_text=lambda r: f"pinned {r.ref}: {r.repository}@{r.digest}"
                              f" (verified {r.verified_at})")


TASKS = [build_processor, push_processor, pin_processor]
