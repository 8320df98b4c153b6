"""Batches: ``inv run-batch`` (the CLI of ``runtime.batch.run_batch``)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from invoke.context import Context
from invoke.exceptions import Exit

from runtime.errors import InputsError
from tasks.cli import run_cli, setup_logging, task
from tasks.run import RUN_HELP, parse_timeout

if TYPE_CHECKING:  # the batch pulls the runner (pydantic) in; `inv --list` must not
    from runtime.batch import BatchResult

#: The exit code of a batch that ran but not every item succeeded (canon codes are 2..30).
ITEMS_FAILED_EXIT = 1

BATCH_HELP = {
    **{key: RUN_HELP[key] for key in ("ref", "adapter", "mode", "env", "timeout_s",
                                      "image_override", "branch", "user", "modal_environment",
                                      "verbose")},
    "inputs_ndjson": "NDJSON file: one inputs object per line (every line is checked first)",
    "concurrency": "items run at once (default 2)",
    "batch_id": "the batch id (default: a fresh one); the same id resumes that batch",
    "fail_fast": "start no further item after the first failure",
    "artifacts_root": "root for batches/<batch_id>/ and execution/<id>/ (default: .artifacts)",
    "json": "print exactly one JSON batch envelope line on stdout (logs and progress on stderr)",
}


def _parse_concurrency(text: str) -> int:
    """Parsed here, not by Invoke, so a bad value gets an ERR_INPUTS envelope; the range is
    checked by ``run_batch``."""
    try:
        return int(text)
    except ValueError:
        raise InputsError(f"--concurrency must be an integer, got {text[:40]!r}") from None


def _summary(result: BatchResult) -> str:
    counts = result.counts
    lines = [f"batch {result.batch_id}: {'success' if result.ok else 'error'} — "
             f"{counts['success']}/{result.total} succeeded, {counts['error']} failed, "
             f"{counts['not_run']} not run ({result.reused} reused) in {result.elapsed_ms} ms"]
    lines += [f"  {code}: {count}" for code, count in sorted(result.errors.items())]
    lines.append(f"items: {result.items_path}")
    lines.append(f"receipt: {result.receipt_path or 'none (the batch did not finish)'}")
    return "\n".join(lines)


@task(help=BATCH_HELP)
def run_batch(
    c: Context,
    ref: str = "",
    inputs_ndjson: str = "",
    adapter: str = "local",
    mode: str = "mock",
    concurrency: str = "2",
    batch_id: str = "",
    json: bool = False,
    fail_fast: bool = False,
    env: str = "dev",
    timeout_s: str = "",
    artifacts_root: str = "",
    image_override: str = "",
    branch: str = "",
    user: str = "",
    modal_environment: str = "",
    verbose: bool = False,
) -> None:
    """Run a processor once per line of an NDJSON file and print one batch envelope."""
    setup_logging(json, verbose)
    outcome: dict[str, BatchResult] = {}

    def action() -> BatchResult:
        from runtime.batch import run_batch as run
        from runtime.batch.progress import NdjsonProgress, TerminalProgress

        if not ref:
            raise InputsError("--ref is required (e.g. --ref demo/echo@1)")
        if not inputs_ndjson:
            raise InputsError("--inputs-ndjson is required (one inputs object per line)")
        on_tty = not json and sys.stderr.isatty()
        result = run(
            ref, inputs_ndjson, mode=mode, adapter=adapter, env=env,
            concurrency=_parse_concurrency(concurrency), batch_id=batch_id or None,
            fail_fast=fail_fast, artifacts_root=artifacts_root or None,
            timeout_s=parse_timeout(timeout_s), image_override=image_override or None,
            adapter_options={key: value for key, value in (
                ("branch", branch), ("user", user), ("modal_environment", modal_environment))
                if value},
            on_progress=TerminalProgress(sys.stderr) if on_tty else NdjsonProgress(sys.stderr),
        )
        outcome["result"] = result
        return result

    def to_json(result: BatchResult) -> dict[str, Any]:
        return result.to_envelope()

    run_cli(action, json_mode=json, to_json=to_json, to_text=_summary)
    if not outcome["result"].ok:
        raise Exit(code=ITEMS_FAILED_EXIT)


TASKS = [run_batch]
