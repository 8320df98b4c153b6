"""Round-trip edits of the registry YAML keep comments and order and never half-write."""

from __future__ import annotations

import shutil
import stat

import pytest

from runtime.errors import InputsError
from runtime.registry.edit import render_edit, set_base_image, set_image_pin
from runtime.registry.load import load_registry
from tests.helpers import ROOT

DIGEST = "sha256:" + "a" * 64
CONFIG = "sha256:" + "b" * 64


@pytest.fixture
def registry_file(tmp_path):
    target = tmp_path / "processors.yaml"
    shutil.copy(ROOT / "registry" / "processors.yaml", target)
    return target


def _changed_lines(before: str, after: str) -> list[str]:
    old = set(before.splitlines())
    return [line for line in after.splitlines() if line not in old]


def test_pin_keeps_every_comment_and_key_order(registry_file):
    before = registry_file.read_text()
    set_image_pin(registry_file, "text/stats@1", repository="127.0.0.1:5000/processors/text/stats",
                  digest=DIGEST, config_digest=CONFIG, verified_at="2026-01-01T00:00:00Z",
                  verified_by="unit-test verifier")
    after = registry_file.read_text()
    comments = [line for line in before.splitlines() if line.lstrip().startswith("#")]
    assert [line for line in after.splitlines() if line.lstrip().startswith("#")] == comments
    assert after.index("demo/echo:") < after.index("text/stats:") < after.index("acme/summarize:")


def test_pin_changes_only_the_pinned_versions_image_lines(registry_file):
    before = registry_file.read_text()
    set_image_pin(registry_file, "demo/echo@1", repository="127.0.0.1:5000/processors/demo/echo",
                  digest=DIGEST, config_digest=CONFIG, verified_at="2026-01-01T00:00:00Z",
                  verified_by="unit-test verifier")
    after = registry_file.read_text()
    assert _changed_lines(before, after) == [
        "          repository: 127.0.0.1:5000/processors/demo/echo",
        f"          digest: {DIGEST}",
        f"          config_digest: {CONFIG}",
        "          verified_at: '2026-01-01T00:00:00Z'",
        "          verified_by: unit-test verifier",
    ]
    assert len(after.splitlines()) == len(before.splitlines()) + 3


def test_pinned_file_still_validates_and_carries_the_pin(registry_file):
    set_image_pin(registry_file, "demo/echo@1", repository="127.0.0.1:5000/processors/demo/echo",
                  digest=DIGEST, config_digest=None, verified_at=None)
    pin = load_registry(registry_file).processors["demo/echo"].versions["1"].image
    assert (pin.repository, pin.digest, pin.config_digest) == (
        "127.0.0.1:5000/processors/demo/echo", DIGEST, None)


def test_malformed_digest_is_refused_and_the_file_is_byte_identical(registry_file):
    before = registry_file.read_bytes()
    with pytest.raises(InputsError):
        set_image_pin(registry_file, "demo/echo@1", repository="r/x", digest="sha256:abc",
                      config_digest=None, verified_at=None)
    assert registry_file.read_bytes() == before


def test_edit_that_breaks_the_schema_is_refused_before_writing(registry_file):
    def mutate(document):
        document["processors"]["demo/echo"]["versions"]["1"]["timeout_s"] = -1

    with pytest.raises(InputsError, match="timeout_s"):
        render_edit(registry_file.read_text(), mutate)


def test_unknown_ref_is_inputs_error(registry_file):
    with pytest.raises(InputsError, match="unknown ref"):
        set_image_pin(registry_file, "nope/missing@1", repository="r/x", digest=DIGEST,
                      config_digest=None, verified_at=None)


def test_identical_edit_reports_no_change(registry_file):
    set_base_image(registry_file, repository="127.0.0.1:5000/base", digest=DIGEST)
    assert set_base_image(registry_file, repository="127.0.0.1:5000/base", digest=DIGEST) is False


def test_edit_keeps_the_file_mode(registry_file):
    registry_file.chmod(0o644)
    set_base_image(registry_file, repository="127.0.0.1:5000/base", digest=DIGEST)
    assert stat.S_IMODE(registry_file.stat().st_mode) == 0o644


def test_edit_leaves_no_temp_file_behind(registry_file):
    set_base_image(registry_file, repository="127.0.0.1:5000/base", digest=DIGEST)
    assert sorted(p.name for p in registry_file.parent.iterdir()) == ["processors.yaml"]


def test_pin_with_half_a_verification_record_is_refused_and_writes_nothing(registry_file):
    before = registry_file.read_bytes()
    with pytest.raises(InputsError, match="verified_at and verified_by"):
        set_image_pin(registry_file, "demo/echo@1", repository="registry.example.invalid/p/d",
                      digest=DIGEST, config_digest=None, verified_at="2026-01-01T00:00:00Z")
    assert registry_file.read_bytes() == before


def test_verified_pin_carries_its_verifier(registry_file):
    set_image_pin(registry_file, "demo/echo@1", repository="registry.example.invalid/p/d",
                  digest=DIGEST, config_digest=CONFIG, verified_at="2026-01-01T00:00:00Z",
                  verified_by="unit-test verifier")
    pin = load_registry(registry_file).processors["demo/echo"].versions["1"].image
    assert pin.verified
    assert pin.verified_by == "unit-test verifier"


def test_a_read_only_registry_file_is_not_replaced(tmp_path):
    from runtime.errors import InputsError
    from runtime.registry.edit import edit_registry

    path = tmp_path / "processors.yaml"
    path.write_text("schema_version: 1\nprocessors: {}\n# a comment\n")
    path.chmod(0o444)
    before = path.read_bytes()

    def mutate(document):
        document["processors"]["demo/x"] = {"path": "p", "versions": {
            "1": {"entrypoint": "main.py", "timeout_s": 5, "secrets": []}}}

    with pytest.raises(InputsError, match="read-only"):
        edit_registry(path, mutate)
    assert path.read_bytes() == before
