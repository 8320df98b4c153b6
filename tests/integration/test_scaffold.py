"""new_processor writes a complete processor, edits the registry round-trip, never overwrites."""


import pytest
import yaml

from runtime.authoring.scaffold import add_registry_entry, new_processor
from runtime.errors import InputsError
from runtime.registry.load import Registry
from tests.helpers import copy_project


@pytest.fixture
def copy_root(tmp_path, project_root):
    root = copy_project(tmp_path / "proj", project_root)
    (root / "tests" / "acceptance" / "pr").mkdir(parents=True)
    return root


def test_registry_edit_keeps_comments_order_and_existing_entries(copy_root):
    path = copy_root / "registry" / "processors.yaml"
    before = path.read_text()
    add_registry_entry(path, "zeta/new", {"path": "processors/zeta/new",
                                          "versions": {"1": {"secrets": ["ZETA_KEY"]}}})
    after = path.read_text()
    assert after.startswith(before.rstrip("\n"))
    assert yaml.safe_load(after)["processors"]["zeta/new"]["versions"]["1"]["secrets"] == ["ZETA_KEY"]
    assert '\n  zeta/new:\n    path: processors/zeta/new\n    versions:\n      "1":\n' in after


def test_registry_edit_refuses_an_existing_key_and_leaves_the_file_alone(copy_root):
    path = copy_root / "registry" / "processors.yaml"
    before = path.read_bytes()
    with pytest.raises(InputsError, match=r"processors\.demo/echo already exists"):
        add_registry_entry(path, "demo/echo", {"path": "x", "versions": {"1": {}}})
    assert path.read_bytes() == before


def test_registry_edit_that_would_be_invalid_is_refused_without_writing(copy_root):
    path = copy_root / "registry" / "processors.yaml"
    before = path.read_bytes()
    with pytest.raises(InputsError, match="the edited registry would be invalid"):
        add_registry_entry(path, "zeta/new", {"path": "p", "versions": {"1": {"timeout_s": -1}}})
    assert path.read_bytes() == before


def test_scaffold_registers_a_runnable_processor_with_a_recorded_fixture(copy_root):
    result = new_processor("zeta/count", copy_root)
    assert result.golden is not None
    assert result.golden.ok, result.golden.to_text()
    resolved = Registry.load(copy_root).resolve("zeta/count@1")
    assert resolved.version.input_schema == "schemas/v1.inputs.schema.json"
    assert "tests/acceptance/pr/test_processor_zeta_count.py" in result.files
    assert (copy_root / "processors/zeta/count/main.py").stat().st_mode & 0o777 == 0o644


def test_scaffold_with_provider_declares_the_secret_and_writes_provider_py(copy_root):
    result = new_processor("zeta/ask", copy_root, with_provider=True, secrets=["ZETA_TOKEN"])
    assert "processors/zeta/ask/provider.py" in result.files
    assert Registry.load(copy_root).resolve("zeta/ask@1").version.secrets == ["ZETA_TOKEN"]
    assert 'ctx.secret("ZETA_TOKEN")' in (copy_root / "processors/zeta/ask/main.py").read_text()


def test_scaffold_refuses_a_registered_name(copy_root):
    with pytest.raises(InputsError, match="demo/echo is already registered"):
        new_processor("demo/echo", copy_root)


def test_scaffold_refuses_an_existing_folder_and_writes_nothing(copy_root):
    (copy_root / "processors" / "zeta" / "taken").mkdir(parents=True)
    before = (copy_root / "registry" / "processors.yaml").read_bytes()
    with pytest.raises(InputsError, match="processors/zeta/taken already exists"):
        new_processor("zeta/taken", copy_root)
    assert (copy_root / "registry" / "processors.yaml").read_bytes() == before
    assert not (copy_root / "tests/acceptance/pr/test_processor_zeta_taken.py").exists()


def test_scaffold_refuses_a_malformed_secret_name(copy_root):
    with pytest.raises(InputsError, match=r"--secret: .*UPPER_SNAKE_CASE"):
        new_processor("zeta/x", copy_root, secrets=["lower"])
