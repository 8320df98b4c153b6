"""The supply chain on the real engine and registry: build → push → pin(verify) → run.

Needs a Docker Engine and the local registry (``docker_infra``); sockets are limited to
127.0.0.1 and unix sockets (see tests/conftest.py). Nothing here is mocked.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import socket
import subprocess
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runtime import run_processor
from runtime.errors import (
    AdapterInvocationError,
    ImageUnavailableError,
    RegistryMismatchError,
)
from runtime.images.build import build_processor, pin_processor, push_processor
from tests.dockerlane import REGISTRY_YAML, add_processor, managed_containers, release
from tests.helpers import cli_env, copy_project, run_cli

pytestmark = pytest.mark.requires_docker


@pytest.fixture
def project(released_project: dict[str, Any], tmp_path: Path) -> Path:
    """A private copy of the released project (its YAML may be edited by the test)."""
    return copy_project(tmp_path / "project", released_project["root"])


@pytest.fixture
def scratch_registry(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A second, throw-away ``docker-registry`` on a free loopback port (stoppable mid-test)."""
    from runtime.devinfra.services import registry_healthy, require_binary

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "registry.json"
    config.write_text(json.dumps({
        "version": 0.1, "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(tmp_path / "data")}},
        "http": {"addr": f"127.0.0.1:{port}", "secret": "scratch-registry-test"},
    }))
    with (tmp_path / "registry.log").open("wb") as log:
        proc = subprocess.Popen([require_binary("docker-registry"), "serve", str(config)],
                                stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        if registry_healthy(url):
            break
        time.sleep(0.1)
    state = {"host": f"127.0.0.1:{port}", "proc": proc}
    yield state
    proc.terminate()
    proc.wait(timeout=10)


def _receipt(envelope: Any) -> dict[str, Any]:
    receipt: dict[str, Any] = json.loads(
        (Path(envelope.index_path).parent / "receipt.json").read_text())
    return receipt


def test_digest_matches_at_every_hop_from_build_to_run(project: Path) -> None:
    built = build_processor("demo/echo@1", root=project)
    pushed = push_processor("demo/echo@1", root=project)
    pinned = pin_processor("demo/echo@1", pushed.digest, verify=True, root=project)
    envelope = run_processor("demo/echo@1", adapter="docker", root=project,
                             inputs={"message": "chain"})
    assert built.image_id == pushed.image_id == pinned.config_digest
    assert pushed.digest == pinned.digest == envelope.meta["image_digest"]
    assert _receipt(envelope)["image_digest"] == pinned.digest


def test_unchanged_processor_rebuilds_from_cache_with_the_same_image_id(project: Path) -> None:
    first = build_processor("text/stats@1", root=project)
    second = build_processor("text/stats@1", root=project)
    assert second.image_id == first.image_id
    assert second.cached


def test_push_is_idempotent(project: Path) -> None:
    first = push_processor("demo/echo@1", root=project)
    second = push_processor("demo/echo@1", root=project)
    assert second.digest == first.digest


def test_pin_of_another_processors_digest_fails_and_keeps_the_yaml(
        project: Path, released_project: dict[str, Any]) -> None:
    foreign = released_project["releases"]["text/stats@1"].push.digest
    before = (project / REGISTRY_YAML).read_bytes()
    with pytest.raises((ImageUnavailableError, RegistryMismatchError)):
        pin_processor("demo/echo@1", foreign, verify=True, root=project)
    assert (project / REGISTRY_YAML).read_bytes() == before


def test_pin_of_a_foreign_image_in_the_same_repository_is_a_registry_mismatch(
        project: Path) -> None:
    echo_repo = pin_processor  # noqa: F841 - keep the import list honest
    from runtime.images.build import default_repository
    from runtime.registry.refs import parse_ref

    target = default_repository(parse_ref("demo/echo@1")) + ":foreign"
    foreign = push_processor("text/stats@1", target=target, root=project)
    before = (project / REGISTRY_YAML).read_bytes()
    with pytest.raises(RegistryMismatchError):
        pin_processor("demo/echo@1", foreign.digest, verify=True, root=project)
    assert (project / REGISTRY_YAML).read_bytes() == before


def test_registry_stopped_midway_retries_then_reports_image_unavailable(
        project: Path, scratch_registry: dict[str, Any]) -> None:
    repository = f"{scratch_registry['host']}/processors/demo/echo"
    pushed = push_processor("demo/echo@1", target=f"{repository}:v1", root=project)
    scratch_registry["proc"].terminate()
    scratch_registry["proc"].wait(timeout=10)
    before = (project / REGISTRY_YAML).read_bytes()
    result = run_cli("pin-processor", "--ref", "demo/echo@1", "--oci", pushed.digest,
                     "--repository", repository, "--json",
                     env=cli_env(PROCESSOR_RUNTIME_ROOT=str(project)))
    retries = [event for event in result.events if event["event"] == "registry.retry"]
    assert result.rc == 11
    assert result.envelope["error"]["code"] == "ERR_IMAGE_UNAVAILABLE"
    assert len(retries) >= 1
    assert (project / REGISTRY_YAML).read_bytes() == before


def test_push_to_a_stopped_registry_retries_then_reports_image_unavailable(
        project: Path, scratch_registry: dict[str, Any]) -> None:
    scratch_registry["proc"].terminate()
    scratch_registry["proc"].wait(timeout=10)
    target = f"{scratch_registry['host']}/processors/demo/echo:v1"
    with pytest.raises(ImageUnavailableError) as caught:
        push_processor("demo/echo@1", target=target, root=project)
    assert caught.value.meta["attempts"] > 1
    assert not caught.value.retryable


def test_hanging_container_is_killed_at_the_timeout_and_removed(project: Path) -> None:
    ref = add_processor(project, "test", "hang", """\
        import time
        from runtime.kit import serve

        def handle(ctx):
            time.sleep(3600)

        if __name__ == "__main__":
            raise SystemExit(serve(handle))
    """)
    release(project, ref)
    with pytest.raises(AdapterInvocationError) as caught:
        run_processor(ref, adapter="docker", root=project, timeout_s=1)
    assert caught.value.meta["timed_out"] is True
    assert "exit code 124" in caught.value.message
    assert managed_containers() == []


def _pure_wheel(name: str, version: str, module_source: str) -> bytes:
    """A minimal pure-python wheel (zip) holding one module."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": module_source,
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                         "Tag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    files[f"{dist}/RECORD"] = "\n".join([*record, f"{dist}/RECORD,,"]) + "\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, text in sorted(files.items()):
            archive.writestr(zipfile.ZipInfo(path, (1980, 1, 1, 0, 0, 0)), text)
    return buffer.getvalue()


def test_locked_wheels_are_installed_without_network_during_the_build(project: Path) -> None:
    wheel = _pure_wheel("tinydep", "1.0", 'VALUE = "from a locked wheel"\n')
    (project / "wheelhouse").mkdir()
    (project / "wheelhouse" / "tinydep-1.0-py3-none-any.whl").write_bytes(wheel)
    lock = f"tinydep==1.0 --hash=sha256:{hashlib.sha256(wheel).hexdigest()}\n"
    ref = add_processor(project, "test", "deps", """\
        import tinydep
        from runtime.kit import serve

        def handle(ctx):
            ctx.write_text("value.txt", tinydep.VALUE)

        if __name__ == "__main__":
            raise SystemExit(serve(handle))
    """, extra_files={"requirements.lock": lock})
    release(project, ref)
    envelope = run_processor(ref, adapter="docker", root=project)
    written = Path(envelope.index_path).parent / "outputs" / "value.txt"
    assert written.read_text() == "from a locked wheel"
