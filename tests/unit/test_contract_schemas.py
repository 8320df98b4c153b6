"""JSON Schema export of the wire contracts."""

import json

import jsonschema
import pytest

from runtime.contract.wire import json_schemas

NAMES = ["envelope.schema.json", "payload.schema.json", "receipt.schema.json",
         "registry.schema.json"]


def test_every_contract_is_exported():
    assert sorted(json_schemas()) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_each_export_is_a_valid_json_schema_and_serialisable(name):
    schema = json_schemas()[name]
    jsonschema.Draft202012Validator.check_schema(schema)
    assert json.loads(json.dumps(schema)) == schema


def test_the_envelope_schema_accepts_a_success_envelope():
    envelope = {"status": "success", "execution_id": "ex-1", "index_path": "/p/outputs.json",
                "outputs": [{"path": "outputs/a.txt", "sha256": "0" * 64, "size": 1}],
                "meta": {"adapter": "local"}}
    jsonschema.validate(envelope, json_schemas()["envelope.schema.json"])


def test_the_envelope_schema_rejects_an_unknown_status():
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"status": "done", "execution_id": "x"},
                            json_schemas()["envelope.schema.json"])


def test_the_payload_schema_requires_every_field():
    schema = json_schemas()["payload.schema.json"]
    assert set(schema["required"]) == {"execution_id", "ref", "mode", "inputs", "write_prefix",
                                       "artifacts_root"}
