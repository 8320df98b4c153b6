import json

import pytest
from invoke.exceptions import Exit

from runtime.contract.envelope import error_envelope
from tasks.cli import run_cli, setup_logging


def _boom() -> None:
    raise RuntimeError("bug with sk-abcdefghijklmnopqrstuvwx inside")


def test_an_internal_bug_in_json_mode_is_one_envelope_and_ndjson_stderr(capsys):
    setup_logging(json_mode=True)
    with pytest.raises(Exit) as caught:
        run_cli(_boom, json_mode=True, to_json=dict, to_text=str,
                on_error_envelope=lambda err: error_envelope(err).model_dump())
    out, err = capsys.readouterr()
    assert caught.value.code == 30
    lines = out.splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["error"]["code"] == "ERR_ADAPTER_INVOCATION"
    records = [json.loads(line) for line in err.splitlines()]
    assert [r["event"] for r in records] == ["cli.internal_error", "cli.error"]
    assert "sk-abcdefghijklmnopqrstuvwx" not in out + err
