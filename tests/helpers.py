"""Shared test helpers: run the real CLI through ``sys.executable`` and read its streams."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class CliResult:
    """A finished CLI run: rc, raw stdout text, and stderr split into NDJSON records."""

    rc: int
    stdout: str
    stderr: str

    @property
    def envelope(self) -> dict[str, Any]:
        lines = self.stdout.splitlines()
        assert len(lines) == 1, f"stdout must be exactly one line, got {len(lines)}: {self.stdout!r}"
        value = json.loads(lines[0])
        assert isinstance(value, dict)
        return value

    @property
    def events(self) -> list[dict[str, Any]]:
        records = []
        for line in self.stderr.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and "event" in record:
                records.append(record)
        return records


def cli_env(**overrides: str | None) -> dict[str, str]:
    """A minimal environment for CLI subprocesses (CI and secrets only when asked)."""
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "TMPDIR") if key in os.environ}
    env["TEST_LANE"] = os.environ.get("TEST_LANE", "tests")
    env["PYTHONPATH"] = str(ROOT)
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 120) -> CliResult:
    """Run ``python -m invoke <args>`` in the project root; never raises on a non-zero rc."""
    proc = subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=str(cwd or ROOT),
        env=env if env is not None else cli_env(),
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    return CliResult(proc.returncode, proc.stdout.decode("utf-8", "replace"),
                     proc.stderr.decode("utf-8", "replace"))


# Linux carries a process's peak RSS (ru_maxrss) across fork and exec: a child started straight
# from a large pytest process reports pytest's peak as its own. This launcher (small) starts the
# measured command, so its count starts fresh, and writes what wait4 saw to argv[1].
_PEAK_LAUNCHER = ("import os, subprocess, sys\n"
                  "proc = subprocess.Popen(sys.argv[2:])\n"
                  "_, status, usage = os.wait4(proc.pid, 0)\n"
                  "open(sys.argv[1], 'w').write(str(usage.ru_maxrss))\n"
                  "sys.exit(os.waitstatus_to_exitcode(status))\n")


def peak_rss_argv(peak_file: Path, argv: list[str]) -> list[str]:
    """``argv`` behind a small launcher, so the command's peak RSS (its own ``ru_maxrss``, and the
    KiB the launcher writes to ``peak_file`` from wait4) is the command's, not the test
    process's. Streams, cwd, env and the exit code pass through."""
    return [sys.executable, "-c", _PEAK_LAUNCHER, str(peak_file), *argv]


def process_alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (killed, waiting for a reaper) counts as gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in {"Z", "X"}


def gone_soon(pid: int, within_s: float = 5.0) -> bool:
    """True once ``pid`` has exited; SIGKILL is delivered asynchronously, so allow a moment."""
    deadline = time.monotonic() + within_s
    while process_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def clone_checkout(dest: Path, source: Path = ROOT) -> Path:
    """A local ``git clone`` of ``source`` at ``dest``: its committed state, no network, no install."""
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(source), str(dest)],
                   check=True, capture_output=True, timeout=120)
    return dest


# The processors this repository ships; tests know them by name. Anything else a person adds to
# the working tree (the README tutorial's acme/translate) must not change a test's outcome.
BUNDLED_REFS = ("demo/echo@1", "text/stats@1", "acme/summarize@1")


def copy_project(dest: Path, source: Path = ROOT, *,
                 keep: tuple[str, ...] | None = BUNDLED_REFS) -> Path:
    """A private copy of a project's ``registry/`` and ``processors/`` (caches left out).

    With ``keep`` (default: the bundled refs) only those processors' registry entries and
    folders are copied, comments and order kept, so the copy is the same whatever else the
    working tree holds; ``keep=None`` copies everything.
    """
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(source / "registry", dest / "registry", ignore=ignore)
    if keep is None:
        shutil.copytree(source / "processors", dest / "processors", ignore=ignore)
        return dest
    from runtime.registry.edit import render_edit

    names = {ref.partition("@")[0] for ref in keep}
    registry_yaml = dest / "registry" / "processors.yaml"
    folders: list[str] = []

    def only_kept(document: Any) -> None:
        for name in list(document["processors"]):
            if name in names:
                folders.append(str(document["processors"][name]["path"]))
            else:
                del document["processors"][name]

    registry_yaml.write_text(render_edit(registry_yaml.read_text("utf-8"), only_kept), "utf-8")
    for folder in folders:
        # the package markers above each kept folder (processors/, processors/<ns>/)
        for parent in Path(folder).parents:
            marker = source / parent / "__init__.py"
            if parent.parts and marker.is_file():
                (dest / parent).mkdir(parents=True, exist_ok=True)
                shutil.copy2(marker, dest / parent / "__init__.py")
    for folder in folders:
        shutil.copytree(source / folder, dest / folder, ignore=ignore)
    return dest


def run_cli_on_terminal(*args: str, env: dict[str, str] | None = None,
                        timeout: float = 120) -> CliResult:
    """Like :func:`run_cli`, but stderr is a pseudo-terminal, as when a person runs the task.

    The terminal's line discipline turns ``\\n`` into ``\\r\\n``; the returned stderr has it back.
    """
    import pty
    import select

    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "invoke", *args], cwd=str(ROOT),
                            env=env if env is not None else cli_env(), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=follower)
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.1)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: every writer of the terminal has gone
                break
            if not chunk:
                break
            chunks.append(chunk)
        stdout = proc.stdout.read() if proc.stdout else b""
        rc = proc.wait(timeout=max(deadline - time.monotonic(), 1))
    finally:
        os.close(leader)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()
    stderr = b"".join(chunks).replace(b"\r\n", b"\n")
    return CliResult(rc, stdout.decode("utf-8", "replace"), stderr.decode("utf-8", "replace"))


def journaled(journal: Path) -> list[str]:
    """Execution ids of the items a batch's ``results.ndjson`` holds a result for (the latest,
    complete line of each index), sorted."""
    try:
        data = journal.read_bytes()
    except FileNotFoundError:
        return []
    latest: dict[bytes, bytes] = {}
    for raw in data.split(b"\n")[:-1]:
        index, _, payload = raw.partition(b"\t")
        latest[index] = payload
    return sorted(json.loads(payload)["execution_id"] for payload in latest.values() if payload)


def sigkill_batch_midway(argv: list[str], env: dict[str, str], results: Path,
                         after: int = 3) -> None:
    """Start a batch CLI, SIGKILL it once its journal ``results`` holds ``after`` item results;
    fails when it finished (or never got that far) first."""
    import signal

    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while len(journaled(results)) < after and proc.poll() is None:
            assert time.monotonic() < deadline, f"the batch never finished {after} items"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL, "the batch finished before it could be killed"
