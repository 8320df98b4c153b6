"""The ``infra`` namespace: the local Docker Engine, OCI registry and base image (SPEC §15)."""

from __future__ import annotations

from typing import Any

from invoke.collection import Collection
from invoke.context import Context

from tasks.cli import run_cli, setup_logging, task

JSON_HELP = "print exactly one JSON result line on stdout (progress stays on stderr)"


def _status_text(st: dict[str, Any]) -> str:
    return "\n".join([
        f"engine:   {st.get('docker_host')} reachable={st.get('engine_reachable')} "
        f"started_by_us={st.get('engine_started_by_us')} pid={st.get('engine_pid')}",
        f"registry: {st.get('registry_url')} healthy={st.get('registry_healthy')} "
        f"started_by_us={st.get('registry_started_by_us')} pid={st.get('registry_pid')}",
    ])


@task(help={"registry_port": "port of the local registry on 127.0.0.1 (default 5000)",
            "timeout_s": "seconds to wait for both to become healthy", "json": JSON_HELP})
def up(c: Context, registry_port: int = 5000, timeout_s: float = 60.0, json: bool = False) -> None:
    """Reuse or start a Docker Engine and the local registry (idempotent)."""
    setup_logging(json)

    def action() -> dict[str, Any]:
        from runtime.devinfra.local import infra_up

        return infra_up(registry_port=registry_port, timeout_s=timeout_s)

    run_cli(action, json_mode=json, to_json=lambda st: {"status": "success", **st},
            to_text=_status_text)


@task(help={"json": JSON_HELP})
def down(c: Context, json: bool = False) -> None:
    """Stop only the engine and registry that infra.up started (data is kept)."""
    setup_logging(json)

    def action() -> dict[str, Any]:
        from runtime.devinfra.local import infra_down

        return infra_down()

    run_cli(action, json_mode=json, to_json=lambda r: {"status": "success", **r},
            to_text=lambda r: f"stopped: {', '.join(r['stopped']) or 'nothing'}")


@task(help={"json": JSON_HELP})
def status(c: Context, json: bool = False) -> None:
    """Show the recorded engine and registry and whether they answer."""
    setup_logging(json)

    def action() -> dict[str, Any]:
        from runtime.devinfra.local import infra_status

        return infra_status()

    run_cli(action, json_mode=json, to_json=lambda st: {"status": "success", **st},
            to_text=_status_text)


@task(name="base-image", help={"rebuild": "run mmdebstrap again even if a cached build exists",
                               "json": JSON_HELP})
def base_image(c: Context, rebuild: bool = False, json: bool = False) -> None:
    """Build (mmdebstrap) and push the Debian + python3 base; record it in .state/base-image.json."""
    setup_logging(json)

    def action() -> dict[str, Any]:
        from runtime.devinfra.local import record_base_image

        return record_base_image(rebuild=rebuild)

    run_cli(action, json_mode=json, to_json=lambda r: {"status": "success", **r},
            to_text=lambda r: f"base image {r['reference']} (image {r['image_id']})"
                              f"{' cached' if r['cached'] else ''}, recorded in {r['recorded_in']}")


ns = Collection("infra", up, down, status, base_image)
