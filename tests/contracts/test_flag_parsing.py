"""Flags parsed by the task itself still end in one canonical error envelope."""

import pytest

from tests.helpers import run_cli


@pytest.mark.parametrize("value", ["abc", "-1", "0", "1e9"])
def test_bad_timeout_is_err_inputs_with_one_envelope_line(value, tmp_path):
    result = run_cli("run-processor", "--ref", "demo/echo@1", "--json", f"--timeout-s={value}",
                     "--artifacts-root", str(tmp_path))
    assert result.rc == 2
    assert result.envelope["error"]["code"] == "ERR_INPUTS"
    assert "--timeout-s" in result.envelope["error"]["message"]
    assert not (tmp_path / "runs").exists()


def test_unknown_flag_is_refused_with_one_err_inputs_envelope():
    # Invoke rejects unknown flags before any task code runs; with --json that is still one
    # ERR_INPUTS envelope (issue 15), naming the flag, and exit 2.
    result = run_cli("run-processor", "--ref", "demo/echo@1", "--json", "--bogus")
    assert result.rc == 2
    assert result.envelope["error"]["code"] == "ERR_INPUTS"
    assert "--bogus" in result.envelope["error"]["message"]
