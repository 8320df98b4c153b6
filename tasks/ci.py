"""CI helpers: ``inv changed-processors`` tells the release workflows what to build."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from invoke.context import Context

from tasks.cli import run_cli, setup_logging, task


@task(help={"base": "git ref to diff against (merge base of BASE and HEAD), e.g. origin/main",
            "deploys": "list the refs whose pin changed (deploy those pins; no build) instead "
                       "of the refs to build",
            "json": "print one JSON line: {base, all, refs, reasons, deploys}"})
def changed_processors(c: Context, base: str = "", deploys: bool = False,
                       json: bool = False) -> None:
    """List the processor refs a git diff touches (one per line), for the release workflows."""
    setup_logging(json)

    def action() -> Any:
        from runtime.errors import InputsError
        from runtime.images.changes import changed_processors as compute
        from runtime.paths import project_root

        if not base:
            raise InputsError("--base is required (e.g. --base origin/main)")
        return compute(project_root(), base)

    run_cli(action, json_mode=json, to_json=asdict,
            to_text=lambda r: "\n".join(r.deploys if deploys else r.refs))


TASKS = [changed_processors]
