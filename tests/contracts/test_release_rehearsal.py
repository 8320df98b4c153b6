"""The deploy half of release.yml, run step by step on this machine with the stand-ins.

Each ``run:`` script of the ``deploy`` job runs with bash, in order, in a copy of the checkout
whose registry holds verified remote-looking pins (a merged pin PR), against the one fake Modal
server (each step's SDK reaches it through its own ``MODAL_SERVER_URL``). The steps that need
the Docker engine (engine start, acceptance of the pins) are left to the docker lane
(tests/acceptance/pinned/test_merged_pins.py). The run must leave an evidence
tarball that ``inv evidence.verify`` accepts, with and without the canary.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml

from tests.helpers import ROOT
from tests.modal_support import pinned_project, start_fake_modal

pytestmark = pytest.mark.modal

DOCKER_STEPS = {"Start the Docker engine (pulls the pins; nothing is built)",
                "Acceptance (the merged pins, no build)"}
INSTALL_STEP = "Install (Debian packages of the container lanes, project + dev tools)"


def _deploy_steps() -> list[dict[str, str]]:
    workflow = yaml.load((ROOT / ".github/workflows/release.yml").read_text(),
                         Loader=yaml.BaseLoader)
    return [step for step in workflow["jobs"]["deploy"]["steps"] if "run" in step]


def _checkout_copy(dest: Path) -> Path:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                            check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        source = ROOT / rel
        if source.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / rel)
    shutil.rmtree(dest / "registry")
    shutil.rmtree(dest / "processors")
    pinned_project(dest, extra_secret=None)  # the merged pin PR: verified, remote-looking pins
    (dest / ".venv").symlink_to(ROOT / ".venv")  # the workflow calls .venv/bin/inv
    return dest


@pytest.mark.parametrize("canary", [False, True], ids=["without-canary", "with-canary"])
def test_the_deploy_half_leaves_evidence_that_verifies(canary, tmp_path, request):
    if not (ROOT / ".venv" / "bin" / "inv").exists():
        pytest.skip("the workflow calls .venv/bin/inv: run ./scripts/bootstrap.sh first")
    work = _checkout_copy(tmp_path / "checkout")
    server = start_fake_modal(tmp_path / "fake-modal", work, secrets=())
    request.addfinalizer(server.close)
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "TMPDIR") if key in os.environ}
    env.update({"CI": "true", "PYTHONHASHSEED": "0", "DEPLOY_ENV": "staging",
                "REFS": "demo/echo@1", "PROCESSOR_EVIDENCE": "1", "TEST_LANE": "contracts",
                **server.environ(), "ACME_API_KEY": "rehearsal-placeholder"})
    ran = []
    for step in _deploy_steps():
        name = step.get("name", "")
        if name in DOCKER_STEPS or name == INSTALL_STEP:
            continue
        if "Canary" in name:
            if not canary:
                continue
            step_env = {**env, "CI": "false", "CANARY_REF": "demo/echo@1"}  # real runs offline
        else:
            step_env = env
        done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", step["run"]], cwd=work,
                              env=step_env, capture_output=True, text=True, timeout=600,
                              check=False)
        assert done.returncode == 0, f"{name}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        ran.append(name)
    assert any("Drift" in name for name in ran)
    assert any("jq" in name or "gate" in name for name in ran)
    # The steps reached this server and nothing else: it holds the synced secret and the app.
    assert "ACME_API_KEY" in server.state.secret_names("staging")
    assert server.state.deployed_app_id("demo-echo-v1", environment_name="staging") is not None
    tarball = work / "evidence" / "evidence-staging.tar.gz"
    with tarfile.open(tarball, "r:gz") as archive:
        summary = archive.extractfile("summary.md").read().decode()
    assert "- runs: 0" not in summary  # the smoke and the Modal mock run recorded evidence
    assert ("mode real" in summary or "| real |" in summary) is canary
