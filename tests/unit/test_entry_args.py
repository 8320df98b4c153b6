"""The container entry's command line: what the docker adapter builds parses, anything else is a
usage error (exit 2) before the payload is read."""

import io
import sys

import pytest

from runtime.child import entry


def test_the_adapters_command_line_parses():
    argv = ["--entrypoint", "/opt/processor/main.py", "--timeout-s", "30", "--env-name",
            "staging", "--secret", "A", "--secret=B"]
    assert entry.parse_args(argv) == ("/opt/processor/main.py", 30.0, ["A", "B"], "staging")


def test_defaults_and_the_equals_form():
    assert entry.parse_args(["--entrypoint=/m.py", "--timeout-s=1.5"]) == ("/m.py", 1.5, [],
                                                                          "dev")


@pytest.mark.parametrize("argv", [
    [],
    ["--entrypoint", "/m.py"],
    ["--timeout-s", "3"],
    ["--entrypoint", "/m.py", "--timeout-s", "soon"],
    ["--entrypoint", "/m.py", "--timeout-s"],
    ["--entrypoint", "/m.py", "--timeout-s", "3", "--verbose"],
    ["--entrypoint", "/m.py", "--timeout-s", "3", "extra"],
    ["--entrypoint", "/m.py", "--entrypoint", "/n.py", "--timeout-s", "3"],
])
def test_anything_else_is_a_usage_error(argv):
    with pytest.raises(entry.UsageError):
        entry.parse_args(argv)


def test_main_exits_2_with_the_usage_and_reads_no_payload(monkeypatch, capsys):
    stdin = io.TextIOWrapper(io.BytesIO(b'{"mode": "mock"}'))
    monkeypatch.setattr(sys, "stdin", stdin)
    assert entry.main(["--entrypoint", "/m.py"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: container_entry")
    assert "--entrypoint and --timeout-s are required" in err
    assert stdin.buffer.read() == b'{"mode": "mock"}'  # left unread
