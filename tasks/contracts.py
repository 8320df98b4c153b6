"""Processor contracts: describe a version, replay golden fixtures, gate compatibility, scaffold."""

from __future__ import annotations

import json as _json
from pathlib import Path
from typing import Any

from invoke.context import Context
from invoke.exceptions import Exit

from runtime.errors import InputsError
from tasks.cli import run_cli, setup_logging, task


def _root() -> Path:
    from runtime.paths import project_root

    return project_root()


def _describe_text(info: dict[str, Any]) -> str:
    pin = info["pin"]
    lines = [
        f"{info['ref']}  ({info['path']}/{info['entrypoint']})",
        f"  {info['description']}",
        f"  modes: {', '.join(info['modes'])}",
        f"  secrets (names): {', '.join(info['secrets']) or '-'}",
        f"  timeout: {info['timeout_s']}s  memory: {info['memory_mb']} MB  gpu: {info['gpu'] or '-'}",
        f"  pin: {pin['repository'] or '-'}@{pin['digest'] or 'unpinned'}",
        f"  fixtures: {', '.join(info['fixtures']) or '-'}",
    ]
    for side in ("input", "output"):
        schema = info[f"{side}_schema"]
        lines.append(f"  {side} schema ({info[f'{side}_schema_file'] or 'not declared'}):")
        if schema is not None:
            lines += ["    " + line for line in _json.dumps(schema, indent=2).splitlines()]
    return "\n".join(lines)


@task(help={"ref": "processor ref, ns/name@version (e.g. text/stats@1)",
            "json": "print exactly one JSON line on stdout"})
def describe_processor(c: Context, ref: str = "", json: bool = False) -> None:
    """Show a processor version: entry, modes, secret names, timeouts, pin and both schemas."""
    setup_logging(json)

    def action() -> dict[str, Any]:
        from runtime.contract.schemas import describe_processor as describe

        if not ref:
            raise InputsError("--ref is required (e.g. --ref text/stats@1)")
        return describe(ref, _root())

    run_cli(action, json_mode=json, to_json=lambda info: info, to_text=_describe_text)


@task(help={"adapter": "adapter to replay through: local (default) or docker",
            "update": "re-record the expected hashes of mismatching or placeholder fixtures",
            "processor": "only this processor (ns/name)",
            "json": "print exactly one JSON line on stdout"})
def test_golden(c: Context, adapter: str = "local", update: bool = False, processor: str = "",
                json: bool = False) -> None:
    """Replay every golden fixture in mock mode and report output-hash mismatches by file."""
    setup_logging(json)
    outcome: dict[str, bool] = {}

    def action() -> Any:
        from runtime.authoring.golden import run_golden

        report = run_golden(_root(), adapter=adapter, update=update, processor=processor or None)
        outcome["ok"] = report.ok
        return report

    run_cli(action, json_mode=json, to_json=lambda r: r.to_dict(), to_text=lambda r: r.to_text())
    if not outcome.get("ok", False):
        raise Exit(code=1)


@task(help={"base": "git ref to compare against (default: $CONTRACTS_BASE, else the merge-base "
                    "with main, else HEAD~1)",
            "json": "print exactly one JSON line on stdout"})
def check_contracts(c: Context, base: str = "", json: bool = False) -> None:
    """Fail when a processor's schemas changed incompatibly without a version bump."""
    setup_logging(json)
    outcome: dict[str, bool] = {}

    def action() -> Any:
        from runtime.contract.compat import check_contracts as check

        report = check(base, _root())
        outcome["ok"] = report.ok
        return report

    run_cli(action, json_mode=json, to_json=lambda r: r.to_dict(), to_text=lambda r: r.to_text())
    if not outcome.get("ok", False):
        raise Exit(code=1)


@task(positional=["name"], iterable=["secret"],
      help={"name": "the new processor, ns/name (lowercase letters, digits, '-', '_'); "
                    "given positionally: inv new-processor acme/translate",
            "with_provider": "also write provider.py (the vendor call, imported lazily in real)",
            "secret": "a secret name the processor needs in real mode (repeatable)",
            "json": "print exactly one JSON line on stdout"})
def new_processor(c: Context, name: str | None = None, with_provider: bool = False,
                  secret: list[str] | None = None, json: bool = False) -> None:
    """Scaffold a processor (main.py, schemas, fixture, registry entry, test) that passes the suite.

    Usage: inv new-processor ns/name [--with-provider] [--secret NAME ...]
    """
    setup_logging(json)

    def action() -> Any:
        from runtime.authoring.scaffold import new_processor as scaffold

        if not name:
            raise InputsError("give the new processor's name, e.g. `inv new-processor acme/translate`")
        return scaffold(name, _root(), with_provider=with_provider, secrets=secret or [])

    def text(result: Any) -> str:
        lines = [f"created {result.ref}:"] + [f"  {path}" for path in result.files]
        if result.golden is not None:
            lines.append(result.golden.to_text())
        lines.append(f"next: edit main.py and the schemas, then `inv run-processor --ref "
                     f"{result.ref} --inputs-json '{{\"text\": \"hi\"}}'` and "
                     "`inv test-golden --update`")
        return "\n".join(lines)

    run_cli(action, json_mode=json, to_json=lambda r: r.to_dict(), to_text=text)


TASKS = [describe_processor, test_golden, check_contracts, new_processor]
