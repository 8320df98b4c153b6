"""Benchmarks: ``inv bench`` measures every execution path against its floor (see bench/)."""

from __future__ import annotations

from typing import Any

from invoke.context import Context

from runtime.errors import InputsError
from tasks.cli import run_cli, setup_logging, task


@task(help={"quick": "fewer repetitions and smaller sizes (finishes in under a minute)",
            "only": "comma-separated scenarios to run (cold-cli, warm-api, stderr-flood, fan-out, "
                    "docker, rebuild, evidence, batch); default all",
            "json": "print the report as one JSON line instead of the table"})
def bench(c: Context, quick: bool = False, only: str = "", json: bool = False) -> None:
    """Run the benchmarks; print one table and write the figures to evidence/bench/."""
    setup_logging(json)

    def action() -> dict[str, Any]:
        from bench.harness import run_bench

        try:
            return run_bench(quick=quick, only=[n.strip() for n in only.split(",") if n.strip()])
        except ValueError as exc:
            raise InputsError(str(exc)) from exc

    def text(report: dict[str, Any]) -> str:
        from bench.harness import summary

        return summary(report)

    run_cli(action, json_mode=json, to_json=lambda r: {k: v for k, v in r.items() if k != "table"},
            to_text=text)


TASKS = [bench]
