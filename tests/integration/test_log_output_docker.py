"""In --json mode, a warning a library logs through the standard `logging` module during a
*docker* run reaches stderr as one NDJSON line (the local variant lives in
tests/contracts/test_log_output.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from tests.helpers import ROOT, cli_env

pytestmark = pytest.mark.requires_docker

# Test-only: the docker adapter logs a warning through `logging` (as urllib3 does on a retried
# connection to the engine) just before it runs the container. Production code is untouched.
_WARN_DURING_DOCKER_RUN = """
import logging, sys
import runtime.adapters.docker as docker_adapter
_run = docker_adapter.DockerAdapter.run
def run(self, request):
    logging.getLogger("urllib3.connectionpool").warning("Retrying (%s) after %s", "Retry(total=2)",
                                                        "connection broken")
    return _run(self, request)
docker_adapter.DockerAdapter.run = run
from invoke.main import program
sys.argv = ["invoke", *sys.argv[1:]]
program.run()
"""


def test_a_standard_logging_warning_during_a_docker_json_run_is_one_ndjson_line(
        released_project: dict[str, Any], tmp_path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _WARN_DURING_DOCKER_RUN, "run-processor", "--ref", "demo/echo@1",
         "--adapter", "docker", "--json", "--artifacts-root", str(tmp_path)],
        cwd=str(ROOT), env=cli_env(PROCESSOR_RUNTIME_ROOT=str(released_project["root"])),
        capture_output=True, timeout=300, check=False)
    stdout, stderr = proc.stdout.decode(), proc.stderr.decode()
    assert proc.returncode == 0, stderr
    assert len(stdout.splitlines()) == 1
    envelope = json.loads(stdout)
    assert envelope["status"] == "success"
    assert envelope["meta"]["adapter"] == "docker"
    records = [json.loads(line) for line in stderr.splitlines()]  # a non-JSON line fails here
    retry = [r for r in records if r.get("event") == "library.log"
             and r.get("logger") == "urllib3.connectionpool"]
    assert len(retry) == 1
    assert retry[0]["level"] == "warning"
    assert retry[0]["message"] == "Retrying (Retry(total=2)) after connection broken"
