import json
import subprocess
import sys
import tarfile

from tests.helpers import ROOT, cli_env, peak_rss_argv, run_cli


def test_run_processor_evidence_records_a_success_and_keeps_stdout_one_line(tmp_path):
    result = run_cli("run-processor", "--ref", "demo/echo@1", "--json", "--execution-id", "ex-ok",
                     "--artifacts-root", str(tmp_path / "art"), "--evidence-dir", str(tmp_path / "ev"))
    assert result.rc == 0, result.stderr
    recorded = json.loads((tmp_path / "ev" / "ex-ok" / "envelope.json").read_text())
    assert recorded["outputs"] == result.envelope["outputs"]
    assert (tmp_path / "ev" / "ex-ok" / "events.ndjson").stat().st_size > 0


def test_processor_evidence_env_records_an_error_run(tmp_path):
    env = cli_env(PROCESSOR_EVIDENCE=str(tmp_path / "ev"))
    result = run_cli("run-processor", "--ref", "demo/nope@1", "--json", "--execution-id", "ex-bad",
                     "--artifacts-root", str(tmp_path / "art"), env=env)
    assert result.rc == 2
    recorded = json.loads((tmp_path / "ev" / "ex-bad" / "envelope.json").read_text())
    assert recorded == {**result.envelope, "meta": recorded["meta"]}
    assert recorded["error"]["code"] == "ERR_INPUTS"


def test_evidence_verify_json_prints_one_line_and_fails_on_a_flipped_byte(tmp_path):
    run_cli("run-processor", "--ref", "demo/echo@1", "--artifacts-root", str(tmp_path / "art"),
            "--evidence-dir", str(tmp_path / "ev"))
    out = tmp_path / "e.tar.gz"
    packaged = run_cli("evidence.package", "--src", str(tmp_path / "ev"), "--out", str(out), "--json")
    assert packaged.rc == 0, packaged.stderr
    data = bytearray(out.read_bytes())
    data[len(data) // 2] ^= 0x01
    out.write_bytes(bytes(data))
    result = run_cli("evidence.verify", str(out), "--json")
    assert result.rc != 0
    assert result.envelope["ok"] is False
    assert result.envelope["problems"]
    for line in result.stderr.splitlines():  # --json: stderr stays NDJSON even on failure
        assert isinstance(json.loads(line), dict), line


def test_packaging_streams_many_files_and_a_large_one_with_bounded_memory(tmp_path):
    src = tmp_path / "runs"
    for index in range(2000):
        run = src / f"ex-{index:05d}"
        run.mkdir(parents=True)
        (run / "events.ndjson").write_text('{"event":"execution.start","level":"info"}\n')
    big = src / "ex-big" / "events.ndjson"
    big.parent.mkdir()
    with big.open("wb") as handle:
        handle.write(b'{"event":"processor.stderr","line":"start"}\n')
        handle.truncate(200 * 1024 * 1024)  # a sparse 200 MiB tail of NUL bytes, no newline
    out = tmp_path / "e.tar.gz"
    code = (
        "import resource, sys\n"
        "from pathlib import Path\n"
        "from runtime.evidence.package import package_evidence\n"
        f"package_evidence({str(src)!r}, {str(out)!r}, lane='bench', root=Path({str(ROOT)!r}))\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    argv = peak_rss_argv(tmp_path / "peak-kib", [sys.executable, "-c", code])  # its own peak
    done = subprocess.run(argv, cwd=ROOT, env=cli_env(), capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    peak_kib = int(done.stdout.strip())
    assert peak_kib < 150 * 1024, f"peak RSS {peak_kib} KiB"
    with tarfile.open(out, "r:gz") as tar:
        assert tar.getmember("runs/ex-big/events.ndjson").size == 200 * 1024 * 1024
        assert len(tar.getnames()) == 2003
