"""The container entry's command line: what the docker adapter builds parses, anything else is a
usage error (exit 2) before the payload is read."""

import io
import json
import signal
import subprocess
import sys

import pytest

from runtime.child import entry
from tests.helpers import ROOT


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


# -- the payload: bounded, an object; parsed only when secrets are declared ------------------
def _main(monkeypatch, payload: bytes, *extra: str, entrypoint: str = "/m.py") -> int:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(payload)))
    return entry.main(["--entrypoint", entrypoint, "--timeout-s", "30", *extra])


def test_a_payload_over_the_limit_is_refused_before_any_spawn(monkeypatch, capsys):
    monkeypatch.setattr(entry, "run_entry", lambda *a, **k: pytest.fail("spawned"))
    big = b'{"x":"' + b"a" * entry.PAYLOAD_LIMIT_BYTES + b'"}'
    assert _main(monkeypatch, big) == 2
    assert f"payload larger than {entry.PAYLOAD_LIMIT_BYTES} bytes" in capsys.readouterr().err


@pytest.mark.parametrize("payload", [b"", b"[1, 2]", b'"text"', b"{broken", b"  null "])
@pytest.mark.parametrize("secrets", [(), ("--secret", "ACME_API_KEY")])
def test_a_payload_that_is_no_json_object_is_refused(monkeypatch, capsys, payload, secrets):
    monkeypatch.setattr(entry, "run_entry", lambda *a, **k: pytest.fail("spawned"))
    assert _main(monkeypatch, payload, *secrets) == 2
    assert "payload must be one JSON object" in capsys.readouterr().err


def test_braces_that_are_no_json_are_refused_once_the_payload_is_parsed(monkeypatch, capsys):
    monkeypatch.setattr(entry, "run_entry", lambda *a, **k: pytest.fail("spawned"))
    assert _main(monkeypatch, b"{not json}", "--secret", "ACME_API_KEY") == 2
    assert "payload must be one JSON object" in capsys.readouterr().err


def test_a_plain_run_hands_the_payload_on_unparsed_and_inherits_the_folder(monkeypatch):
    seen = {}

    def fake_run_entry(payload, **kwargs):
        seen.update(payload=payload, **kwargs)
        return entry.SpawnResult(rc=0, stdout=b"", stdout_tail=b"", stdout_len=0,
                                 stdout_overflow=False, stderr_tail=b"", stderr_len=0,
                                 elapsed_ms=0, timed_out=False)

    monkeypatch.setattr(entry, "run_entry", fake_run_entry)
    raw = b'{"mode": "real", "execution_id": "ex-1", "inputs": {}}'
    assert _main(monkeypatch, raw) == 0
    assert seen["payload"] == {}  # no secrets: nothing of it is needed here
    assert seen["payload_bytes"] == raw
    assert seen["inherit_cwd"] is True
    assert _main(monkeypatch, raw, "--secret", "ACME_API_KEY") == 0
    assert seen["payload"] == {"mode": "real", "execution_id": "ex-1"}


def test_a_missing_secret_in_real_mode_is_an_error_envelope(monkeypatch, capsys):
    monkeypatch.delenv("ACME_API_KEY", raising=False)
    raw = b'{"mode": "real", "execution_id": "ex-7", "inputs": {}}'
    assert _main(monkeypatch, raw, "--secret", "ACME_API_KEY") == 2
    captured = capsys.readouterr()
    envelope = json.loads(captured.out)
    assert envelope["status"] == "error"
    assert envelope["execution_id"] == "ex-7"
    assert envelope["error"]["code"] == "ERR_MISSING_SECRET"
    assert "ACME_API_KEY" in envelope["error"]["message"]


@pytest.mark.parametrize(("code", "status"), [("raise SystemExit(7)", 7),
                                              ("import os, signal; os.kill(os.getpid(), "
                                               "signal.SIGTERM)", 256 - signal.SIGTERM)])
def test_the_command_line_passes_the_child_s_status_output_and_log_through(tmp_path, code, status):
    """``python -m runtime.child.entry`` leaves by ``os._exit`` after flushing: the child's
    status (a signal as 256 - N, as ``SystemExit(-N)`` gave), its stdout and stderr all arrive."""
    main_py = tmp_path / "main.py"
    main_py.write_text("import sys\nprint('{\"out\": 1}')\nsys.stderr.write('a log line\\n')\n"
                       "sys.stdout.flush()\n" + code + "\n")
    done = subprocess.run([sys.executable, "-m", "runtime.child.entry", "--entrypoint",
                           str(main_py), "--timeout-s", "30"], input=b'{"mode": "mock"}',
                          capture_output=True, cwd=ROOT, timeout=60, check=False)
    assert done.returncode == status, done.stderr
    assert done.stdout == b'{"out": 1}\n'
    assert b"a log line\n" in done.stderr


def test_the_command_line_usage_error_exits_2():
    done = subprocess.run([sys.executable, "-m", "runtime.child.entry", "--verbose"],
                          input=b"{}", capture_output=True, cwd=ROOT, timeout=60, check=False)
    assert done.returncode == 2
    assert b"unrecognized argument: --verbose" in done.stderr
