"""A Docker Engine that does not answer is one canonical error, never a traceback."""

from __future__ import annotations

from tests.helpers import cli_env, run_cli

OVERRIDE = "127.0.0.1:5000/processors/demo/echo@sha256:" + "0" * 64


def test_unreachable_engine_is_image_unavailable_naming_docker_host_and_infra_up(tmp_path):
    result = run_cli("run-processor", "--ref", "demo/echo@1", "--adapter", "docker",
                     "--image-override", OVERRIDE, "--json", "--artifacts-root", str(tmp_path),
                     env=cli_env(DOCKER_HOST=f"unix://{tmp_path}/no-engine.sock"))
    envelope = result.envelope
    assert result.rc == 11
    assert envelope["error"]["code"] == "ERR_IMAGE_UNAVAILABLE"
    assert "DOCKER_HOST" in envelope["error"]["message"]
    assert "inv infra.up" in envelope["error"]["message"]
    assert "Traceback" not in result.stderr


def test_pin_processor_rejects_a_malformed_digest_before_any_network_call(tmp_path):
    result = run_cli("pin-processor", "--ref", "demo/echo@1", "--oci", "sha256:abc", "--json")
    assert result.rc == 2
    assert result.envelope["error"]["code"] == "ERR_INPUTS"
