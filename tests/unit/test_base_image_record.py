"""``inv infra.base-image`` records the base in ``.state/base-image.json``; builds read it from there.

No engine: the base build is replaced by a fake result, as ``record_base_image(build=…)`` allows.
"""

import json

import pytest

from runtime.devinfra.local import record_base_image
from runtime.devinfra.services import InfraError
from runtime.errors import ImageUnavailableError, ImageUnpinnedError
from runtime.images.build import BASE_IMAGE_STATE, base_reference, recorded_base_image
from runtime.registry.edit import set_base_image
from runtime.registry.load import Registry
from tests.helpers import copy_project

DIGEST = "sha256:" + "b" * 64
OTHER = "sha256:" + "c" * 64
REPOSITORY = "127.0.0.1:5000/processors/base"


def _fake_build(calls=None):
    def build(*, rebuild):
        if calls is not None:
            calls.append(rebuild)
        return {"repository": REPOSITORY, "digest": DIGEST, "reference": f"{REPOSITORY}@{DIGEST}",
                "image_id": "sha256:" + "d" * 64, "cached": True}
    return build


@pytest.fixture
def project(tmp_path):
    return copy_project(tmp_path / "proj")


def test_recording_writes_the_state_file_and_leaves_the_registry_yaml_alone(project):
    registry_yaml = project / "registry" / "processors.yaml"
    before = registry_yaml.read_bytes()
    result = record_base_image(project, build=_fake_build())
    assert registry_yaml.read_bytes() == before
    assert result["recorded_in"] == str(BASE_IMAGE_STATE)
    assert result["record_changed"] is True
    record = json.loads((project / BASE_IMAGE_STATE).read_text())
    assert record["repository"] == REPOSITORY
    assert record["digest"] == DIGEST


def test_recording_the_same_base_again_changes_nothing(project):
    record_base_image(project, build=_fake_build())
    first = (project / BASE_IMAGE_STATE).read_bytes()
    again = record_base_image(project, build=_fake_build())
    assert again["record_changed"] is False
    assert (project / BASE_IMAGE_STATE).read_bytes() == first


def test_rebuild_is_passed_to_the_build(project):
    calls = []
    record_base_image(project, rebuild=True, build=_fake_build(calls))
    assert calls == [True]


def test_a_failed_build_is_image_unavailable_and_records_nothing(project):
    def broken(*, rebuild):
        raise InfraError("mmdebstrap not found")

    with pytest.raises(ImageUnavailableError, match="mmdebstrap not found"):
        record_base_image(project, build=broken)
    assert not (project / BASE_IMAGE_STATE).exists()


def test_the_build_reads_the_state_record(project):
    record_base_image(project, build=_fake_build())
    assert base_reference(Registry.load(project)) == f"{REPOSITORY}@{DIGEST}"


def test_the_state_record_wins_over_the_registry_value(project):
    set_base_image(project / "registry" / "processors.yaml", repository="other/base", digest=OTHER)
    record_base_image(project, build=_fake_build())
    assert base_reference(Registry.load(project)) == f"{REPOSITORY}@{DIGEST}"


def test_without_a_state_record_the_registry_value_is_used(project):
    set_base_image(project / "registry" / "processors.yaml", repository="other/base", digest=OTHER)
    assert recorded_base_image(project) is None
    assert base_reference(Registry.load(project)) == f"other/base@{OTHER}"


def test_with_neither_the_build_is_unpinned_naming_the_task(project):
    with pytest.raises(ImageUnpinnedError, match=r"inv infra\.base-image"):
        base_reference(Registry.load(project))


@pytest.mark.parametrize("text", [
    "{not json",
    json.dumps(["a", "list"]),
    json.dumps({"repository": REPOSITORY}),
    json.dumps({"repository": "", "digest": DIGEST}),
    json.dumps({"repository": REPOSITORY, "digest": "sha256:short"}),
])
def test_a_malformed_state_record_is_unpinned_naming_the_file(project, text):
    path = project / BASE_IMAGE_STATE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    with pytest.raises(ImageUnpinnedError, match=r"base-image\.json"):
        base_reference(Registry.load(project))
