"""The docker adapter fails closed before touching any engine (hermetic, no docker needed)."""

from __future__ import annotations

import pytest

from runtime import run_processor
from runtime.adapters.docker import container_deadline
from runtime.errors import ImageUnpinnedError, InputsError


@pytest.mark.parametrize("env", ["staging", "main"])
def test_unpinned_processor_in_staging_or_main_is_image_unpinned(env, project_root, tmp_path):
    with pytest.raises(ImageUnpinnedError, match="inv build-processor"):
        run_processor("demo/echo@1", adapter="docker", env=env, root=project_root,
                      artifacts_root=tmp_path)


def test_image_override_outside_dev_is_refused(project_root, tmp_path):
    with pytest.raises(InputsError, match="env=dev only"):
        run_processor("demo/echo@1", adapter="docker", env="staging", root=project_root,
                      image_override="sha256:" + "1" * 64, artifacts_root=tmp_path)


def test_bare_digest_override_without_a_recorded_repository_is_image_unpinned(project_root,
                                                                               tmp_path):
    with pytest.raises(ImageUnpinnedError, match="repository@digest"):
        run_processor("demo/echo@1", adapter="docker", root=project_root,
                      image_override="sha256:" + "1" * 64, artifacts_root=tmp_path)


def test_container_deadline_is_at_least_the_function_timeout_times_1_2():
    assert container_deadline(30) >= 30 * 1.2
