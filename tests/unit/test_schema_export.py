import json
from pathlib import Path

from runtime.contract.wire import json_schemas

SCHEMAS = Path(__file__).resolve().parents[2] / "runtime" / "contract" / "exported"


def test_committed_json_schemas_match_the_models():
    exported = json_schemas()
    assert sorted(p.name for p in SCHEMAS.glob("*.schema.json")) == sorted(exported)
    for name, schema in exported.items():
        committed = json.loads((SCHEMAS / name).read_text())
        assert committed == schema, f"{name} is stale: run `inv export-schemas`"


def test_envelope_schema_requires_status_and_execution_id():
    schema = json_schemas()["envelope.schema.json"]
    assert {"status", "execution_id"} <= set(schema["required"])
