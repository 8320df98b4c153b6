import io
import json

import pytest

from runtime.errors import ModalInvocationError, ModalLookupError, ModalTimeoutError
from runtime.logging import configure_logging
from runtime.modal.ops import deploy_modal
from runtime.modal.target import ModalTarget
from runtime.runner import run_processor
from tests.modal_support import OVERRIDE, PARITY_INPUTS, REFS, fake_modal_project

pytestmark = pytest.mark.modal

INPUTS = PARITY_INPUTS


@pytest.fixture
def fake(tmp_path, monkeypatch, request):
    root, server = fake_modal_project(tmp_path, monkeypatch, request)
    server.root = root
    return server


@pytest.fixture
def log_stream():
    stream = io.StringIO()
    configure_logging("info", stream=stream)
    yield stream
    configure_logging("info")


def _events(stream, name):
    return [r for r in map(json.loads, stream.getvalue().splitlines()) if r.get("event") == name]


def _receipt_hashes(envelope, artifacts):
    receipt = json.loads((artifacts / "execution" / envelope.execution_id / "determinism.json")
                         .read_text())
    return {key: receipt[key] for key in ("inputs_sha256", "outputs_sha256", "outputs")}


def test_deploy_and_adapter_compute_the_same_names(fake, tmp_path, log_stream):
    deploy_modal(ModalTarget("demo/echo@1", "dev", branch="Feature/X", user="ana"),
                 image_override=OVERRIDE, root=fake.root)
    run_processor("demo/echo@1", adapter="modal", artifacts_root=tmp_path / "art", root=fake.root,
                  adapter_options={"branch": "Feature/X", "user": "ana"})
    deployed = _events(log_stream, "modal.deploy.start")[0]
    invoked = _events(log_stream, "adapter.invoke.start")[0]
    assert (deployed["app"], deployed["function"]) == (invoked["app"], invoked["function"])
    assert deployed["app"].startswith("feature-x-ana-demo-echo-v1")


@pytest.mark.parametrize("ref", REFS)
def test_modal_run_matches_local_envelope_shape_and_receipt_hashes(fake, tmp_path, ref):
    deploy_modal(ModalTarget(ref, "dev"), image_override=OVERRIDE, root=fake.root)
    local = run_processor(ref, inputs=INPUTS[ref], artifacts_root=tmp_path / "local",
                          root=fake.root)
    remote = run_processor(ref, inputs=INPUTS[ref], adapter="modal",
                           artifacts_root=tmp_path / "modal", root=fake.root)
    assert remote.meta["adapter"] == "modal"
    assert set(remote.model_dump()) == set(local.model_dump())
    assert [o.model_dump() for o in remote.outputs] == [o.model_dump() for o in local.outputs]
    assert _receipt_hashes(remote, tmp_path / "modal") == _receipt_hashes(local, tmp_path / "local")


def test_modal_run_reports_the_deployed_image_digest_in_meta_and_receipt(fake, tmp_path):
    deploy_modal(ModalTarget("demo/echo@1", "dev"), image_override=OVERRIDE, root=fake.root)
    envelope = run_processor("demo/echo@1", adapter="modal", artifacts_root=tmp_path / "art",
                             root=fake.root)
    receipt = json.loads((tmp_path / "art" / "execution" / envelope.execution_id /
                          "determinism.json").read_text())
    assert envelope.meta["image_digest"] == OVERRIDE
    assert receipt["image_digest"] == OVERRIDE


def test_modal_index_path_is_the_host_write_prefix(fake, tmp_path):
    deploy_modal(ModalTarget("demo/echo@1", "dev"), image_override=OVERRIDE, root=fake.root)
    envelope = run_processor("demo/echo@1", adapter="modal", artifacts_root=tmp_path / "art",
                             root=fake.root)
    assert envelope.index_path == str(tmp_path / "art" / "runs" / envelope.execution_id /
                                      "outputs.json")


def test_client_timeout_is_at_least_1_2_times_the_function_timeout(fake, tmp_path, log_stream):
    deploy_modal(ModalTarget("demo/echo@1", "dev"), image_override=OVERRIDE, root=fake.root)
    run_processor("demo/echo@1", adapter="modal", artifacts_root=tmp_path / "art", root=fake.root)
    created = next(r for r in fake.asked if r["rpc"] == "FunctionCreate")
    invoked = _events(log_stream, "adapter.invoke.start")[0]
    assert invoked["function_timeout_s"] == created["timeout_s"]
    assert invoked["client_timeout_s"] >= 1.2 * created["timeout_s"]


def test_one_timeout_is_retried_and_the_second_attempt_succeeds(fake, tmp_path):
    deploy_modal(ModalTarget("demo/echo@1", "dev"), image_override=OVERRIDE, root=fake.root)
    fake.state.plan_fault("call", "TimeoutError", times=1)
    envelope = run_processor("demo/echo@1", adapter="modal", artifacts_root=tmp_path / "art",
                             root=fake.root)
    assert envelope.meta["attempts"] == 2


def test_function_timeout_twice_is_err_modal_timeout_with_elapsed_ms(fake, tmp_path):
    deploy_modal(ModalTarget("demo/echo@1", "dev"), image_override=OVERRIDE, root=fake.root)
    fake.state.plan_fault("call", "FunctionTimeoutError", times=2)
    with pytest.raises(ModalTimeoutError) as caught:
        run_processor("demo/echo@1", adapter="modal", artifacts_root=tmp_path / "art",
                      root=fake.root)
    assert caught.value.meta["attempts"] == 2
    assert "elapsed_ms" in caught.value.meta


def test_remote_user_exception_is_err_modal_invocation_and_not_retried(fake, tmp_path):
    deploy_modal(ModalTarget("demo/echo@1", "dev"), image_override=OVERRIDE, root=fake.root)
    fake.state.plan_fault("call", "ExecutionError", times=1)
    with pytest.raises(ModalInvocationError):
        run_processor("demo/echo@1", adapter="modal", artifacts_root=tmp_path / "art",
                      root=fake.root)
    assert sum(c["op"] == "call_function" for c in fake.state.calls()) == 1


def test_branch_mismatch_is_err_modal_lookup_naming_both_names_and_env(fake, tmp_path):
    deploy_modal(ModalTarget("demo/echo@1", "dev", branch="main-line", user="ana"),
                 image_override=OVERRIDE, root=fake.root)
    with pytest.raises(ModalLookupError) as caught:
        run_processor("demo/echo@1", adapter="modal", artifacts_root=tmp_path / "art",
                      root=fake.root, adapter_options={"branch": "other", "user": "ana"})
    message = caught.value.message
    assert "other-ana-demo-echo-v1" in message
    assert "run_demo_echo_v1" in message
    assert "'dev'" in message
    assert "branch/user mismatch" in message


def test_modal_app_module_imports_with_the_standard_library_only(project_root):
    import subprocess
    import sys

    code = ("import sys, runtime.modal.app; "
            "print(sorted(m for m in ('modal', 'yaml', 'pydantic', 'structlog', 'django') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=project_root, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "[]"
