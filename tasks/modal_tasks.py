"""Modal tasks: deploy from pins, secrets sync, and the operator's logs/status/destroy."""

from __future__ import annotations

import json as _json
from typing import Any

from invoke.context import Context

from runtime.errors import InputsError
from tasks.cli import run_cli, setup_logging, task

TARGET_HELP = {
    "ref": "processor ref, ns/name@version (e.g. demo/echo@1)",
    "env": "dev, staging or main (names and Modal environment follow it)",
    "branch": "env=dev: the branch in the app name",
    "user": "env=dev: the user in the app name",
    "modal_environment": "the Modal environment (default: the same as --env)",
    "json": "print exactly one JSON line on stdout (logs stay on stderr)",
}


def _text(result: dict[str, Any]) -> str:
    return "\n".join(f"{key}: {_json.dumps(value) if not isinstance(value, str) else value}"
                     for key, value in result.items() if key != "plan")


def _require_ref(ref: str) -> None:
    if not ref:
        raise InputsError("--ref is required (e.g. --ref demo/echo@1)")


def _target(ref: str, env: str, branch: str = "", user: str = "",
            modal_environment: str = "", *, need_ref: bool = True) -> Any:
    """The one :class:`runtime.modal.target.ModalTarget` a task's flags name."""
    from runtime.modal.target import ModalTarget

    if need_ref:
        _require_ref(ref)
    return ModalTarget.from_flags(ref=ref, env=env, branch=branch, user=user,
                                  modal_environment=modal_environment)


def _cli(action: Any, json: bool) -> None:
    run_cli(action, json_mode=json, to_json=lambda result: result, to_text=_text)


@task(help={**TARGET_HELP, "image_override": "deploy this digest instead of the pin (env=dev only)"})
def deploy_modal(c: Context, ref: str = "", env: str = "dev", image_override: str = "",
                 branch: str = "", user: str = "", modal_environment: str = "",
                 json: bool = False) -> None:
    """Deploy a processor's Modal app from its pinned image digest."""
    setup_logging(json)

    def action() -> dict[str, Any]:
        from runtime.modal.ops import deploy_modal as deploy

        return deploy(_target(ref, env, branch, user, modal_environment),
                      image_override=image_override or None)

    _cli(action, json)


@task(help={"env": "staging or main", "ref": "only this ref's secrets (default: every ref's)",
            "fail_on_missing": "fail with ERR_MISSING_SECRET if any required secret is unset "
                               "(default on; --no-fail-on-missing syncs what is present)",
            "modal_environment": TARGET_HELP["modal_environment"], "json": TARGET_HELP["json"]})
def sync_modal_secrets(c: Context, env: str = "", ref: str = "", fail_on_missing: bool = True,
                       modal_environment: str = "", json: bool = False) -> None:
    """Create or update the registry's required Modal secrets from this environment."""
    setup_logging(json)

    def action() -> dict[str, Any]:
        from runtime.modal.ops import sync_modal_secrets as sync

        return sync(_target(ref, env, modal_environment=modal_environment, need_ref=False),
                    fail_on_missing=fail_on_missing)

    _cli(action, json)


@task(help={**TARGET_HELP, "entries": "how many recent lines (default 100)"})
def logs_modal(c: Context, ref: str = "", env: str = "dev", entries: int = 100, branch: str = "",
               user: str = "", modal_environment: str = "", json: bool = False) -> None:
    """Show the recent logs of a processor's Modal app."""
    setup_logging(json)

    def action() -> dict[str, Any]:
        from runtime.modal.ops import modal_logs

        return modal_logs(_target(ref, env, branch, user, modal_environment), entries=entries)

    def text(result: dict[str, Any]) -> str:
        return "\n".join(f"{e['timestamp']} {e['message']}".strip() for e in result["entries"])

    run_cli(action, json_mode=json, to_json=lambda result: result, to_text=text)


@task(help=TARGET_HELP)
def status_modal(c: Context, ref: str = "", env: str = "dev", branch: str = "", user: str = "",
                 modal_environment: str = "", json: bool = False) -> None:
    """Show the lifecycle state, revision, image digest and functions of a processor's Modal app."""
    setup_logging(json)

    def action() -> dict[str, Any]:
        from runtime.modal.ops import modal_status

        return modal_status(_target(ref, env, branch, user, modal_environment))

    _cli(action, json)


@task(help={**TARGET_HELP, "ref": "only this ref (default: every pinned ref)"})
def drift_modal(c: Context, env: str = "", ref: str = "", branch: str = "", user: str = "",
                modal_environment: str = "", json: bool = False) -> None:
    """Compare the digest each deployed app runs with its pin (ERR_REGISTRY_MISMATCH on drift)."""
    setup_logging(json)

    def action() -> dict[str, Any]:
        from runtime.modal.ops import drift_modal as drift

        if not env:
            raise InputsError("--env is required (dev, staging or main)")
        return drift(_target(ref, env, branch, user, modal_environment, need_ref=False))

    def text(result: dict[str, Any]) -> str:
        lines = [f"drift: {result['status']} (env={result['env']})"]
        lines += [f"  {row['ref']}: {row['status']}"
                  + (f" {row['app']} revision {row['revision']} runs {row['deployed']}"
                     if row["status"] != "unpinned" else "") for row in result["apps"]]
        return "\n".join(lines)

    run_cli(action, json_mode=json, to_json=lambda result: result, to_text=text)


@task(help=TARGET_HELP)
def destroy_modal(c: Context, ref: str = "", env: str = "dev", branch: str = "", user: str = "",
                  modal_environment: str = "", json: bool = False) -> None:
    """Stop a processor's Modal app (permanent)."""
    setup_logging(json)

    def action() -> dict[str, Any]:
        from runtime.modal.ops import destroy_modal as destroy

        return destroy(_target(ref, env, branch, user, modal_environment))

    _cli(action, json)


DEV_HELP = {
    "ref": TARGET_HELP["ref"],
    "branch": "the branch in the dev app's name (default: the checkout's git branch)",
    "user": "the user in the dev app's name (default: $USER)",
    "modal_environment": TARGET_HELP["modal_environment"],
    "json": TARGET_HELP["json"],
}


def _dev_identity(branch: str, user: str) -> tuple[str, str]:
    from runtime.modal.ops import dev_identity

    found_branch, found_user = dev_identity(branch or None, user or None)
    return found_branch or "", found_user or ""


@task(help=DEV_HELP)
def modal_dev_build_push_deploy(c: Context, ref: str = "", branch: str = "", user: str = "",
                                modal_environment: str = "", json: bool = False) -> None:
    """Build, push and deploy one ref to your own dev app (image override; dev only)."""
    setup_logging(json)

    def action() -> dict[str, Any]:
        from runtime.modal.ops import dev_build_push_deploy

        return dev_build_push_deploy(_target(ref, "dev", branch, user, modal_environment))

    _cli(action, json)


@task(help={key: DEV_HELP[key] for key in ("ref", "branch", "user")})
def smoke_modal_dev(c: Context, ref: str = "", branch: str = "", user: str = "") -> None:
    """Smoke (mock) one ref's golden fixtures against your dev app on Modal."""
    from tasks.cli import fail
    from tasks.smoke import run_smoke

    try:
        _require_ref(ref)
        found_branch, found_user = _dev_identity(branch, user)
    except InputsError as err:
        fail(err)
    run_smoke(adapter="modal", env="dev", ref=ref, branch=found_branch, user=found_user)


@task(help={**DEV_HELP, "inputs_json": "the inputs as one JSON object (default: {})"})
def real_modal_dev(c: Context, ref: str = "", inputs_json: str = "", branch: str = "",
                   user: str = "", modal_environment: str = "", json: bool = False) -> None:
    """Run one ref once in real mode on your dev app (refused with CI=true: ERR_CI_SAFETY)."""
    setup_logging(json)

    def action() -> Any:
        from runtime.guards import check_mode
        from runtime.runner import parse_inputs_json, run_processor

        check_mode("real")  # before anything else: CI never runs real
        _require_ref(ref)
        found_branch, found_user = _dev_identity(branch, user)
        options = {key: value for key, value in (
            ("branch", found_branch), ("user", found_user),
            ("modal_environment", modal_environment)) if value}
        return run_processor(ref, inputs=parse_inputs_json(inputs_json) if inputs_json else {},
                             mode="real", adapter="modal", env="dev", adapter_options=options)

    run_cli(action, json_mode=json, to_json=lambda env_: env_.model_dump(exclude_none=True),
            to_text=lambda env_: f"{env_.status}: {env_.execution_id} "
                                 f"({len(env_.outputs)} outputs) {env_.index_path}")


@task(help={key: DEV_HELP[key] for key in ("ref", "branch", "user")})
def test_acceptance_dev(c: Context, ref: str = "", branch: str = "", user: str = "") -> None:
    """Acceptance for a dev change: acceptance/pr (local, mock), then smoke on your dev app."""
    from invoke.exceptions import Exit

    from tasks.cli import fail
    from tasks.smoke import run_smoke
    from tasks.test import run_lane

    try:
        found_branch, found_user = _dev_identity(branch, user)
    except InputsError as err:
        fail(err)
    outcome = run_lane("acceptance/pr")
    if outcome.status != "passed":
        raise Exit(f"lane acceptance/pr failed: {'; '.join(outcome.problems) or 'see above'}",
                   code=1)
    run_smoke(adapter="modal", env="dev", ref=ref, branch=found_branch, user=found_user)


TASKS = [deploy_modal, sync_modal_secrets, logs_modal, status_modal, drift_modal, destroy_modal,
         modal_dev_build_push_deploy, smoke_modal_dev, real_modal_dev, test_acceptance_dev]
