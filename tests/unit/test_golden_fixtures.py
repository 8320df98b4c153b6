import pytest

from runtime.authoring.golden import load_fixture
from runtime.errors import InputsError


def test_fixture_for_another_processor_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "case.json"
    path.write_text('{"ref": "demo/echo@1", "inputs": {}, "expected": {"outputs": null}}')
    with pytest.raises(InputsError, match=r"case\.json: ref: must be 'text/stats@<version>'"):
        load_fixture(path, "text/stats")


def test_fixture_with_both_outputs_and_error_is_refused(tmp_path):
    path = tmp_path / "case.json"
    path.write_text('{"ref": "demo/echo@1", "expected": {"outputs": {}, "error": "ERR_INPUTS"}}')
    with pytest.raises(InputsError, match="expected: must hold either 'outputs' or 'error'"):
        load_fixture(path, "demo/echo")


def test_fixture_hashes_must_be_sha256_hex(tmp_path):
    path = tmp_path / "case.json"
    path.write_text('{"ref": "demo/echo@1", "expected": {"outputs": {"outputs/a": "abc"}}}')
    with pytest.raises(InputsError, match=r"expected\.outputs: must map output paths to sha256 hex"):
        load_fixture(path, "demo/echo")
