"""Post-deploy smoke: every golden fixture replays in ``mock`` against the deployed target.

The target comes from the lane's options (``inv test-smoke --adapter modal --env staging``);
the outputs must carry the hashes the fixture recorded, so a deploy that runs other code fails.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.authoring.golden import discover_fixtures
from runtime.errors import ProcessorRuntimeError
from runtime.runner import run_processor

CHECKOUT = Path(__file__).resolve().parents[2]
FIXTURES = discover_fixtures(CHECKOUT)


@pytest.fixture
def target(request: pytest.FixtureRequest) -> dict[str, str]:
    config = request.config
    root = config.getoption("--smoke-root") or str(CHECKOUT)
    return {"adapter": config.getoption("--smoke-adapter"), "env": config.getoption("--smoke-env"),
            "root": root}


def test_every_bundled_processor_has_a_smoke_fixture():
    refs = {fixture.ref for fixture in FIXTURES}
    assert {"demo/echo@1", "text/stats@1", "acme/summarize@1"} <= refs


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda f: f.path.name)
def test_fixture_replays_in_mock_on_the_target(fixture, target, tmp_path):
    kwargs = {"inputs": fixture.inputs, "mode": "mock", "adapter": target["adapter"],
              "env": target["env"], "artifacts_root": tmp_path, "root": target["root"]}
    if fixture.error:
        with pytest.raises(ProcessorRuntimeError) as caught:
            run_processor(fixture.ref, **kwargs)
        assert caught.value.code == fixture.error
        return
    envelope = run_processor(fixture.ref, **kwargs)
    assert envelope.status == "success"
    assert envelope.meta["adapter"] == target["adapter"]
    assert {item.path: item.sha256 for item in envelope.outputs} == fixture.outputs
