"""Hostile input at the CLI: each ends in one ERR_INPUTS envelope (or a clean exit), never a
crash, a hang, a raw traceback or a folder left behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.project import build_fixture_root, fixture_ref
from tests.helpers import ROOT, cli_env, run_cli


def _envelope(stdout: str) -> dict:
    lines = stdout.splitlines()
    assert len(lines) == 1, stdout[:500]
    return json.loads(lines[0])


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_fixture_root(tmp_path_factory.mktemp("hardening-root"))


@pytest.mark.parametrize("eid", ["trail\n", "x" * 10_000], ids=["trailing-newline", "10000-chars"])
def test_a_bad_execution_id_is_err_inputs_and_not_echoed_in_full(eid: str, tmp_path: Path) -> None:
    result = run_cli("run-processor", "--ref", "demo/echo@1", "--json", "--execution-id", eid,
                     "--artifacts-root", str(tmp_path / "art"))
    envelope = _envelope(result.stdout)
    assert result.rc == 2
    assert envelope["error"]["code"] == "ERR_INPUTS"
    assert eid not in result.stdout
    assert eid not in result.stderr
    assert len(result.stdout) < 2000
    assert not any((tmp_path / "art").rglob("trail*"))


def test_a_registry_nested_100000_deep_lists_nothing_and_does_not_crash(tmp_path: Path) -> None:
    (tmp_path / "registry").mkdir()
    (tmp_path / "registry" / "processors.yaml").write_bytes(
        b"schema_version: 1\nprocessors:\n  x: " + b"[" * 100_000 + b"]" * 100_000 + b"\n")
    env = cli_env(PROCESSOR_RUNTIME_ROOT=str(tmp_path))
    for args in (("list-processors", "--json"), ("run-processor", "--ref", "x/y@1", "--json")):
        result = run_cli(*args, env=env)
        assert result.rc == 2, result.stderr[-500:]
        assert _envelope(result.stdout)["error"]["code"] == "ERR_INPUTS"


def test_the_same_execution_id_run_twice_at_once_succeeds_once(root: Path, tmp_path: Path) -> None:
    env = cli_env(PROCESSOR_RUNTIME_ROOT=str(root))
    argv = [sys.executable, "-m", "invoke", "run-processor", "--ref", fixture_ref("slow_stdin"),
            "--json", "--execution-id", "ex-twice", "--artifacts-root", str(tmp_path / "art")]
    procs = [subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True) for _ in range(2)]
    envelopes = [_envelope(proc.communicate(timeout=120)[0]) for proc in procs]
    statuses = sorted(envelope["status"] for envelope in envelopes)
    assert statuses == ["error", "success"], envelopes
    refused = next(e for e in envelopes if e["status"] == "error")
    assert refused["error"]["code"] == "ERR_INPUTS"
    assert "already used" in refused["error"]["message"]


def test_a_missing_secret_leaves_no_empty_run_folder(root: Path, tmp_path: Path) -> None:
    env = cli_env(PROCESSOR_RUNTIME_ROOT=str(root), CI=None, ACME_API_KEY=None)
    result = run_cli("run-processor", "--ref", fixture_ref("env_leak"), "--mode", "real", "--json",
                     "--execution-id", "ex-nosecret", "--artifacts-root", str(tmp_path / "art"),
                     env=env)
    assert _envelope(result.stdout)["error"]["code"] == "ERR_MISSING_SECRET"
    assert not (tmp_path / "art" / "runs" / "ex-nosecret").exists()
    assert not (tmp_path / "art" / "execution" / "ex-nosecret").exists()


@pytest.mark.parametrize("target", ["closed-pipe", "/dev/full"])
def test_an_unwritable_stdout_ends_without_a_traceback(target: str, tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "invoke", "list-processors", "--json"]
    if target == "closed-pipe":
        with subprocess.Popen(argv, cwd=ROOT, env=cli_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) as proc:
            proc.stdout.close()  # type: ignore[union-attr]
            stderr = proc.stderr.read().decode()  # type: ignore[union-attr]
            rc = proc.wait(timeout=120)
    else:
        with open(target, "wb") as full:
            done = subprocess.run(argv, cwd=ROOT, env=cli_env(), stdout=full,
                                  stderr=subprocess.PIPE, timeout=120, check=False)
        stderr, rc = done.stderr.decode(), done.returncode
    assert rc == 1
    assert "Traceback" not in stderr
    events = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    assert any(event.get("event") == "cli.stdout.failed" for event in events)


@pytest.mark.parametrize("args", [("--json", "--bogus"), ("--json", "--execution-id")],
                         ids=["unknown-flag", "flag-without-value"])
def test_an_invoke_parse_error_with_json_is_one_err_inputs_envelope(args: tuple[str, ...]) -> None:
    result = run_cli("run-processor", *args)
    assert result.rc == 2
    assert _envelope(result.stdout)["error"]["code"] == "ERR_INPUTS"
    for line in result.stderr.splitlines():
        assert isinstance(json.loads(line), dict)
