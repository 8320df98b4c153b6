"""Post-deploy smoke: every golden fixture replays in ``mock`` against the deployed target.

The target comes from the lane's options (``inv test-smoke --adapter modal --env staging``,
``--ref``, ``--branch``/``--user`` for one developer's dev app); the outputs must carry the hashes
the fixture recorded, so a deploy that runs other code fails. With evidence on
(``PROCESSOR_EVIDENCE``) every smoke run records its envelope and events, as ``inv
run-processor`` does, so the release's evidence never depends on the optional canary.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runtime.authoring.golden import discover_fixtures
from runtime.errors import ProcessorRuntimeError
from runtime.evidence.record import EvidenceRecorder, evidence_from_env, run_folder
from runtime.guards import new_execution_id
from runtime.runner import run_processor

CHECKOUT = Path(__file__).resolve().parents[2]
FIXTURES = discover_fixtures(CHECKOUT)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``--smoke-ref`` narrows the fixtures to one ref; a ref without fixtures is a usage error,
    not a green lane that smoked nothing."""
    if "fixture" in metafunc.fixturenames:
        only = metafunc.config.getoption("--smoke-ref")
        chosen = [f for f in FIXTURES if not only or f.ref == only]
        if not chosen:
            raise pytest.UsageError(f"--smoke-ref {only}: no golden fixture for that ref")
        metafunc.parametrize("fixture", chosen, ids=lambda f: f.path.name)


@pytest.fixture
def target(request: pytest.FixtureRequest) -> dict[str, Any]:
    config = request.config
    root = config.getoption("--smoke-root") or str(CHECKOUT)
    options = {key: value for key, value in (("branch", config.getoption("--smoke-branch")),
                                             ("user", config.getoption("--smoke-user"))) if value}
    return {"adapter": config.getoption("--smoke-adapter"), "env": config.getoption("--smoke-env"),
            "root": root, "adapter_options": options}


@contextlib.contextmanager
def _recorded(inputs: Any) -> Iterator[tuple[EvidenceRecorder | None, str | None]]:
    """Record the run under the checkout's evidence folder when evidence is on."""
    folder = evidence_from_env()
    if folder is None:
        yield None, None
        return
    execution_id = new_execution_id()
    with EvidenceRecorder(run_folder(folder, execution_id, CHECKOUT), inputs=inputs,
                          execution_id=execution_id) as recorder:
        yield recorder, execution_id


def test_every_bundled_processor_has_a_smoke_fixture():
    refs = {fixture.ref for fixture in FIXTURES}
    assert {"demo/echo@1", "text/stats@1", "acme/summarize@1"} <= refs


def test_fixture_replays_in_mock_on_the_target(fixture, target, tmp_path):
    kwargs = {"inputs": fixture.inputs, "mode": "mock", "adapter": target["adapter"],
              "env": target["env"], "artifacts_root": tmp_path, "root": target["root"],
              "adapter_options": target["adapter_options"] or None}
    if fixture.error:
        with pytest.raises(ProcessorRuntimeError) as caught, _recorded(fixture.inputs) as (_, eid):
            run_processor(fixture.ref, execution_id=eid, **kwargs)
        assert caught.value.code == fixture.error
        return
    with _recorded(fixture.inputs) as (recorder, eid):
        envelope = run_processor(fixture.ref, execution_id=eid, **kwargs)
        if recorder is not None:
            recorder.record(envelope)
    assert envelope.status == "success"
    assert envelope.meta["adapter"] == target["adapter"]
    assert {item.path: item.sha256 for item in envelope.outputs} == fixture.outputs
