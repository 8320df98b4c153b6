"""Run processors: ``inv run-processor`` (the CLI of ``runtime.run_processor``) and friends."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from invoke.context import Context

from runtime.errors import InputsError, ProcessorRuntimeError
from tasks.cli import note, run_cli, setup_logging, task

if TYPE_CHECKING:
    from runtime.contract.shapes import WireEnvelope as Envelope

RUN_HELP = {
    "ref": "processor ref, ns/name@version (e.g. demo/echo@1)",
    "adapter": "where to run: local (default), docker or modal",
    "mode": "mock (default) or real; never inferred from the environment",
    "inputs_json": "inputs as a JSON object string (mutually exclusive with --inputs-file)",
    "inputs_file": "path to a JSON file holding the inputs object",
    "write_prefix": "folder for outputs/, outputs.json and receipt.json "
                    "(default: a fresh .artifacts/runs/<execution_id>)",
    "artifacts_root": "root for execution/<id>/determinism.json (default: .artifacts)",
    "env": "dev (default), staging or main; staging/main run pinned images only",
    "timeout_s": "wall-clock limit in seconds (default: the registry's timeout_s)",
    "execution_id": "use this execution id instead of a fresh one",
    "image_override": "run this image digest instead of the pin (env=dev only)",
    "json": "print exactly one JSON envelope line on stdout (logs stay on stderr)",
    "verbose": "show info-level NDJSON logs on stderr in human mode",
    "branch": "modal adapter, env=dev: the branch in the app name (same as deploy-modal)",
    "user": "modal adapter, env=dev: the user in the app name (same as deploy-modal)",
    "modal_environment": "modal adapter: the Modal environment to look in (default: --env)",
    "evidence": "record envelope.json + events.ndjson under evidence/runs/<execution_id>/ "
                "(also on when PROCESSOR_EVIDENCE is set, as in the CI lanes)",
    "evidence_dir": "record evidence under DIR/<execution_id>/ instead (implies --evidence)",
}


def _summary(envelope: Envelope) -> str:
    meta = envelope.meta
    prefix = Path(envelope.index_path).parent
    lines = [
        f"{envelope.status}: {meta.get('processor_ref')} ({meta.get('adapter')}, "
        f"{meta.get('mode')}) in {meta.get('elapsed_ms')} ms",
        f"execution: {envelope.execution_id}",
        f"write prefix: {prefix}",
        f"outputs ({len(envelope.outputs)}):",
    ]
    lines += [f"  {item.path}  {item.size} B  sha256:{item.sha256[:12]}…"
              for item in envelope.outputs[:20]]
    if len(envelope.outputs) > 20:
        lines.append(f"  … and {len(envelope.outputs) - 20} more (see {envelope.index_path})")
    lines.append(f"receipt: {prefix / 'receipt.json'}")
    return "\n".join(lines)


def parse_timeout(text: str) -> float | None:
    """``--timeout-s`` is parsed here, not by Invoke, so a bad value gets an ERR_INPUTS envelope;
    its range is checked once, by ``run_processor``."""
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise InputsError(f"--timeout-s must be a number of seconds, got {text[:40]!r}") from None


@task(help=RUN_HELP)
def run_processor(
    c: Context,
    ref: str = "",
    adapter: str = "local",
    mode: str = "mock",
    inputs_json: str = "",
    inputs_file: str = "",
    write_prefix: str = "",
    artifacts_root: str = "",
    env: str = "dev",
    timeout_s: str = "",
    execution_id: str = "",
    image_override: str = "",
    json: bool = False,
    verbose: bool = False,
    branch: str = "",
    user: str = "",
    modal_environment: str = "",
    evidence: bool = False,
    evidence_dir: str = "",
) -> None:
    """Run one processor through runtime.run_processor and print its envelope."""
    setup_logging(json, verbose)

    def action() -> Envelope:
        from runtime.errors import ProcessorRuntimeError
        from runtime.evidence.record import ENVELOPE_NAME, evidence_from_env, run_folder
        from runtime.paths import project_root

        from_env = evidence_from_env()
        recording: str | bool | None = evidence_dir or from_env or (evidence or from_env == "")
        eid = execution_id
        try:
            envelope = run(recording)
            eid = envelope.execution_id
        except ProcessorRuntimeError as err:
            eid = err.execution_id or eid
            raise
        finally:
            if recording and eid:
                with contextlib.suppress(ProcessorRuntimeError):
                    folder = run_folder(recording if isinstance(recording, str) else None, eid,
                                        project_root())
                    if (folder / ENVELOPE_NAME).is_file():
                        note(f"evidence: {folder}", json)  # --json: the evidence.recorded event
        return envelope

    def run(recording: str | bool | None) -> Envelope:
        try:
            return run_checked(recording)
        except ProcessorRuntimeError as err:
            # Refused before the runner saw it (flags, inputs): the envelope still says what
            # was asked for, as the runner's own errors do.
            for key, value in (("adapter", adapter), ("mode", mode), ("env", env),
                               ("processor_ref", ref[:80])):
                err.meta.setdefault(key, value)
            raise

    def run_checked(recording: str | bool | None) -> Envelope:
        # The wire form of the envelope: printing it needs no pydantic.
        from runtime.runner import load_inputs_file, parse_inputs_json, run_processor_wire

        if not ref:
            raise InputsError("--ref is required (e.g. --ref demo/echo@1)")
        if inputs_json and inputs_file:
            raise InputsError("pass either --inputs-json or --inputs-file, not both")
        inputs: dict[str, Any] = {}
        if inputs_json:
            inputs = parse_inputs_json(inputs_json)
        elif inputs_file:
            inputs = load_inputs_file(inputs_file)
        limit = parse_timeout(timeout_s)
        return run_processor_wire(
            ref,
            inputs=inputs,
            mode=mode,
            adapter=adapter,
            env=env,
            write_prefix=write_prefix or None,
            artifacts_root=artifacts_root or None,
            timeout_s=limit,
            execution_id=execution_id or None,
            image_override=image_override or None,
            adapter_options={key: value for key, value in (
                ("branch", branch), ("user", user), ("modal_environment", modal_environment))
                if value},
            evidence=recording or None,
        )

    run_cli(
        action,
        json_mode=json,
        to_json=lambda env_: env_.model_dump(exclude_none=True),
        to_text=_summary,
    )


@task(help={"json": "print one JSON line instead of a table"})
def list_processors(c: Context, json: bool = False) -> None:
    """List every registered processor ref with its timeout, secrets and pin."""
    setup_logging(json)

    def action() -> list[dict[str, Any]]:
        from runtime.paths import project_root
        from runtime.registry.load import Registry

        registry = Registry.load(project_root())
        rows = []
        for ref in registry.refs():
            version = registry.resolve(ref).version
            rows.append({"ref": str(ref), "timeout_s": version.timeout_s,
                         "secrets": version.secrets, "digest": version.image.digest})
        return rows

    def text(rows: list[dict[str, Any]]) -> str:
        return "\n".join(
            f"{r['ref']:<24} timeout {r['timeout_s']:>6}s  secrets {','.join(r['secrets']) or '-':<14}"
            f" pin {r['digest'] or 'unpinned'}" for r in rows)

    run_cli(action, json_mode=json, to_json=lambda rows: {"processors": rows}, to_text=text)


@task(help={"out": "folder to write the *.schema.json files into (default: runtime/schemas)"})
def export_schemas(c: Context, out: str = "") -> None:
    """Write the JSON Schemas of payload, envelope, receipt and registry."""
    import json as _json

    from runtime.contract.wire import json_schemas

    target = Path(out) if out else Path(__file__).resolve().parents[1] / "runtime/contract/exported"
    target.mkdir(parents=True, exist_ok=True)
    for name, schema in json_schemas().items():
        (target / name).write_text(_json.dumps(schema, indent=2, sort_keys=True) + "\n")
        print(target / name)


TASKS = [run_processor, list_processors, export_schemas]
