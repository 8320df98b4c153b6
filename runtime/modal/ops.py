"""Modal operations over the boundary: deploy from pins, secrets sync, status, logs, destroy.

Each public function is what one ``inv`` task calls. SDK exceptions are translated into the canon
here and in the adapter through :func:`translate_sdk_error`, so no ``modal.*`` exception escapes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runtime.errors import (
    ImageUnavailableError,
    ImageUnpinnedError,
    InputsError,
    MissingSecretError,
    ModalInvocationError,
    ModalLookupError,
    ModalTimeoutError,
    ProcessorRuntimeError,
    RegistryMismatchError,
    bound_message,
)
from runtime.logging import get_logger
from runtime.modal.app import AppPlan, build_app, digest_from_tags, plan_app
from runtime.modal.boundary import ModalBoundary, get_boundary
from runtime.modal.target import ModalTarget
from runtime.paths import project_root
from runtime.redaction import redact_text, register_secret_values
from runtime.registry.load import Registry

SECRET_ENVS = ("staging", "main")


# Every class ``modal.exception`` defines, by name -> what it means for an operator. A test walks
# the installed module and fails when a class is missing here, so a new SDK class cannot fall
# through unmapped. ``LOOKUP_STAGE``: ``ERR_MODAL_LOOKUP`` while looking up, else invocation.
LOOKUP_STAGE = "lookup-stage"
_LOOKUP, _INVOKE, _TIMEOUT = ModalLookupError.code, ModalInvocationError.code, ModalTimeoutError.code
SDK_ERROR_CANON: dict[str, str] = {
    # Credentials are checked before any lookup: the drill is the lookup's (token, workspace, env).
    "AuthError": _LOOKUP, "PermissionDeniedError": _LOOKUP,
    "NotFoundError": LOOKUP_STAGE, "InvalidError": LOOKUP_STAGE,
    "FunctionTimeoutError": _TIMEOUT, "TimeoutError": _TIMEOUT, "ExecTimeoutError": _TIMEOUT,
    "InteractiveTimeoutError": _TIMEOUT, "MountUploadTimeoutError": _TIMEOUT,
    "OutputExpiredError": _TIMEOUT, "SandboxTimeoutError": _TIMEOUT,
    "VolumeUploadTimeoutError": _TIMEOUT,
    # Modal could not build the pinned image: the image is what is unavailable.
    "ImageBuildError": ImageUnavailableError.code,
    **dict.fromkeys((
        "AlreadyExistsError", "AsyncUsageWarning", "ClientClosed", "ConflictError",
        "ConnectionError", "DataLossError", "DeprecationError", "DeserializationError", "Error",
        "ExecutionError", "InputCancellation", "InternalAPIWarning", "InternalError",
        "InternalFailure", "LogsFetchError", "ModuleNotMountable", "RemoteError",
        "RequestSizeError", "ResourceExhaustedError", "SandboxFilesystemDirectoryNotEmptyError",
        "SandboxFilesystemError", "SandboxFilesystemFileTooLargeError",
        "SandboxFilesystemIsADirectoryError", "SandboxFilesystemNotADirectoryError",
        "SandboxFilesystemNotFoundError", "SandboxFilesystemPathAlreadyExistsError",
        "SandboxFilesystemPermissionError", "SandboxTerminatedError", "SerializationError",
        "ServerWarning", "ServiceError", "SnapshotCreationError", "UnimplementedError",
        "VersionError", "WorkspaceManagementError", "_CliUserExecutionError", "_GRPCErrorWrapper",
    ), _INVOKE),
}
_CANON_CLASSES: dict[str, type[ProcessorRuntimeError]] = {
    cls.code: cls for cls in (ModalLookupError, ModalInvocationError, ModalTimeoutError,
                              ImageUnavailableError)}


def lookup_causes(target: ModalTarget, *, looked_up: str | None = None,
                  function_name: str | None = None) -> str:
    """The SPEC debug drill for a failed lookup, spelled out with the computed names.

    Names both sides: the app the run looked up (``looked_up``, default the target's own name)
    and what ``inv deploy-modal`` computes for the same values (and without branch/user, the
    canonical name a fallback deploy made), the Modal environment and the SDK's own
    ``MODAL_ENVIRONMENT`` when it says something else.
    """
    from runtime.modal.boundary import installed_sdk_version

    ref, env, branch, user = target.processor_ref, target.env, target.branch, target.user
    modal_environment = target.environment
    deploy_name = target.app_name
    app_name = looked_up or deploy_name
    what = f"app {app_name!r}" + (f", function {function_name!r}" if function_name else "")
    flags = target.deploy_flags()
    canonical = ModalTarget(ref, "main").app_name
    sides = (f"run side looked up {app_name!r}; deploy side: `inv deploy-modal {flags}` "
             f"deploys {deploy_name!r}")
    if env == "dev" and deploy_name != canonical:
        sides += f", a deploy without --branch/--user deploys {canonical!r}"
    causes = [
        f"not deployed: run `inv deploy-modal {flags}`",
        f"wrong Modal environment: looked in {modal_environment!r} (set --modal-environment "
        "to match the deploy)",
    ]
    if env == "dev":
        causes.append(f"branch/user mismatch: dev names embed them (got branch={branch!r}, "
                      f"user={user!r}); deploy and run must pass the same values")
    causes.append("name sanitised: names are lower-cased, cut to 64 characters with a hash tail "
                  "— compare the logged `app`/`function` of deploy and run")
    causes.append("credentials: MODAL_TOKEN_ID/MODAL_TOKEN_SECRET (or ~/.modal.toml) must belong "
                  "to the workspace the app was deployed to")
    ambient = os.environ.get("MODAL_ENVIRONMENT", "")
    context = f"modal client {installed_sdk_version()}"
    if ambient and ambient != modal_environment:
        context += (f"; MODAL_ENVIRONMENT={ambient!r} is set but not used (the project passes "
                    f"the environment {modal_environment!r} explicitly)")
    return (f"{what} not found in Modal environment {modal_environment!r} (env={env}); {sides}. "
            "Likely causes: " + "; ".join(f"({i}) {c}" for i, c in enumerate(causes, 1))
            + f". ({context})")


def sdk_canon_code(exc: BaseException, stage: str) -> str:
    """The canon code of an SDK (or remote) exception at ``stage``: its nearest class in
    :data:`SDK_ERROR_CANON`; the built-in ``TimeoutError`` (``FunctionCall.get``) is a timeout and
    anything else (a remote user exception) an invocation failure."""
    import modal.exception as mexc

    for cls in type(exc).__mro__:
        if cls.__module__ == mexc.__name__ and cls.__name__ in SDK_ERROR_CANON:
            code = SDK_ERROR_CANON[cls.__name__]
            if code == LOOKUP_STAGE:
                return _LOOKUP if stage == "lookup" else _INVOKE
            return code
    return _TIMEOUT if isinstance(exc, TimeoutError) else _INVOKE


def translate_sdk_error(exc: BaseException, *, stage: str, lookup_message: str = "",
                        meta: Mapping[str, Any] | None = None) -> ProcessorRuntimeError:
    """Map an SDK (or remote) exception to the canon through :func:`sdk_canon_code`.

    ``ERR_MODAL_LOOKUP`` (not found while looking up; authentication), ``ERR_MODAL_TIMEOUT``
    (retryable), ``ERR_IMAGE_UNAVAILABLE`` (image build failed), else ``ERR_MODAL_INVOCATION``.
    A canon error passes through unchanged: it already says what happened.
    """
    if isinstance(exc, ProcessorRuntimeError):
        return exc
    info = dict(meta or {})
    info["sdk_error"] = type(exc).__name__
    detail = redact_text(bound_message(str(exc) or type(exc).__name__, 600))
    code = sdk_canon_code(exc, stage)
    if code == _LOOKUP:
        message = lookup_message or f"Modal refused the {stage}"
        return ModalLookupError(f"{message} [{type(exc).__name__}: {detail}]", meta=info)
    if code == _TIMEOUT:
        if isinstance(exc, TimeoutError) and type(exc).__module__ == "builtins":
            return ModalTimeoutError(f"no result from Modal within the client timeout during "
                                     f"{stage}", meta=info)
        return ModalTimeoutError(f"the Modal function ran past its own timeout during {stage} "
                                 f"({type(exc).__name__}: {detail})", meta=info)
    if code == ImageUnavailableError.code:
        return ImageUnavailableError(f"Modal could not build the image during {stage}: "
                                     f"{type(exc).__name__}: {detail}", meta=info)
    return _CANON_CLASSES[code](f"Modal {stage} failed: {type(exc).__name__}: {detail}", meta=info)


def _load_registry(root: str | Path | None) -> Registry:
    return Registry.load(Path(root).resolve() if root else project_root())


def deploy_modal(target: ModalTarget, *, image_override: str | None = None,
                 root: str | Path | None = None,
                 boundary: ModalBoundary | None = None) -> dict[str, Any]:
    """Deploy the target's app to Modal from its registry pin; returns names, image and app id.

    Raises ``ERR_INPUTS`` (no or unknown ref, override outside dev), ``ERR_IMAGE_UNPINNED``
    (no pin), ``ERR_MODAL_INVOCATION`` (the SDK refused or failed).
    """
    ref, env = target.processor_ref, target.env
    registry = _load_registry(root)
    register_secret_values(v for k, v in os.environ.items() if k in registry.all_secret_names())
    plan = plan_app(registry, target, image_override=image_override)
    log = get_logger(env=env, modal_environment=plan.modal_environment, processor_ref=ref)
    try:
        check_deployable_pin(registry, ref, env=env, image=plan.functions[0].image)
    except ProcessorRuntimeError as refused:
        log.error("modal.deploy.refused", app=plan.app_name, code=refused.code,
                  image=plan.functions[0].image)
        raise
    if plan.dev_fallback:
        log.warning("modal.naming.dev_fallback", app=plan.app_name,
                    reason="env=dev without --branch and --user: using the canonical name")
    functions = [fn.function_name for fn in plan.functions]
    for fn in plan.functions:
        log.info("modal.deploy.start", app=plan.app_name, function=fn.function_name,
                 image=fn.image, timeout_s=fn.timeout_s, secrets=list(fn.secrets))
    app = build_app(plan)
    active = boundary or get_boundary()
    try:
        app_id = active.deploy(app, name=plan.app_name, environment_name=plan.modal_environment,
                               tag=_deploy_tag(plan), plan=plan.to_dict())
    except Exception as exc:
        err = translate_sdk_error(exc, stage="deploy", meta={"app": plan.app_name})
        log.error("modal.deploy.error", app=plan.app_name, code=err.code,
                  sdk_error=type(exc).__name__)
        raise err from exc
    image_digest = digest_from_tags(plan.tags)
    log.info("modal.deploy.complete", app=plan.app_name, app_id=app_id, functions=functions,
             image_digest=image_digest)
    return {"status": "deployed", "app": plan.app_name, "functions": functions, "app_id": app_id,
            "env": env, "modal_environment": plan.modal_environment,
            "image": plan.functions[0].image, "image_digest": image_digest,
            "dev_fallback": plan.dev_fallback,
            "modal_server": active.server, "plan": plan.to_dict()}


def check_deployable_pin(registry: Registry, ref: str, *, env: str, image: str) -> None:
    """staging/main publish only what Modal can pull and what was proven pullable: a pin on a
    loopback/link-local registry is ``ERR_IMAGE_UNAVAILABLE``, a pin without its verification
    record (``verified_at`` + ``verified_by``, written by ``inv pin-processor``) is
    ``ERR_IMAGE_UNPINNED``. Checked before anything is built or published; dev is not gated."""
    from runtime.guards import check_remote_pullable

    if env == "dev":
        return
    check_remote_pullable(image, env)
    pin = registry.resolve(ref).version.image
    if not pin.verified:
        raise ImageUnpinnedError(
            f"{ref}: the pin {image} was never verified (no verified_at/verified_by in "
            f"{registry.path.name}); env={env} deploys verified pins only — pin it with "
            "`inv pin-processor --ref ... --oci ... --verify-digest` through the reviewed pin PR",
            meta={"env": env, "image": image})


def _deploy_tag(plan: AppPlan) -> str:
    """A deployment tag from the image digest (``[a-zA-Z0-9._-]{1,50}``) for Modal's history."""
    digest = plan.functions[0].image.rsplit("@sha256:", 1)[-1]
    return f"sha256-{digest[:12]}"


def sync_modal_secrets(target: ModalTarget, *, fail_on_missing: bool = True,
                       environ: Mapping[str, str] | None = None, root: str | Path | None = None,
                       boundary: ModalBoundary | None = None) -> dict[str, Any]:
    """Create or update the Modal secrets the registry requires, from the caller's environment:
    every ref's, or only ``target.ref``'s; into the target's Modal environment.

    Logs names and presence only. Raises ``ERR_INPUTS`` (env not staging/main),
    ``ERR_MISSING_SECRET`` listing every missing name at once (with ``fail_on_missing``),
    ``ERR_MODAL_INVOCATION`` (the SDK failed).
    """
    env, ref = target.env, target.ref
    if env not in SECRET_ENVS:
        raise InputsError(f"sync-modal-secrets runs for env staging or main, got {env!r}")
    registry = _load_registry(root)
    source = os.environ if environ is None else environ
    names = list(registry.resolve(ref).version.secrets) if ref else registry.all_secret_names()
    register_secret_values(source[name] for name in names if source.get(name))
    target_env = target.environment
    log = get_logger(env=env, modal_environment=target_env)
    presence = {name: bool(source.get(name)) for name in names}
    log.info("modal.secrets.presence", required=names, present=presence)
    missing = [name for name, ok in presence.items() if not ok]
    if missing and fail_on_missing:
        raise MissingSecretError(f"missing secret(s) for env={env}: {', '.join(missing)} "
                                 "(set them in the caller's environment; names come from the registry)",
                                 meta={"missing": missing})
    active = boundary or get_boundary()
    rows: list[dict[str, Any]] = [{"name": name, "present": False, "action": "missing"}
                                  for name in missing]
    try:
        existing = set(active.list_secret_names(environment_name=target_env))
        for name in names:
            if name in missing:
                continue
            values = {name: source[name]}
            if name in existing:
                active.update_secret(name, values, environment_name=target_env)
                action = "updated"
            else:
                active.create_secret(name, values, environment_name=target_env)
                action = "created"
            log.info("modal.secrets.synced", secret_name=name, action=action)
            rows.append({"name": name, "present": True, "action": action})
    except Exception as exc:
        err = translate_sdk_error(exc, stage="secrets sync")
        log.error("modal.secrets.error", code=err.code, sdk_error=type(exc).__name__)
        raise err from exc
    return {"status": "synced" if not missing else "incomplete", "env": env,
            "modal_environment": target_env, "secrets": sorted(rows, key=lambda r: r["name"]),
            "modal_server": active.server}


def _ops_target(target: ModalTarget, root: str | Path | None) -> ModalTarget:
    """The target with its ref checked against the registry (``ERR_INPUTS`` when unknown)."""
    _load_registry(root).resolve(target.processor_ref)
    if target.dev_fallback:
        get_logger(env=target.env).warning("modal.naming.dev_fallback", app=target.app_name,
                                           reason="env=dev without --branch and --user")
    return target


def _run_op(op: str, target: ModalTarget, root: str | Path | None,
            boundary: ModalBoundary | None, call: Any) -> tuple[Any, str]:
    """Run ``call(boundary, app_name, modal_environment)`` for one op; SDK errors → canon."""
    target = _ops_target(target, root)
    app_name, modal_env = target.app_name, target.environment
    log = get_logger(env=target.env, modal_environment=modal_env, app=app_name)
    log.info(f"modal.{op}.start")
    active = boundary or get_boundary()
    try:
        result = call(active, app_name, modal_env)
    except Exception as exc:
        message = lookup_causes(target, function_name=target.function_name)
        err = translate_sdk_error(exc, stage="lookup", lookup_message=message,
                                  meta={"app": app_name, "modal_environment": modal_env})
        log.error(f"modal.{op}.error", code=err.code, sdk_error=type(exc).__name__)
        raise err from exc
    log.info(f"modal.{op}.complete")
    return result, active.server


def modal_status(target: ModalTarget, *, root: str | Path | None = None,
                 boundary: ModalBoundary | None = None) -> dict[str, Any]:
    """Lifecycle state of the target's app. Raises ``ERR_MODAL_LOOKUP``, ``ERR_MODAL_INVOCATION``."""
    status, kind = _run_op("status", target, root, boundary,
                           lambda b, a, e: b.app_status(a, environment_name=e))
    return {"app": target.app_name, "modal_environment": target.environment,
            "app_id": status.app_id, "state": status.state, "functions": status.functions,
            "deployed_at": status.deployed_at, "version": status.version,
            "revision": status.version, "image_digest": digest_from_tags(status.tags),
            "modal_server": kind}


def modal_logs(target: ModalTarget, *, entries: int = 100, root: str | Path | None = None,
               boundary: ModalBoundary | None = None) -> dict[str, Any]:
    """The most recent log lines of the target's app, redacted.

    Raises ``ERR_INPUTS`` (bad count), ``ERR_MODAL_LOOKUP``, ``ERR_MODAL_INVOCATION``.
    """
    if not 0 < entries <= 10000:
        raise InputsError(f"--entries must be within 1..10000, got {entries}")
    records, kind = _run_op("logs", target, root, boundary,
                            lambda b, a, e: b.app_logs(a, environment_name=e, entries=entries))
    lines = [{**record, "message": redact_text(str(record.get("message", "")))}
             for record in records]
    return {"app": target.app_name, "modal_environment": target.environment, "entries": lines,
            "modal_server": kind}


def destroy_modal(target: ModalTarget, *, root: str | Path | None = None,
                  boundary: ModalBoundary | None = None) -> dict[str, Any]:
    """Stop the target's app permanently. Raises ``ERR_MODAL_LOOKUP``, ``ERR_MODAL_INVOCATION``."""
    _, kind = _run_op("destroy", target, root, boundary,
                      lambda b, a, e: b.app_stop(a, environment_name=e))
    return {"status": "stopped", "app": target.app_name,
            "modal_environment": target.environment, "modal_server": kind}


def drift_modal(scope: ModalTarget, *, root: str | Path | None = None,
                boundary: ModalBoundary | None = None) -> dict[str, Any]:
    """Compare, per pinned processor (or ``scope.ref`` alone), the digest its deployed app runs
    (the tags deploy attached) with the registry pin; returns the rows when every app is clean.

    Raises ``ERR_INPUTS`` (bad env/ref), ``ERR_IMAGE_UNPINNED`` (``scope.ref`` has no pin),
    ``ERR_REGISTRY_MISMATCH`` naming both digests of every drifting app (or an app that names
    no digest), ``ERR_MODAL_LOOKUP`` for an app that is not deployed (when nothing drifted);
    the rows ride in the error's ``meta``.
    """
    env, ref = scope.env, scope.ref
    registry = _load_registry(root)
    refs = [registry.resolve(ref).ref] if ref else list(registry.refs())
    rows: list[dict[str, Any]] = []
    for one in refs:
        pin = registry.resolve(str(one)).version.image
        if not pin.digest:
            if ref:
                raise ImageUnpinnedError(f"{one} has no pinned digest to compare with; pin it "
                                         "through the reviewed pin PR first")
            rows.append({"ref": str(one), "status": "unpinned", "pinned": None})
            continue
        rows.append(_drift_row(scope.with_ref(str(one)), pin.digest, root, boundary))
    checked = [row for row in rows if row["status"] != "unpinned"]
    log = get_logger(env=env)
    log.info("modal.drift.checked", apps=len(checked),
             drifted=[row["ref"] for row in checked if row["status"] == "drift"])
    drifted = [row for row in checked if row["status"] == "drift"]
    missing = [row for row in checked if row["status"] == "not_deployed"]
    meta = {"env": env, "apps": rows}
    if drifted:
        raise RegistryMismatchError(
            "deployed apps drifted from their pins: " + "; ".join(
                f"{row['app']} ({row['ref']}) runs {row['deployed'] or 'no tagged digest'}, "
                f"pinned {row['pinned']}" for row in drifted)
            + " — deploy the merged pin (`inv deploy-modal`) or re-pin through the pin PR",
            meta=meta)
    if missing:
        raise ModalLookupError("not deployed: " + "; ".join(
            f"{row['app']} ({row['ref']}) in Modal environment {row['modal_environment']!r}"
            for row in missing), meta=meta)
    return {"status": "clean", "env": env, "apps": rows,
            "modal_server": (boundary or get_boundary()).server}


def _drift_row(target: ModalTarget, pinned: str, root: str | Path | None,
               boundary: ModalBoundary | None) -> dict[str, Any]:
    """One app's drift row: ``clean``, ``drift`` or ``not_deployed``."""
    ref = target.processor_ref
    try:
        status = modal_status(target, root=root, boundary=boundary)
    except ModalLookupError as err:
        return {"ref": ref, "app": target.app_name, "modal_environment": target.environment,
                "status": "not_deployed", "pinned": pinned, "deployed": None, "revision": None,
                "detail": bound_message(err.message, 300)}
    deployed = status["image_digest"]
    return {"ref": ref, "app": status["app"], "modal_environment": status["modal_environment"],
            "status": "clean" if deployed == pinned else "drift", "pinned": pinned,
            "deployed": deployed, "revision": status["revision"], "app_id": status["app_id"]}


def dev_identity(branch: str | None, user: str | None,
                 root: str | Path | None = None) -> tuple[str | None, str | None]:
    """The branch and user of a developer's dev app: the flags, else the checkout's git branch
    and ``$USER`` (either may stay ``None``; naming then falls back and warns)."""
    from runtime import _git

    base = Path(root).resolve() if root else project_root()
    return (branch or _git.current_branch(base) or None,
            user or os.environ.get("USER") or os.environ.get("LOGNAME") or None)


def dev_build_push_deploy(target: ModalTarget, *, root: str | Path | None = None,
                          boundary: ModalBoundary | None = None) -> dict[str, Any]:
    """The dev loop in one call: build the target's ref, push it to the image registry, deploy
    the developer's dev app with that digest as the image override (dev only; staging/main move
    through pins). Branch and user default to the checkout's (:func:`dev_identity`). Raises what
    build, push and deploy raise (``ERR_INPUTS``, ``ERR_IMAGE_UNAVAILABLE``,
    ``ERR_REGISTRY_MISMATCH``, ``ERR_MISSING_SECRET``, ``ERR_MODAL_*``); nothing is deployed
    unless the push was verified.
    """
    from dataclasses import replace

    from runtime.images.build import build_processor, push_processor

    if target.env != "dev":
        raise InputsError(f"the dev loop deploys env=dev only, got env={target.env}")
    ref = target.processor_ref
    branch, user = dev_identity(target.branch, target.user, root)
    target = replace(target, branch=branch, user=user)
    built = build_processor(ref, root=root)
    pushed = push_processor(ref, root=root)
    deployed = deploy_modal(target, image_override=pushed.reference, root=root,
                            boundary=boundary)
    return {"status": "deployed", "ref": ref, "branch": branch, "user": user,
            "image_id": built.image_id, "reference": pushed.reference,
            "image_digest": pushed.digest, "app": deployed["app"],
            "app_id": deployed["app_id"], "modal_environment": deployed["modal_environment"],
            "modal_server": deployed["modal_server"]}
