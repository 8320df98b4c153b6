"""The evidence canary sweep through the ``docker`` adapter (pinned images of the bundled
processors, see ``released_project``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.evidence_canary import assert_no_canary_in_evidence
from tests.helpers import cli_env

pytestmark = pytest.mark.requires_docker


def test_no_canary_reaches_the_evidence_tarball_docker(released_project: dict[str, Any],
                                                       tmp_path: Path) -> None:
    env = cli_env(PROCESSOR_RUNTIME_ROOT=str(released_project["root"]))
    assert_no_canary_in_evidence("docker", tmp_path, env)
