"""The smoke lane: golden fixtures replayed in ``mock`` against a deployed target.

``inv test-smoke`` smokes the local adapter; ``--adapter modal --env staging`` smokes the deployed
Modal apps after ``inv deploy-modal``; ``--fake-modal`` first deploys every ref into the one fake
Modal server (a pinned temp copy of the project; the SDK reaches it through ``MODAL_SERVER_URL``),
so the Modal path is smoked here too.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from invoke.context import Context
from invoke.exceptions import Exit

from tasks.cli import task

ROOT = Path(__file__).resolve().parent.parent
NO_TESTS_RC = 5
# The fake stores this placeholder as the secret value; it is never a real credential.
FAKE_SECRET_VALUE = "smoke-placeholder-value"  # noqa: S105
FAKE_VERIFIER = "smoke stand-in (the fake Modal never pulls; no registry was asked)"


def _fake_modal_project(work: Path, server: Any) -> Path:
    """Pin a copy of the project, sync placeholder secrets and deploy every ref into the fake
    ``server`` (a started :class:`runtime.testing.fake_server.FakeModalServer`)."""
    from runtime.modal.ops import deploy_modal, sync_modal_secrets
    from runtime.modal.target import ModalTarget
    from runtime.registry.edit import set_image_pin
    from runtime.registry.load import Registry

    project = work / "project"
    shutil.copytree(ROOT / "processors", project / "processors")
    shutil.copytree(ROOT / "registry", project / "registry")
    registry = Registry.load(project)
    for ref in registry.refs():
        # The fake never pulls: any well-formed digest on a remote-looking (never resolved)
        # registry stands in for the pushed image, and the verification record says so.
        set_image_pin(registry.path, ref,
                      repository=f"registry.example.invalid/processors/{ref.ns}-{ref.name}",
                      digest="sha256:" + "0" * 64, config_digest=None,
                      verified_at="1970-01-01T00:00:00Z", verified_by=FAKE_VERIFIER)
    # Everything goes through the real modal SDK, pointed at the fake by its own settings.
    env = server.environ()
    secrets = dict.fromkeys(registry.all_secret_names(), FAKE_SECRET_VALUE)
    saved = {key: os.environ.get(key) for key in (*env, *secrets)}
    os.environ.update({**env, **secrets})
    try:
        sync_modal_secrets(ModalTarget(None, "staging"), fail_on_missing=True, root=project)
        for ref in registry.refs():
            deploy_modal(ModalTarget(str(ref), "staging"), root=project)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return project


SMOKE_HELP = {
    "adapter": "adapter the smoke runs use (default: local)",
    "env": "env of the deployed target: dev, staging or main (default: dev)",
    "ref": "smoke only this ref's fixtures (default: every fixture)",
    "branch": "env=dev: the branch in the dev app's name (as deploy-modal)",
    "user": "env=dev: the user in the dev app's name (as deploy-modal)",
    "fake_modal": "deploy every ref into the one fake Modal server first and smoke it there",
    "pytest_args": "extra arguments passed to pytest",
}


def run_smoke(*, adapter: str = "local", env: str = "dev", ref: str = "", branch: str = "",
              user: str = "", fake_modal: bool = False, pytest_args: str = "") -> None:
    """The smoke lane as a function (the dev tasks call it too); ``Exit`` on failure."""
    argv = [sys.executable, "-m", "pytest", "tests/smoke", "-q", *pytest_args.split()]
    argv += [f"--smoke-{key}={value}" for key, value in (("ref", ref), ("branch", branch),
                                                          ("user", user)) if value]
    child_env = dict(os.environ, TEST_LANE="smoke")
    with tempfile.TemporaryDirectory(prefix="smoke-") as tmp, contextlib.ExitStack() as stack:
        if fake_modal:
            from runtime.testing.fake_server import FakeModalServer

            server = stack.enter_context(FakeModalServer(Path(tmp) / "fake-modal"))
            project = _fake_modal_project(Path(tmp), server)
            server.state.source_root = project
            argv += ["--smoke-adapter=modal", "--smoke-env=staging",
                     f"--smoke-root={project}"]
            child_env.update(server.environ())
        else:
            argv += [f"--smoke-adapter={adapter}", f"--smoke-env={env}"]
        print(f"== lane smoke: {' '.join(argv[1:])}", file=sys.stderr, flush=True)
        rc = subprocess.run(argv, cwd=ROOT, env=child_env, check=False).returncode
    if rc == NO_TESTS_RC:
        raise Exit("smoke lane collected zero tests, which is a failure", code=1)
    if rc:
        raise Exit(code=rc)


@task(help=SMOKE_HELP)
def test_smoke(c: Context, adapter: str = "local", env: str = "dev", ref: str = "",
               branch: str = "", user: str = "", fake_modal: bool = False,
               pytest_args: str = "") -> None:
    """Run the smoke lane (tests/smoke): golden fixtures in mock against the deployed target."""
    run_smoke(adapter=adapter, env=env, ref=ref, branch=branch, user=user,
              fake_modal=fake_modal, pytest_args=pytest_args)


TASKS = [test_smoke]
