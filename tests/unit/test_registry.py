"""Registry loader: validation errors name the file and the field path, as ERR_INPUTS."""

from pathlib import Path

import pytest
import yaml

from runtime.errors import InputsError
from runtime.registry.load import Registry, load_registry
from tests.helpers import BUNDLED_REFS

VALID = {
    "schema_version": 1,
    "processors": {
        "demo/echo": {"path": "processors/demo/echo",
                      "versions": {"1": {"timeout_s": 30, "secrets": ["ACME_API_KEY"]}}},
    },
}


def _write(root: Path, document) -> Path:
    path = root / "registry" / "processors.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = document if isinstance(document, str) else yaml.safe_dump(document)
    path.write_text(text)
    return path


def _with_version(**fields):
    version = {**VALID["processors"]["demo/echo"]["versions"]["1"], **fields}
    return {**VALID, "processors": {"demo/echo": {"path": "processors/demo/echo",
                                                  "versions": {"1": version}}}}


def test_a_valid_registry_loads(tmp_path):
    document = load_registry(_write(tmp_path, VALID))
    assert document.processors["demo/echo"].versions["1"].timeout_s == 30


@pytest.mark.parametrize(("fields", "field_path"), [
    ({"timeout_s": -1}, "processors.demo/echo.versions.1.timeout_s"),
    ({"memory_mb": 1}, "processors.demo/echo.versions.1.memory_mb"),
    ({"secrets": ["lower_case"]}, "processors.demo/echo.versions.1.secrets"),
    ({"image": {"digest": "sha256:nope"}}, "processors.demo/echo.versions.1.image.digest"),
    ({"unexpected": True}, "processors.demo/echo.versions.1.unexpected"),
])
def test_field_errors_name_the_file_and_the_field_path(tmp_path, fields, field_path):
    path = _write(tmp_path, _with_version(**fields))
    with pytest.raises(InputsError) as caught:
        load_registry(path)
    assert caught.value.message.startswith(f"{path}: {field_path}: ")


def test_a_missing_processor_path_is_named(tmp_path):
    path = _write(tmp_path, {"processors": {"demo/echo": {"versions": {"1": {}}}}})
    with pytest.raises(InputsError, match=r"processors\.demo/echo\.path: Field required"):
        load_registry(path)


def test_an_unknown_schema_version_is_named(tmp_path):
    path = _write(tmp_path, {**VALID, "schema_version": 2})
    with pytest.raises(InputsError, match=r"processors.yaml: schema_version: "):
        load_registry(path)


def test_invalid_yaml_names_the_file(tmp_path):
    path = _write(tmp_path, "processors: [unclosed\n")
    with pytest.raises(InputsError, match=r"processors.yaml: not valid YAML"):
        load_registry(path)


def test_a_non_mapping_root_is_rejected(tmp_path):
    path = _write(tmp_path, "- a\n- b\n")
    with pytest.raises(InputsError, match=r"<root>: must be a mapping, got list"):
        load_registry(path)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(InputsError, match="registry file not found"):
        load_registry(tmp_path / "nope.yaml")


def test_an_empty_file_is_an_empty_registry(tmp_path):
    assert load_registry(_write(tmp_path, "")).processors == {}


def test_resolve_names_a_missing_entrypoint_by_field(tmp_path):
    _write(tmp_path, VALID)
    with pytest.raises(InputsError, match=r"versions\.1\.entrypoint: processors/demo/echo/main"):
        Registry.load(tmp_path).resolve("demo/echo@1")


def test_resolve_names_a_missing_entrypoint_under_an_absolute_path(tmp_path):
    missing = tmp_path / "elsewhere" / "echo"
    _write(tmp_path, {"processors": {"demo/echo": {"path": str(missing),
                                                   "versions": {"1": {}}}}})
    with pytest.raises(InputsError, match=r"versions\.1\.entrypoint: .*elsewhere/echo/main.py"):
        Registry.load(tmp_path).resolve("demo/echo@1")


def test_resolve_follows_an_absolute_entry_path(tmp_path):
    code = tmp_path / "code"
    code.mkdir()
    (code / "main.py").write_text("")
    _write(tmp_path, {"processors": {"demo/echo": {"path": str(code), "versions": {"1": {}}}}})
    assert Registry.load(tmp_path).resolve("demo/echo@1").entrypoint == code / "main.py"


def test_unknown_version_lists_the_known_refs(tmp_path):
    _write(tmp_path, VALID)
    with pytest.raises(InputsError, match=r"unknown ref 'demo/echo@2' \(known: demo/echo@1\)"):
        Registry.load(tmp_path).resolve("demo/echo@2")


def test_all_secret_names_are_collected(tmp_path):
    _write(tmp_path, VALID)
    assert Registry.load(tmp_path).all_secret_names() == ["ACME_API_KEY"]


def test_the_checkout_registry_is_valid_and_holds_the_bundled_processors(project_root):
    # Properties, not a list: a processor someone adds (the README tutorial) keeps this green.
    registry = Registry.load(project_root)
    refs = [str(ref) for ref in registry.refs()]
    assert refs == sorted(refs)
    assert set(BUNDLED_REFS) <= set(refs)
    for ref in refs:
        assert registry.resolve(ref).entrypoint.is_file(), ref


@pytest.mark.parametrize("document", [
    b"schema_version: 1\nprocessors:\n  x: " + b"[" * 100_000 + b"]" * 100_000 + b"\n",
    b"schema_version: 1\nprocessors:\n  x: " + b"- " * 100_000 + b"1\n",
], ids=["flow", "block"])
def test_a_registry_value_nested_100000_deep_is_err_inputs_not_a_crash(document):
    from runtime.errors import InputsError
    from runtime.registry.load import validate_document

    with pytest.raises(InputsError, match="ERR_INPUTS"):
        validate_document(document, "processors.yaml")


def test_duplicate_registry_keys_are_refused_on_load():
    from runtime.errors import InputsError
    from runtime.registry.load import validate_document

    document = b"schema_version: 1\nprocessors: {}\nprocessors: {}\n"
    with pytest.raises(InputsError, match="duplicate key 'processors'"):
        validate_document(document, "processors.yaml")
