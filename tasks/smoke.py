"""The smoke lane: golden fixtures replayed in ``mock`` against a deployed target.

``inv test-smoke`` smokes the local adapter; ``--adapter modal --env staging`` smokes the deployed
Modal apps after ``inv deploy-modal``; ``--fake-modal`` first deploys every ref into the in-repo
fake Modal boundary (a pinned temp copy of the project), so the Modal path is smoked here too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from invoke.context import Context
from invoke.exceptions import Exit

from tasks.cli import task

ROOT = Path(__file__).resolve().parent.parent
NO_TESTS_RC = 5
# The fake stores this placeholder as the secret value; it is never a real credential.
FAKE_SECRET_VALUE = "smoke-placeholder-value"  # noqa: S105
FAKE_VERIFIER = "smoke stand-in (the fake Modal never pulls; no registry was asked)"


def _fake_modal_project(work: Path) -> tuple[Path, dict[str, str]]:
    """Pin a copy of the project, sync placeholder secrets and deploy every ref into the fake."""
    from runtime.modal.boundary import BOUNDARY_ENV, FAKE_TRANSPORT_TARGET
    from runtime.modal.ops import deploy_modal, sync_modal_secrets
    from runtime.registry.edit import set_image_pin
    from runtime.registry.load import Registry
    from runtime.testing.fake_boundary import STATE_DIR_ENV

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
    # Invocation goes through the real modal SDK over a fake gRPC transport (unix socket).
    env = {BOUNDARY_ENV: FAKE_TRANSPORT_TARGET, STATE_DIR_ENV: str(work / "fake-modal")}
    secrets = dict.fromkeys(registry.all_secret_names(), FAKE_SECRET_VALUE)
    saved = {key: os.environ.get(key) for key in (*env, *secrets)}
    os.environ.update({**env, **secrets})
    try:
        sync_modal_secrets(env="staging", fail_on_missing=True, root=project)
        for ref in registry.refs():
            deploy_modal(str(ref), env="staging", root=project)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return project, env


SMOKE_HELP = {
    "adapter": "adapter the smoke runs use (default: local)",
    "env": "env of the deployed target: dev, staging or main (default: dev)",
    "ref": "smoke only this ref's fixtures (default: every fixture)",
    "branch": "env=dev: the branch in the dev app's name (as deploy-modal)",
    "user": "env=dev: the user in the dev app's name (as deploy-modal)",
    "fake_modal": "deploy every ref into the in-repo fake Modal first and smoke it there",
    "pytest_args": "extra arguments passed to pytest",
}


def run_smoke(*, adapter: str = "local", env: str = "dev", ref: str = "", branch: str = "",
              user: str = "", fake_modal: bool = False, pytest_args: str = "") -> None:
    """The smoke lane as a function (the dev tasks call it too); ``Exit`` on failure."""
    argv = [sys.executable, "-m", "pytest", "tests/smoke", "-q", *pytest_args.split()]
    argv += [f"--smoke-{key}={value}" for key, value in (("ref", ref), ("branch", branch),
                                                          ("user", user)) if value]
    child_env = dict(os.environ, TEST_LANE="smoke")
    with tempfile.TemporaryDirectory(prefix="smoke-") as tmp:
        if fake_modal:
            project, fake_env = _fake_modal_project(Path(tmp))
            argv += ["--smoke-adapter=modal", "--smoke-env=staging", f"--smoke-root={project}"]
            child_env.update(fake_env)
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
