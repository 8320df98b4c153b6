"""Benchmarks: ``inv bench`` measures every execution path against its floor (see bench/)."""

from __future__ import annotations

from typing import Any

from invoke.context import Context
from invoke.exceptions import Exit

from runtime.errors import InputsError
from tasks.cli import note, run_cli, setup_logging, task

STRICT_MISS_EXIT = 1  # `inv bench --strict` when a target was missed


@task(help={"quick": "fewer repetitions and smaller sizes (finishes in under a minute)",
            "only": "comma-separated scenarios to run (cold-cli, warm-api, stderr-flood, fan-out, "
                    "docker, rebuild, evidence, batch, batch-rss, batch-modal, modal); default "
                    "all",
            "json": "print the report as one JSON line instead of the table",
            "strict": "exit 1 when any scenario misses its target (after printing the report)",
            "account": "instead of the scenarios: measure where the cold CLI's time goes and "
                       "rewrite that table in bench/README.md"})
def bench(c: Context, quick: bool = False, only: str = "", json: bool = False,
          strict: bool = False, account: bool = False) -> None:
    """Run the benchmarks; print one table and write the figures to evidence/bench/."""
    if account:
        from bench.account import write_account

        print(write_account(3 if quick else 7))
        return
    setup_logging(json)
    outcome: dict[str, Any] = {}

    def action() -> dict[str, Any]:
        from bench.harness import run_bench

        try:
            report = run_bench(quick=quick, only=[n.strip() for n in only.split(",") if n.strip()])
        except ValueError as exc:
            raise InputsError(str(exc)) from exc
        outcome["misses"] = report["misses"]
        return report

    def text(report: dict[str, Any]) -> str:
        from bench.harness import summary

        return summary(report)

    run_cli(action, json_mode=json, to_json=lambda r: {k: v for k, v in r.items() if k != "table"},
            to_text=text)
    if strict and outcome.get("misses"):
        note(f"bench --strict: {outcome['misses']} target(s) missed", json)
        raise Exit(code=STRICT_MISS_EXIT)


TASKS = [bench]
