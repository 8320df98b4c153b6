"""run_batch over the docker adapter on the real engine: the same per-item codes as single runs.

Not run on the machine this was written on (another engineer owns its only engine); it follows
the set-up of ``test_fault_matrix_docker.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runtime.batch import run_batch
from runtime.errors import ProcessorRuntimeError
from runtime.runner import run_processor
from tests.fixtures.project import fixture_ref

pytestmark = pytest.mark.requires_docker
MIXED = fixture_ref("batch_mixed")
CASES = [{"case": "ok", "n": 1}, {"case": "inputs_error"}, {"case": "crash"}, {"case": "hang"},
         {"case": "ok", "n": 2}]


@pytest.fixture(scope="module")
def batch_image(docker_infra: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A temp project root with the batch fixture built, pushed and pinned (verified)."""
    from runtime.registry.edit import set_base_image
    from tests.dockerlane import REGISTRY_YAML, release
    from tests.fixtures.project import build_fixture_root

    root = build_fixture_root(tmp_path_factory.mktemp("batch-docker"), shared_folder=True)
    base = docker_infra["base"]
    set_base_image(root / REGISTRY_YAML, repository=base["repository"], digest=base["digest"])
    release(root, MIXED)
    return root


def _single_code(root: Path, artifacts: Path, inputs: dict) -> str:
    try:
        run_processor(MIXED, inputs=inputs, adapter="docker", artifacts_root=artifacts, root=root)
    except ProcessorRuntimeError as err:
        return err.code
    return "success"


def test_docker_batch_gives_the_single_run_codes_in_input_order(batch_image, tmp_path):
    from tests.dockerlane import managed_containers

    source = tmp_path / "in.ndjson"
    source.write_text("".join(json.dumps(row) + "\n" for row in CASES))
    result = run_batch(MIXED, source, adapter="docker", root=batch_image,
                       artifacts_root=tmp_path / "art", concurrency=2)
    items = [json.loads(line) for line in result.items_path.read_text().splitlines()]
    codes = [item["error"]["code"] if item["status"] == "error" else "success" for item in items]
    singles = [_single_code(batch_image, tmp_path / "single", row) for row in CASES]
    assert codes == singles == ["success", "ERR_INPUTS", "ERR_ADAPTER_INVOCATION",
                                "ERR_ADAPTER_INVOCATION", "success"]
    assert [item["meta"]["adapter"] for item in items] == ["docker"] * len(CASES)
    assert managed_containers() == []
