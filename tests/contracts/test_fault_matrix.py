"""The fault matrix (SPEC §16) for the adapters that run hermetically: ``local`` and ``modal``
through the one fake Modal server, whose host-subprocess worker runs Modal's own container
entrypoint for every input. Every misbehaving fixture processor x adapter, through the CLI; see
``tests/faults.py`` for the invariants. The docker column, and the modal column in the pinned
images (the docker worker), live in ``tests/integration/test_fault_matrix_docker.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults import (
    CANARY_ENV,
    CASES,
    DECLARED_CANARY,
    ENV_CANARIES,
    FaultCase,
    canary_hits,
    cases_on_fake_modal,
    exercise,
    run_cli_measured,
)
from tests.fixtures.project import build_fixture_root, fixture_ref
from tests.helpers import cli_env
from tests.modal_support import OVERRIDE

ADAPTERS = ("local", "modal")
FAKE_REPOSITORY = "127.0.0.1:5000/processors/fault-fixtures"  # never pulled by the host worker


@pytest.fixture(scope="module")
def fault_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project root listing the fixture and bundled processors."""
    return build_fixture_root(tmp_path_factory.mktemp("fault-root"))


@pytest.fixture(scope="module")
def fake_modal(fault_root: Path,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Every case's ref deployed (dev, image override) to the fake Modal server (host worker);
    yields the SDK settings that point a CLI at it."""
    with cases_on_fake_modal(tmp_path_factory.mktemp("fake-modal"), fault_root,
                             image_override=f"{FAKE_REPOSITORY}@{OVERRIDE}") as environ:
        yield environ


def _params() -> list[object]:
    """Every adapter x case, as a list: pytest >= 9.1 refuses a generator in ``parametrize``."""
    return [pytest.param(adapter, case, id=f"{adapter}-{case.name}",
                         marks=[pytest.mark.modal] if adapter == "modal" else [])
            for adapter in ADAPTERS for case in CASES]


@pytest.mark.parametrize(("adapter", "case"), _params())
def test_fault_case_settles_cleanly(adapter: str, case: FaultCase, fault_root: Path,
                                    request: pytest.FixtureRequest, tmp_path: Path) -> None:
    env = cli_env(PROCESSOR_RUNTIME_ROOT=str(fault_root))
    if adapter == "modal":
        env.update(request.getfixturevalue("fake_modal"))
    exercise(case, adapter, root=fault_root, env=env, workdir=tmp_path)


@pytest.mark.parametrize("adapter", [pytest.param("local", id="local"),
                                     pytest.param("modal", id="modal", marks=pytest.mark.modal)])
def test_allow_env_secrets_never_hands_a_mock_run_its_declared_secret(
        adapter: str, fault_root: Path, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    # env_leak declares ACME_API_KEY and writes its whole environment into an output. With the
    # dev-only ambient opt-in, undeclared variables may pass (local; that is the opt-in), but a
    # mock run never holds its declared secret: the scrub must keep it out of the output.
    env = cli_env(PROCESSOR_RUNTIME_ROOT=str(fault_root), ALLOW_ENV_SECRETS="1", **CANARY_ENV)
    if adapter == "modal":
        env.update(request.getfixturevalue("fake_modal"))
    run = run_cli_measured(["run-processor", "--ref", fixture_ref("env_leak"), "--adapter",
                            adapter, "--json", "--artifacts-root", str(tmp_path / "art")],
                           env, tmp_path)
    envelope = run.envelope()
    assert envelope["status"] == "success", envelope
    leaked = json.loads((Path(envelope["index_path"]).parent / "outputs" / "environ.json")
                        .read_text())
    assert "ACME_API_KEY" not in leaked
    assert canary_hits(json.dumps(leaked).encode(), (DECLARED_CANARY,)) == []
    assert canary_hits(run.stdout + run.stderr, ENV_CANARIES) == []


def test_allow_env_secrets_outside_dev_passes_no_ambient_variable(tmp_path: Path) -> None:
    # staging/main never run from source (the local adapter is refused there), so the ambient
    # opt-in is exercised where staging runs do execute: the container entry (docker, Modal).
    from runtime.child.entry import run_entry
    from tests.fixtures.project import FIXTURE_PROCESSORS

    artifacts = tmp_path / "art"
    prefix = artifacts / "runs" / "ex-staging"
    prefix.mkdir(parents=True)
    payload = {"execution_id": "ex-staging", "ref": fixture_ref("env_leak"), "mode": "mock",
               "inputs": {}, "write_prefix": str(prefix), "artifacts_root": str(artifacts)}
    environ = {**cli_env(), "ALLOW_ENV_SECRETS": "1", **CANARY_ENV}
    result = run_entry(payload, entrypoint=str(FIXTURE_PROCESSORS / "env_leak" / "main.py"),
                       timeout_s=30, secrets=["ACME_API_KEY"], env_name="staging",
                       environ=environ, stream_stderr=False)
    assert result.rc == 0, result.stderr_tail
    written = (prefix / "outputs" / "environ.json").read_bytes()
    assert canary_hits(written, ENV_CANARIES) == []
