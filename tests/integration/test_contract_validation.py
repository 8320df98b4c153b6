"""run_processor enforces the input schema before any spawn and the output schema after it."""

import json
import shutil
import textwrap

import pytest

from runtime.contract.schemas import load_schemas
from runtime.errors import AdapterInvocationError, InputsError
from runtime.registry.load import Registry
from runtime.runner import INPUTS_LIMIT_BYTES, run_processor


def run_stats(tmp_path, project_root, inputs, **kwargs):
    return run_processor("text/stats@1", inputs=inputs, artifacts_root=tmp_path / "art",
                         root=project_root, **kwargs)


def test_missing_required_field_is_err_inputs_and_nothing_is_spawned(tmp_path, project_root):
    with pytest.raises(InputsError, match=r"^ERR_INPUTS: inputs\.text: required \(input schema of acme/summ"):
        run_processor("acme/summarize@1", inputs={}, artifacts_root=tmp_path / "art",
                      root=project_root)
    assert not (tmp_path / "art").exists()


def test_wrong_type_is_err_inputs_naming_field_and_type(tmp_path, project_root):
    with pytest.raises(InputsError, match=r"inputs\.top_n: must be integer"):
        run_stats(tmp_path, project_root, {"top_n": "5"})
    assert not (tmp_path / "art").exists()


def test_extra_field_is_err_inputs_when_the_schema_forbids_it(tmp_path, project_root):
    with pytest.raises(InputsError, match=r"inputs\.extra: not allowed"):
        run_stats(tmp_path, project_root, {"extra": 1})


def test_oversized_field_is_err_inputs_naming_the_bound(tmp_path, project_root):
    with pytest.raises(InputsError, match=r"inputs\.text: must be at most 1000000 characters"):
        run_stats(tmp_path, project_root, {"text": "x" * 1_000_001})


def test_oversized_payload_is_err_inputs_before_schema_checks(tmp_path, project_root):
    with pytest.raises(InputsError, match=f"inputs exceed {INPUTS_LIMIT_BYTES} bytes"):
        run_processor("demo/echo@1", inputs={"blob": "x" * INPUTS_LIMIT_BYTES},
                      artifacts_root=tmp_path / "art", root=project_root)


def test_inputs_are_validated_before_the_adapter_is_chosen(tmp_path, project_root):
    with pytest.raises(InputsError, match=r"inputs\.top_n: must be integer"):
        run_stats(tmp_path, project_root, {"top_n": "x"}, adapter="docker")


def test_valid_inputs_run_and_outputs_satisfy_the_output_schema(tmp_path, project_root):
    envelope = run_stats(tmp_path, project_root, {"top_n": 2})
    assert sorted(item.path for item in envelope.outputs) == ["outputs/report.txt",
                                                              "outputs/stats.json"]


def test_every_registered_version_declares_parseable_schemas(project_root):
    registry = Registry.load(project_root)
    for ref in registry.refs():
        schemas = load_schemas(registry.resolve(ref))
        assert schemas.inputs is not None, ref
        assert schemas.outputs is not None, ref


# -- output schema: a tiny project whose processor breaks its declared outputs -------------------
MAIN = textwrap.dedent('''
    from runtime.kit import Context, serve

    def handle(ctx: Context) -> None:
        ctx.write_json("result.json", {"count": ctx.inputs.get("count", 1)})

    if __name__ == "__main__":
        raise SystemExit(serve(handle))
''')
OUTPUTS = {
    "type": "object",
    "required": ["outputs/result.json", "outputs/summary.txt"],
    "properties": {"outputs/result.json": {
        "type": "object", "required": ["count"], "properties": {"count": {"type": "integer"}}}},
}
REGISTRY = textwrap.dedent('''
    schema_version: 1
    processors:
      t/liar:
        path: processors/t/liar
        versions:
          "1":
            output_schema: schemas/v1.outputs.schema.json
''')


@pytest.fixture
def liar_root(tmp_path):
    root = tmp_path / "proj"
    folder = root / "processors" / "t" / "liar"
    (folder / "schemas").mkdir(parents=True)
    (folder / "main.py").write_text(MAIN)
    (folder / "schemas" / "v1.outputs.schema.json").write_text(json.dumps(OUTPUTS))
    (root / "registry").mkdir()
    (root / "registry" / "processors.yaml").write_text(REGISTRY)
    return root


def test_missing_required_output_is_err_adapter_invocation(tmp_path, liar_root):
    with pytest.raises(AdapterInvocationError, match=r"outputs/summary\.txt: required"):
        run_processor("t/liar@1", artifacts_root=tmp_path / "art", root=liar_root)


def test_wrong_json_output_content_is_err_adapter_invocation(tmp_path, liar_root):
    with pytest.raises(AdapterInvocationError,
                       match=r"outputs/result\.json#/count: must be integer"):
        run_processor("t/liar@1", inputs={"count": "many"}, artifacts_root=tmp_path / "art",
                      root=liar_root)


def test_missing_schema_file_is_err_inputs_naming_it(tmp_path, liar_root):
    shutil.rmtree(liar_root / "processors" / "t" / "liar" / "schemas")
    with pytest.raises(InputsError, match=r"v1\.outputs\.schema\.json: schema cannot be read"):
        run_processor("t/liar@1", artifacts_root=tmp_path / "art", root=liar_root)
