import hashlib
import io
import json
import tarfile

import pytest

from runtime.errors import InputsError
from runtime.evidence.package import MANIFEST_NAME, package_evidence, verify_evidence
from runtime.evidence.record import EvidenceRecorder
from runtime.runner import run_processor


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def evidence(tmp_path, project_root):
    """Two recorded runs: one success, one ERR_INPUTS."""
    runs = tmp_path / "runs"
    with EvidenceRecorder(runs / "ex-ok") as recorder:
        recorder.record(run_processor("demo/echo@1", inputs={"message": "hi"}, execution_id="ex-ok",
                                      artifacts_root=tmp_path / "art", root=project_root))
    with pytest.raises(InputsError), EvidenceRecorder(runs / "ex-bad", execution_id="ex-bad"):
        run_processor("demo/nope@1", execution_id="ex-bad", artifacts_root=tmp_path / "art",
                      root=project_root)
    return runs


def _rewrite(src, dst, edit):
    """Copy a tarball member by member, letting ``edit(name, data)`` change the bytes."""
    with tarfile.open(src, "r:gz") as tin, tarfile.open(dst, "w:gz") as tout:
        for info in tin:
            data = edit(info.name, tin.extractfile(info).read())
            info.size = len(data)
            tout.addfile(info, io.BytesIO(data))


def test_recorder_writes_envelope_and_events_for_a_success(evidence):
    envelope = json.loads((evidence / "ex-ok" / "envelope.json").read_text())
    events = [json.loads(line)["event"]
              for line in (evidence / "ex-ok" / "events.ndjson").read_text().splitlines()]
    assert envelope["status"] == "success"
    assert events[0] == "execution.start"
    assert "processor.start" in events  # forwarded from the child
    assert events[-1] == "execution.settle"


def test_recorder_writes_the_error_envelope_when_the_run_raises(evidence):
    envelope = json.loads((evidence / "ex-bad" / "envelope.json").read_text())
    assert envelope["status"] == "error"
    assert envelope["execution_id"] == "ex-bad"
    assert envelope["error"]["code"] == "ERR_INPUTS"


def test_packaging_the_same_evidence_twice_is_byte_identical(evidence, tmp_path, project_root):
    first = package_evidence(evidence, tmp_path / "a.tar.gz", lane="t", root=project_root)
    second = package_evidence(evidence, tmp_path / "b.tar.gz", lane="t", root=project_root)
    assert first.sha256 == second.sha256 == _sha(tmp_path / "b.tar.gz")


def test_package_has_sorted_members_with_fixed_metadata(evidence, tmp_path, project_root):
    out = tmp_path / "e.tar.gz"
    package_evidence(evidence, out, lane="t", root=project_root)
    with tarfile.open(out, "r:gz") as tar:
        members = tar.getmembers()
    runs = [m.name for m in members if m.name.startswith("runs/")]
    assert runs == sorted(runs)
    assert [m.name for m in members[-2:]] == ["summary.md", MANIFEST_NAME]
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname, m.mode) for m in members} == {(0, 0, 0, "", "", 0o644)}
    assert out.read_bytes()[4:8] == b"\0\0\0\0"  # the gzip header carries mtime 0


def test_summary_lists_lane_statuses_and_error_codes(evidence, tmp_path, project_root):
    out = tmp_path / "e.tar.gz"
    package_evidence(evidence, out, lane="staging", root=project_root)
    with tarfile.open(out, "r:gz") as tar:
        summary = tar.extractfile("summary.md").read().decode()
    assert "- lane: staging" in summary
    assert "- statuses: error 1, success 1" in summary
    assert "- error codes: ERR_INPUTS 1" in summary
    assert "| ex-ok | demo/echo@1 | local | mock | success |" in summary


def test_verify_accepts_a_fresh_package(evidence, tmp_path, project_root):
    out = tmp_path / "e.tar.gz"
    package_evidence(evidence, out, lane="t", root=project_root)
    result = verify_evidence(out)
    assert result.ok, result.problems
    assert result.envelopes == 2


def test_verify_rejects_a_tarball_with_one_byte_flipped(evidence, tmp_path, project_root):
    out = tmp_path / "e.tar.gz"
    package_evidence(evidence, out, lane="t", root=project_root)
    data = bytearray(out.read_bytes())
    data[len(data) // 2] ^= 0x01
    out.write_bytes(bytes(data))
    assert not verify_evidence(out).ok


def test_verify_rejects_an_envelope_missing_execution_id(evidence, tmp_path, project_root):
    good, bad = tmp_path / "good.tar.gz", tmp_path / "bad.tar.gz"
    package_evidence(evidence, good, lane="t", root=project_root)

    def drop_id(name, data):
        if name == "runs/ex-ok/envelope.json":
            document = json.loads(data)
            del document["execution_id"]
            data = json.dumps(document).encode()
        return data

    _rewrite(good, bad, drop_id)
    problems = verify_evidence(bad).problems
    assert any("runs/ex-ok/envelope.json: envelope misses 'execution_id'" in p for p in problems)


def test_verify_rejects_a_member_whose_hash_differs_from_the_manifest(evidence, tmp_path, project_root):
    good, bad = tmp_path / "good.tar.gz", tmp_path / "bad.tar.gz"
    package_evidence(evidence, good, lane="t", root=project_root)
    _rewrite(good, bad, lambda name, data: data + b"\n" if name.endswith("events.ndjson") else data)
    assert any("sha256 mismatch" in p for p in verify_evidence(bad).problems)


def test_package_refuses_a_missing_source_folder(tmp_path, project_root):
    with pytest.raises(InputsError, match="does not exist"):
        package_evidence(tmp_path / "nope", tmp_path / "e.tar.gz", lane="t", root=project_root)


def test_recorder_refuses_a_folder_that_already_holds_files(tmp_path):
    (tmp_path / "ex-1").mkdir()
    (tmp_path / "ex-1" / "envelope.json").write_text("{}")
    with pytest.raises(InputsError, match="already holds files"), EvidenceRecorder(tmp_path / "ex-1"):
        pass


def test_package_and_verify_report_the_same_member_count(evidence, tmp_path, project_root):
    packaged = package_evidence(evidence, tmp_path / "e.tar.gz", lane="t", root=project_root)
    verified = verify_evidence(tmp_path / "e.tar.gz")
    with tarfile.open(tmp_path / "e.tar.gz", "r:gz") as tar:
        in_archive = len(tar.getmembers())
    assert verified.ok, verified.problems
    assert packaged.members == verified.members == in_archive


def test_the_recorder_leaves_the_global_logging_configuration_alone(tmp_path, project_root):
    import structlog

    before = structlog.get_config()["processors"]
    with EvidenceRecorder(tmp_path / "runs" / "ex-cfg") as recorder:
        assert structlog.get_config()["processors"] == before
        recorder.record(run_processor("demo/echo@1", execution_id="ex-cfg",
                                      artifacts_root=tmp_path / "art", root=project_root))
    assert structlog.get_config()["processors"] == before
    events = (tmp_path / "runs" / "ex-cfg" / "events.ndjson").read_text().splitlines()
    assert json.loads(events[-1])["event"] == "execution.settle"


def test_the_recorder_scrubs_inputs_and_secrets_from_the_events(tmp_path, project_root):
    from runtime.logging import get_logger

    token = "sk-" + "r" * 30
    with EvidenceRecorder(tmp_path / "runs" / "ex-scrub", inputs={"text": "my private words"}):
        get_logger().info("provider.call", note=f"{token} for my private words",
                          inputs={"text": "x"}, api_key="plain")
    text = (tmp_path / "runs" / "ex-scrub" / "events.ndjson").read_text()
    record = json.loads(text)
    assert token not in text
    assert "my private words" not in text
    assert record["inputs"] == "[REDACTED]"
    assert record["api_key"] == "[REDACTED]"


def test_run_processor_records_evidence_as_a_parameter(tmp_path, project_root):
    """Evidence is a parameter of the one execution surface: the id is made (and checked) there."""
    import json

    from runtime.runner import run_processor

    envelope = run_processor("demo/echo@1", inputs={"message": "private words"},
                             artifacts_root=tmp_path / "art", root=project_root,
                             evidence=tmp_path / "evidence")
    folder = tmp_path / "evidence" / envelope.execution_id
    recorded = json.loads((folder / "envelope.json").read_text())
    assert recorded["execution_id"] == envelope.execution_id
    events = (folder / "events.ndjson").read_text()
    assert '"execution.start"' in events
    assert '"execution.settle"' in events
    assert "private words" not in events


def test_run_processor_refuses_an_evidence_id_that_names_no_folder(tmp_path, project_root):
    from runtime.runner import run_processor

    with pytest.raises(InputsError, match="execution id"):
        run_processor("demo/echo@1", execution_id="../escape", root=project_root,
                      artifacts_root=tmp_path / "art", evidence=tmp_path / "evidence")
    assert not (tmp_path / "evidence").exists()


def test_a_hardlink_in_the_evidence_folder_is_skipped_not_packaged(evidence, tmp_path,
                                                                   project_root):
    outside = tmp_path / "outside-secret.txt"
    outside.write_text("bytes that live outside the evidence folder\n")
    (evidence / "ex-ok" / "linked.txt").hardlink_to(outside)
    out = tmp_path / "e.tar.gz"
    package_evidence(evidence, out, lane="t", root=project_root)
    with tarfile.open(out) as tar:
        names = tar.getnames()
        data = b"".join(tar.extractfile(m).read() for m in tar.getmembers() if m.isfile())
    assert not any(name.endswith("linked.txt") for name in names)
    assert b"outside the evidence folder" not in data


def test_verify_stops_at_the_unpacked_size_cap(tmp_path, monkeypatch):
    from runtime.evidence import package as pack

    monkeypatch.setattr(pack, "VERIFY_UNPACKED_LIMIT_BYTES", 1 << 20)
    archive = tmp_path / "bomb.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("evidence/zeros.bin")
        info.size = 4 << 20
        tar.addfile(info, io.BytesIO(b"\0" * info.size))
    result = verify_evidence(archive)
    assert not result.ok
    assert any("unpacks past" in problem for problem in result.problems)
