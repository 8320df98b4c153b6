"""The fault-injection matrix: one case per misbehaving processor, and the invariants of SPEC §16.

Every case runs through the real CLI (``python -m invoke run-processor --json``) in a subprocess,
with canary secrets planted in the environment and a canary in the inputs, and is then held to
the same invariants whatever the adapter:

* one canonical envelope on stdout (the expected error code, or success where the behaviour is
  legal), every stderr line an NDJSON object, the canon's exit code;
* the CLI's peak RSS (``wait4``: itself and its waited-for children) under a bound;
* no process (local, modal-fake: nothing still runs the processor's entrypoint) or container
  (docker: the label sweep) left behind;
* nothing written outside the write prefix: a sentinel folder outside it is unchanged and the
  artifacts root holds only this execution's folders (plus what a fixture deliberately writes
  beside its prefix to build a bad ``index_path``);
* no half-written ``outputs.json`` / ``receipt.json`` / ``determinism.json`` / registry YAML
  (everything that exists parses) and no ``*.tmp`` left;
* the canary sweep: no planted secret value in any byte of stdout, stderr or any file written
  (artifacts, recorded evidence); the input canary only inside the processor's own ``outputs/``.

The case ids are ``<adapter>-<case>``; ``inv test-faults`` aggregates by that prefix.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.project import fixture_ref
from tests.helpers import ROOT, process_alive

# -- canaries ---------------------------------------------------------------------------------
DECLARED_CANARY = "canary-declared-acme-key-4f1e9b"  # ACME_API_KEY: declared, plain-looking
DB_PASSWORD_CANARY = "canary-undeclared-db-pw-8c2d7a"  # PLANTED_DB_PASSWORD: undeclared
TOKEN_CANARY = "sk-canaryTok" + "Q7x" * 8  # PLANTED_SERVICE_TOKEN: undeclared, token-shaped
AMBIENT_CANARY = "canary-ambient-plain-3b6f0e"  # PLANTED_NOTE: an innocuous-looking name
INPUT_CANARY = "sk-canaryInput" + "W3v" * 7  # token-shaped, passed in the inputs
# PLANTED_QUOTED_SECRET: quote, backslash and non-ASCII, so its JSON spellings differ from it
QUOTED_CANARY = 'Qz7rKq"w\\0rd\u00e9\u00df-Xv4pMn'
# Its letter runs survive any escaping (JSON in JSON, repr of JSON, ...): found alone, they
# show a leak whatever encoding carried it.
CANARY_PIECES = {QUOTED_CANARY: (b"Qz7rKq", b"Xv4pMn")}
CANARY_ENV = {
    "ACME_API_KEY": DECLARED_CANARY,
    "PLANTED_DB_PASSWORD": DB_PASSWORD_CANARY,
    "PLANTED_SERVICE_TOKEN": TOKEN_CANARY,
    "PLANTED_NOTE": AMBIENT_CANARY,
    "PLANTED_QUOTED_SECRET": QUOTED_CANARY,
}
ENV_CANARIES = tuple(CANARY_ENV.values())

ADAPTER_EXIT = {"ERR_ADAPTER_INVOCATION": 30, "ERR_INPUTS": 2}
CANCELLED_EXIT = 130
PEAK_RSS_LIMIT_KIB = 200 * 1024
CASE_TIMEOUT_S = 180.0
FLOOD_MB_LOCAL = 500
FLOOD_MB_REMOTE = 64  # docker / modal-fake: same code path, kept short for the lane's budget


@dataclass(frozen=True)
class FaultCase:
    """One scenario and what every adapter must make of it."""

    name: str
    ref: str
    expect: str | None  # the canon code, or None for success
    inputs: Callable[[str, Path], dict[str, Any]] = lambda adapter, sentinel: {}
    # artifacts-root-relative paths the processor itself writes beside its prefix (to forge an
    # index_path); they exist only where the processor can reach them (local).
    escapes: tuple[str, ...] = ()
    bundled: bool = False
    # the CLI flags that carry the inputs (default: ``--inputs-json`` of ``inputs``); a case
    # about bad input replaces them (given the workdir beside the sentinel)
    args: Callable[[str, Path], list[str]] | None = None
    # adapters the case applies to (empty: all); elsewhere it is skipped with this reason
    only: tuple[str, ...] = ()
    only_reason: str = ""


def _flood(adapter: str, _sentinel: Path) -> dict[str, Any]:
    return {"megabytes": FLOOD_MB_LOCAL if adapter == "local" else FLOOD_MB_REMOTE}


def _flood_lines(adapter: str, _sentinel: Path) -> dict[str, Any]:
    return {"megabytes": 200 if adapter == "local" else 32}


ERR = "ERR_ADAPTER_INVOCATION"
CASES: tuple[FaultCase, ...] = (
    FaultCase("hang", fixture_ref("hang"), ERR),
    FaultCase("hang_grandchild", fixture_ref("hang_grandchild"), ERR),
    FaultCase("crash_stderr", fixture_ref("crash_stderr"), ERR),
    FaultCase("crash_long_stderr", fixture_ref("crash_long_stderr"), ERR),
    FaultCase("stderr_flood", fixture_ref("stderr_flood"), ERR, _flood_lines),
    FaultCase("stderr_flood_nonl", fixture_ref("stderr_flood_nonl"), ERR, _flood),
    FaultCase("garbage_stdout", fixture_ref("garbage_stdout"), ERR),
    FaultCase("empty_stdout", fixture_ref("empty_stdout"), ERR),
    FaultCase("two_lines", fixture_ref("two_lines"), ERR),
    FaultCase("envelope_then_garbage", fixture_ref("envelope_then_garbage"), ERR),
    FaultCase("non_utf8", fixture_ref("non_utf8"), ERR),
    FaultCase("deep_json", fixture_ref("deep_json"), ERR),
    FaultCase("deep_meta", fixture_ref("deep_meta"), ERR),
    FaultCase("index_dotdot", fixture_ref("index_dotdot"), ERR, escapes=("runs/outputs.json",)),
    FaultCase("index_absolute", fixture_ref("index_absolute"), ERR, escapes=("outside",)),
    FaultCase("index_symlink", fixture_ref("index_symlink"), ERR, escapes=("outside",)),
    FaultCase("output_symlink", fixture_ref("output_symlink"), ERR,
              lambda adapter, sentinel: {"target": str(sentinel)}),
    FaultCase("many_outputs", fixture_ref("many_outputs"), None),
    FaultCase("sigkill_midway", fixture_ref("sigkill_midway"), ERR),
    FaultCase("handler_raises", fixture_ref("handler_raises"), ERR),
    FaultCase("reports_inputs_error", fixture_ref("reports_inputs_error"), "ERR_INPUTS"),
    FaultCase("env_leak", fixture_ref("env_leak"), None),
    FaultCase("env_dump", fixture_ref("env_dump"), None,
              lambda adapter, sentinel: {"leak": "PLANTED_DB_PASSWORD"}),
    FaultCase("slow_stdin", fixture_ref("slow_stdin"), None),
    FaultCase("close_stdout", fixture_ref("close_stdout"), ERR),
    FaultCase("bundled_echo", "demo/echo@1", None,
              lambda adapter, sentinel: {"message": INPUT_CANARY}, bundled=True),
    FaultCase("bundled_stats", "text/stats@1", None,
              lambda adapter, sentinel: {"text": f"words {INPUT_CANARY} words", "top_n": 2},
              bundled=True),
    FaultCase("bundled_summarize", "acme/summarize@1", None,
              lambda adapter, sentinel: {"text": f"One {INPUT_CANARY}. Two.", "max_words": 3},
              bundled=True),
)


def _leak(how: str) -> Callable[[str, Path], dict[str, Any]]:
    return lambda adapter, sentinel: {"secret": QUOTED_CANARY, "how": how}


def _deep_inputs(_adapter: str, _workdir: Path) -> list[str]:
    return ["--inputs-json", '{"a":' * 985 + "1" + "}" * 985]


def _inputs_file(path: str) -> Callable[[str, Path], list[str]]:
    return lambda adapter, workdir: ["--inputs-file", path]


def _fifo(_adapter: str, workdir: Path) -> list[str]:
    fifo = workdir / "inputs.fifo"
    os.mkfifo(fifo)
    return ["--inputs-file", str(fifo)]


def _not_utf8(_adapter: str, workdir: Path) -> list[str]:
    return ["--inputs-json", os.fsdecode(b'{"a": "\xff\xfe"}')]


def _prefix(path: str) -> Callable[[str, Path], list[str]]:
    return lambda adapter, workdir: ["--write-prefix", path]


def _prefix_in_code(_adapter: str, _workdir: Path) -> list[str]:
    from tests.fixtures.project import FIXTURE_PROCESSORS

    return ["--write-prefix", str(FIXTURE_PROCESSORS / "write_escape" / "w1")]


def _artifacts_a_file(_adapter: str, workdir: Path) -> list[str]:
    (workdir / "a-file").write_text("not a folder\n")
    return ["--artifacts-root", str(workdir / "a-file")]


INPUT_CASES: tuple[FaultCase, ...] = (
    FaultCase("inputs_deep", "demo/echo@1", "ERR_INPUTS", args=_deep_inputs, bundled=True),
    FaultCase("inputs_huge_int", "demo/echo@1", "ERR_INPUTS", bundled=True,
              args=lambda adapter, workdir: ["--inputs-json", '{"n": ' + "7" * 5000 + "}"]),
    FaultCase("inputs_not_utf8", "demo/echo@1", "ERR_INPUTS", args=_not_utf8, bundled=True),
    FaultCase("inputs_dev_zero", "demo/echo@1", "ERR_INPUTS", args=_inputs_file("/dev/zero"),
              bundled=True),
    FaultCase("inputs_fifo", "demo/echo@1", "ERR_INPUTS", args=_fifo, bundled=True),
    FaultCase("prefix_in_proc", "demo/echo@1", "ERR_INPUTS", args=_prefix("/proc/w1"),
              bundled=True),
    FaultCase("prefix_dev_null", "demo/echo@1", "ERR_INPUTS", args=_prefix("/dev/null/w1"),
              bundled=True),
    FaultCase("prefix_in_code", fixture_ref("write_escape"), "ERR_INPUTS", args=_prefix_in_code),
    FaultCase("artifacts_a_file", "demo/echo@1", "ERR_INPUTS", args=_artifacts_a_file,
              bundled=True),
)
CASES = (*CASES,
    FaultCase("secret_crash", fixture_ref("secret_leaks"), ERR, _leak("crash")),
    FaultCase("secret_error_cut", fixture_ref("secret_leaks"), "ERR_INPUTS", _leak("error")),
    FaultCase("secret_stream_cuts", fixture_ref("secret_leaks"), ERR, _leak("cuts")),
    FaultCase("escape_setsid_hang", fixture_ref("escape_setsid"), ERR,
              lambda adapter, sentinel: {"then": "hang"}),
    FaultCase("escape_setsid_exit", fixture_ref("escape_setsid"), None,
              lambda adapter, sentinel: {"then": "exit"}),
    FaultCase("write_dotdot", fixture_ref("write_escape"), ERR,
              lambda adapter, sentinel: {"where": "dotdot"}, escapes=("runs/ESCAPED.txt",),
              only=("local",), only_reason="containers mount only the prefix and execution "
              "folder: a write beside them never reaches the host"),
    FaultCase("write_execution_dir", fixture_ref("write_escape"), ERR,
              lambda adapter, sentinel: {"where": "execution"}, only=("local",),
              only_reason="the container's execution folder is judged by the receipt check"),
    *INPUT_CASES,
)
CASE_BY_NAME = {case.name: case for case in CASES}


def case_inputs(case: FaultCase, adapter: str, sentinel: Path) -> dict[str, Any]:
    """The case's inputs; fixtures (no input schema) also carry the input canary."""
    inputs = case.inputs(adapter, sentinel)
    if not case.bundled:
        inputs.setdefault("canary", INPUT_CANARY)
    return inputs


def case_args(case: FaultCase, adapter: str, sentinel: Path) -> list[str]:
    """The CLI flags carrying the case's inputs (a bad-input case supplies its own)."""
    if case.args is not None:
        return case.args(adapter, sentinel.parent)
    return ["--inputs-json", json.dumps(case_inputs(case, adapter, sentinel))]


# -- running ----------------------------------------------------------------------------------
@dataclass
class CaseRun:
    """One finished CLI run."""

    rc: int
    stdout: bytes
    stderr: bytes
    peak_kib: int
    argv: list[str] = field(default_factory=list)

    def envelope(self) -> dict[str, Any]:
        """The single stdout line as JSON (asserting purity)."""
        lines = self.stdout.decode("utf-8").splitlines()
        assert len(lines) == 1, f"stdout must be one line, got {len(lines)}: {self.stdout[:500]!r}"
        value = json.loads(lines[0])
        assert isinstance(value, dict)
        return value


def run_cli_measured(args: list[str], env: dict[str, str], workdir: Path,
                     timeout_s: float = CASE_TIMEOUT_S) -> CaseRun:
    """Run ``python -m invoke <args>``; returns streams and the peak RSS from ``wait4``.

    Streams go to files (a 500 MB flood must not be buffered by the test either).
    """
    argv = [sys.executable, "-m", "invoke", *args]
    out_path, err_path = workdir / "cli.stdout", workdir / "cli.stderr"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=err,
                                start_new_session=True)
        timer = threading.Timer(timeout_s, _kill_tree, args=(proc.pid,))
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
    # Keep only a bounded head of a flooded stderr in memory; scanning reads the file.
    return CaseRun(proc.returncode, out_path.read_bytes(), err_path.read_bytes()[:8 << 20],
                   usage.ru_maxrss, argv)


def _kill_tree(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


# -- invariants -------------------------------------------------------------------------------
def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path → bytes), links as their target text."""
    found: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in (*dirnames, *filenames):
            path = Path(dirpath) / name
            rel = path.relative_to(folder).as_posix()
            if path.is_symlink():
                found[rel] = b"link:" + os.readlink(path).encode()
            elif path.is_file():
                found[rel] = path.read_bytes()
            else:
                found[rel + "/"] = b""
    return found


def leftover_processes(marker: str, within_s: float = 5.0) -> list[int]:
    """Pids (not zombies) whose command line mentions ``marker``, after a grace period."""
    deadline = time.monotonic() + within_s
    while True:
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if marker.encode() in cmdline and process_alive(int(entry.name)):
                found.append(int(entry.name))
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def entrypoint_marker(root: Path, ref: str) -> str:
    """The entrypoint path a process running ``ref`` has on its command line."""
    from runtime.registry.load import Registry

    return str(Registry.load(root).resolve(ref).entrypoint)


def check_envelope(case: FaultCase, run: CaseRun) -> dict[str, Any]:
    """One canonical envelope, the canon's exit code, NDJSON-only stderr."""
    envelope = run.envelope()
    if case.expect is None:
        assert run.rc == 0, f"expected success, rc {run.rc}: {envelope.get('error')}"
        assert envelope["status"] == "success"
        assert envelope["index_path"].endswith("/outputs.json")
    else:
        assert envelope["status"] == "error", envelope
        assert envelope["error"]["code"] == case.expect, envelope["error"]
        assert run.rc == ADAPTER_EXIT[case.expect] != 0
        assert set(envelope["error"]) == {"code", "message", "retryable"}
    for line in run.stderr.decode("utf-8", "replace").splitlines():
        if line.strip():
            assert isinstance(json.loads(line), dict), f"stderr line is not NDJSON: {line[:200]}"
    return envelope


def check_success_files(envelope: dict[str, Any]) -> None:
    """A success's index lists exactly the files it claims, with their hashes."""
    import hashlib

    prefix = Path(envelope["index_path"]).parent
    index = json.loads(Path(envelope["index_path"]).read_text("utf-8"))
    assert index == envelope["outputs"]
    for item in index:
        data = (prefix / item["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == item["sha256"]


def check_confined(artifacts: Path, execution_id: str, escapes: tuple[str, ...]) -> None:
    """The artifacts root holds only this execution's folders (and a fixture's own escapes)."""
    allowed = (f"runs/{execution_id}", f"execution/{execution_id}", *escapes)
    for dirpath, _dirnames, filenames in os.walk(artifacts):
        for name in filenames:
            rel = (Path(dirpath) / name).relative_to(artifacts).as_posix()
            assert any(rel == a or rel.startswith(a + "/") for a in allowed), \
                f"file written outside the write prefix: {rel}"


def check_no_partial_files(*folders: Path) -> None:
    """Every JSON/YAML file parses; no temp file of an interrupted atomic write is left."""
    for folder in folders:
        for dirpath, _dirnames, filenames in os.walk(folder):
            for name in filenames:
                path = Path(dirpath) / name
                assert not name.endswith(".tmp"), f"half-written temp file left: {path}"
                if path.is_symlink():
                    continue
                if name.endswith(".json"):
                    json.loads(path.read_bytes())
                elif name.endswith((".yaml", ".yml")):
                    yaml.safe_load(path.read_bytes())


def encodings(canary: str) -> tuple[bytes, ...]:
    """Every spelling a leaked value can take in a byte stream: raw UTF-8, JSON-escaped with and
    without ``ensure_ascii``, and a Python ``repr``."""
    texts = {canary, json.dumps(canary)[1:-1], json.dumps(canary, ensure_ascii=False)[1:-1],
             repr(canary)[1:-1]}
    return tuple(sorted(text.encode("utf-8") for text in texts))


def canary_hits(data: bytes, canaries: tuple[str, ...]) -> list[str]:
    """The canaries present in ``data``, in any of their :func:`encodings`."""
    return [canary for canary in canaries
            if any(form in data for form in (*encodings(canary), *CANARY_PIECES.get(canary, ())))]


def scan_tree(folder: Path, *, inputs_allowed_under: tuple[Path, ...] = ()) -> list[str]:
    """``path: canary`` for every planted value found in a file under ``folder``.

    The input canary may appear only in the processor's own outputs (``inputs_allowed_under``).
    """
    hits = []
    for dirpath, _dirnames, filenames in os.walk(folder):
        for name in filenames:
            path = Path(dirpath) / name
            if path.is_symlink() or not path.is_file():
                continue
            data = path.read_bytes()
            allowed = any(base in path.parents for base in inputs_allowed_under)
            canaries = ENV_CANARIES if allowed else (*ENV_CANARIES, INPUT_CANARY)
            hits += [f"{path.relative_to(folder)}: {c}" for c in canary_hits(data, canaries)]
    return hits


def scan_file_stream(path: Path) -> list[str]:
    """Canaries in a (possibly huge) stream file, read in overlapping chunks."""
    canaries = (*ENV_CANARIES, INPUT_CANARY)
    overlap = max(len(form) for c in canaries for form in encodings(c))
    found: set[str] = set()
    tail = b""
    with path.open("rb") as handle:
        while chunk := handle.read(4 << 20):
            window = tail + chunk
            found.update(canary_hits(window, canaries))
            tail = window[-overlap:]
    return sorted(found)


def exercise(case: FaultCase, adapter: str, *, root: Path, env: dict[str, str], workdir: Path,
             extra_args: tuple[str, ...] = (),
             leftovers: Callable[[str], list[Any]] | None = None) -> dict[str, Any]:
    """Run ``case`` through ``adapter`` and assert every invariant; returns the envelope.

    A case that does not apply to ``adapter`` (``only``) is skipped, with its reason.
    """
    if case.only and adapter not in case.only:
        pytest.skip(f"{case.name} applies to {', '.join(case.only)} only: {case.only_reason}")
    artifacts, evidence, sentinel = workdir / "art", workdir / "evidence", workdir / "sentinel"
    sentinel.mkdir(parents=True)
    (sentinel / "keep.txt").write_text("the sentinel outside every write prefix\n")
    before = snapshot(sentinel)
    registry_yaml = root / "registry" / "processors.yaml"
    registry_before = registry_yaml.read_bytes()
    run_env = {**env, **CANARY_ENV, "PROCESSOR_EVIDENCE": str(evidence)}
    flags = case_args(case, adapter, sentinel)
    if "--artifacts-root" not in flags:
        flags += ["--artifacts-root", str(artifacts)]
    run = run_cli_measured(["run-processor", "--ref", case.ref, "--adapter", adapter, "--json",
                            *flags, *extra_args], run_env, workdir)
    envelope = check_envelope(case, run)
    assert envelope["meta"]["adapter"] == adapter
    assert run.peak_kib < PEAK_RSS_LIMIT_KIB, f"peak RSS {run.peak_kib} KiB"
    if leftovers is None:
        marker = entrypoint_marker(root, case.ref)
        assert leftover_processes(marker) == [], f"processes left running {marker}"
    else:
        assert leftovers(case.ref) == [], "containers left behind"
    assert snapshot(sentinel) == before, "the sentinel outside the prefix changed"
    execution_id = envelope["execution_id"]
    check_confined(artifacts, execution_id, case.escapes if adapter == "local" else ())
    check_no_partial_files(artifacts, evidence, root / "registry")
    assert registry_yaml.read_bytes() == registry_before, "the registry YAML changed"
    if case.expect is None:
        check_success_files(envelope)
    outputs_dir = artifacts / "runs" / execution_id / "outputs"
    hits = scan_tree(artifacts, inputs_allowed_under=(outputs_dir,)) + scan_tree(evidence)
    hits += [f"stdout: {c}" for c in canary_hits(run.stdout, (*ENV_CANARIES, INPUT_CANARY))]
    hits += [f"stderr: {c}" for c in scan_file_stream(workdir / "cli.stderr")]
    assert hits == [], f"canaries leaked: {hits}"
    return envelope


@contextlib.contextmanager
def cases_on_fake_modal(state_dir: Path, root: Path, *, worker: str = "host",
                        image_override: str | None = None) -> Iterator[dict[str, str]]:
    """Every case's ref deployed (dev) from ``root`` to a fake Modal server; yields the SDK
    settings that point a CLI at it. The declared secret holds the canary, as a real workspace
    would hold it: the container gets it, the processor (mock) must not."""
    from runtime.modal.ops import deploy_modal
    from runtime.modal.target import ModalTarget
    from runtime.testing.fake_server import FakeModalServer

    with FakeModalServer(state_dir, source_root=root, worker=worker) as server:
        server.state.create_secret("ACME_API_KEY", {"ACME_API_KEY": CANARY_ENV["ACME_API_KEY"]},
                                   environment_name="dev")
        with pytest.MonkeyPatch.context() as patch:
            for key, value in server.environ().items():
                patch.setenv(key, value)
            for ref in sorted({case.ref for case in CASES}):
                deploy_modal(ModalTarget(ref, "dev"), image_override=image_override, root=root)
        yield server.environ()
