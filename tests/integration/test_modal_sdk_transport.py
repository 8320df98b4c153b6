"""The modal path through the real ``modal`` SDK against the one fake Modal server.

Deploy, lookup, invocation, the volume read, secrets and the ops run the installed SDK's own code
(hydration, spawn, FunctionCall.get, serialization, paging, block downloads, status-to-exception
mapping) against :class:`runtime.testing.fake_server.FakeModalServer`, which the SDK reaches
through its own ``MODAL_SERVER_URL`` setting.
"""

import json

import modal.exception
import pytest

from runtime.errors import ModalInvocationError, ModalLookupError, ModalTimeoutError
from runtime.modal.boundary import SdkBoundary, get_boundary
from runtime.modal.naming import modal_app_name_from_ref, modal_function_name
from runtime.modal.ops import (
    deploy_modal,
    destroy_modal,
    modal_logs,
    modal_status,
    sync_modal_secrets,
)
from runtime.modal.target import ModalTarget
from runtime.registry.refs import parse_ref
from runtime.runner import run_processor
from tests.modal_support import (
    DIGEST,
    OVERRIDE,
    PARITY_INPUTS,
    PLANTED,
    REFS,
    REPOSITORY,
    fake_modal_project,
)

pytestmark = pytest.mark.modal

INPUTS = PARITY_INPUTS


@pytest.fixture
def transport(tmp_path, monkeypatch, request):
    root, server = fake_modal_project(tmp_path, monkeypatch, request)
    sdk = SdkBoundary()
    server.root, server.fake = root, server.state
    server.lookup_function, server.call_function = sdk.lookup_function, sdk.call_function
    return server


def _receipt_hashes(envelope, artifacts):
    receipt = json.loads((artifacts / "execution" / envelope.execution_id / "determinism.json")
                         .read_text())
    return {key: receipt[key] for key in ("inputs_sha256", "outputs_sha256", "outputs")}


def test_the_sdks_own_server_url_points_the_production_boundary_at_the_fake(transport):
    assert type(get_boundary()) is SdkBoundary
    with pytest.raises(modal.exception.NotFoundError):
        get_boundary().lookup_function("nope", "run_x_v1", environment_name="dev")
    assert transport.rpcs == ["FunctionGet"]


def test_missing_function_is_err_modal_lookup_from_the_sdks_not_found_error(transport, tmp_path):
    with pytest.raises(ModalLookupError) as caught:
        run_processor("demo/echo@1", adapter="modal", artifacts_root=tmp_path / "art",
                      root=transport.root)
    assert type(caught.value.__cause__) is modal.exception.NotFoundError
    assert "Lookup failed for Function 'run_demo_echo_v1'" in str(caught.value.__cause__)
    assert transport.rpcs == ["FunctionGet"]


@pytest.mark.parametrize("ref", REFS)
def test_sdk_run_matches_local_envelope_shape_and_receipt_hashes(transport, tmp_path, ref):
    deploy_modal(ModalTarget(ref, "dev"), image_override=OVERRIDE, root=transport.root)
    local = run_processor(ref, inputs=INPUTS[ref], artifacts_root=tmp_path / "local",
                          root=transport.root)
    remote = run_processor(ref, inputs=INPUTS[ref], adapter="modal",
                           artifacts_root=tmp_path / "modal", root=transport.root)
    assert remote.meta["modal_server"] == transport.url
    assert set(remote.model_dump()) == set(local.model_dump())
    assert [o.model_dump() for o in remote.outputs] == [o.model_dump() for o in local.outputs]
    assert _receipt_hashes(remote, tmp_path / "modal") == _receipt_hashes(local, tmp_path / "local")


def test_sdk_invocation_sends_function_get_map_and_get_outputs(transport, tmp_path):
    deploy_modal(ModalTarget("demo/echo@1", "dev"), image_override=OVERRIDE, root=transport.root)
    deployed = len(transport.rpcs)
    run_processor("demo/echo@1", adapter="modal", artifacts_root=tmp_path / "art",
                  root=transport.root)
    # ... then the volume read: the run's folder, then its execution/<id> receipt folder.
    rpcs = transport.rpcs[deployed:]
    assert rpcs[:3] == ["FunctionGet", "FunctionMap", "FunctionGetOutputs"]
    assert rpcs[3] == "VolumeGetOrCreate"
    assert rpcs.count("VolumeListFiles2") == 2
    assert set(rpcs[4:]) == {"VolumeGetOrCreate", "VolumeListFiles2", "VolumeGetFile2"}


def test_function_timeout_status_twice_is_err_modal_timeout_with_elapsed_ms(transport, tmp_path):
    deploy_modal(ModalTarget("demo/echo@1", "dev"), image_override=OVERRIDE, root=transport.root)
    transport.fake.plan_fault("call", "FunctionTimeoutError", times=2)
    with pytest.raises(ModalTimeoutError) as caught:
        run_processor("demo/echo@1", adapter="modal", artifacts_root=tmp_path / "art",
                      root=transport.root)
    assert type(caught.value.__cause__) is modal.exception.FunctionTimeoutError
    assert caught.value.meta["attempts"] == 2
    assert "elapsed_ms" in caught.value.meta


def test_remote_failure_status_is_err_modal_invocation(transport, tmp_path):
    deploy_modal(ModalTarget("demo/echo@1", "dev"), image_override=OVERRIDE, root=transport.root)
    transport.fake.plan_fault("call", "ExecutionError", times=1)
    with pytest.raises(ModalInvocationError) as caught:
        run_processor("demo/echo@1", adapter="modal", artifacts_root=tmp_path / "art",
                      root=transport.root)
    assert type(caught.value.__cause__) is modal.exception.RemoteError


def test_no_output_within_the_client_wait_is_the_builtin_timeout_and_cancels(transport):
    deploy_modal(ModalTarget("demo/echo@1", "dev"), image_override=OVERRIDE, root=transport.root)
    ref = parse_ref("demo/echo@1")
    handle = transport.lookup_function(modal_app_name_from_ref(ref, "dev", None, None),
                                       modal_function_name(ref), environment_name="dev")
    transport.fake.plan_fault("call", "TimeoutError", times=1)
    with pytest.raises(TimeoutError) as caught:
        transport.call_function(handle, {"execution_id": "x"}, timeout_s=0.2)
    assert not isinstance(caught.value, modal.exception.Error)
    assert transport.rpcs[-1] == "FunctionCallCancel"


def _asked(transport, rpc):
    return [record for record in transport.asked if record["rpc"] == rpc]


def test_sdk_deploy_records_the_computed_app_function_and_pinned_image(transport):
    ref = parse_ref("demo/echo@1")
    result = deploy_modal(ModalTarget("demo/echo@1", "dev"), root=transport.root)
    app_name = modal_app_name_from_ref(ref, "dev", None, None)
    image = f"{REPOSITORY.format(ns='demo', name='echo')}@{DIGEST}"
    assert result["modal_server"] == transport.url
    assert _asked(transport, "AppCreate") == [{"rpc": "AppCreate", "app": app_name,
                                               "environment": "dev"}]
    [function] = _asked(transport, "FunctionCreate")
    assert (function["function_name"], function["image"]) == (modal_function_name(ref), image)
    assert _asked(transport, "ImageGetOrCreate")[0]["dockerfile_commands"][0] == f"FROM {image}"
    [publish] = _asked(transport, "AppPublish")
    assert (publish["app"], publish["functions"]) == (app_name, [modal_function_name(ref)])


def test_sdk_deploy_resolves_the_registry_secrets_by_name(transport):
    deploy_modal(ModalTarget("acme/summarize@1", "dev"), image_override=OVERRIDE, root=transport.root)
    named = [r["name"] for r in _asked(transport, "SecretGetOrCreate") if "name" in r]
    assert sorted(named) == ["ACME_API_KEY", "ACME_ORG_ID"]
    [function] = _asked(transport, "FunctionCreate")
    assert function["secrets"] == ["ACME_API_KEY", "ACME_ORG_ID"]


def test_sdk_deployed_function_is_found_and_run_like_the_local_adapter(transport, tmp_path):
    deploy_modal(ModalTarget("demo/echo@1", "dev"), root=transport.root)
    deployed = len(transport.rpcs)
    local = run_processor("demo/echo@1", inputs=INPUTS["demo/echo@1"],
                          artifacts_root=tmp_path / "local", root=transport.root)
    remote = run_processor("demo/echo@1", inputs=INPUTS["demo/echo@1"], adapter="modal",
                           artifacts_root=tmp_path / "modal", root=transport.root)
    assert "AppPublish" in transport.rpcs[:deployed]
    assert transport.rpcs[deployed] == "FunctionGet"
    assert _receipt_hashes(remote, tmp_path / "modal") == _receipt_hashes(local, tmp_path / "local")


def test_sdk_deploy_with_a_missing_secret_is_err_modal_invocation_from_not_found(transport):
    with pytest.raises(ModalInvocationError) as caught:
        deploy_modal(ModalTarget("acme/summarize@1", "staging"), root=transport.root)
    assert type(caught.value.__cause__) is modal.exception.NotFoundError
    assert "ACME_API_KEY" in str(caught.value) or "ACME_ORG_ID" in str(caught.value)
    assert "AppPublish" not in transport.rpcs


def test_sdk_secrets_sync_creates_then_updates_by_name(transport):
    environ = {"ACME_API_KEY": PLANTED + "-key", "ACME_ORG_ID": PLANTED + "-org"}
    first = sync_modal_secrets(ModalTarget(None, "staging"), environ=environ, root=transport.root)
    second = sync_modal_secrets(ModalTarget(None, "staging"), environ=environ, root=transport.root)
    assert [row["action"] for row in first["secrets"]] == ["created", "created"]
    assert [row["action"] for row in second["secrets"]] == ["updated", "updated"]
    assert [r["name"] for r in _asked(transport, "SecretUpdate")] == ["ACME_API_KEY", "ACME_ORG_ID"]
    assert "SecretList" in transport.rpcs


def test_sdk_secrets_sync_sends_values_only_in_create_and_update_payloads(transport):
    environ = {"ACME_API_KEY": PLANTED + "-key", "ACME_ORG_ID": PLANTED + "-org"}
    for _ in range(2):
        sync_modal_secrets(ModalTarget(None, "staging"), environ=environ, root=transport.root)
    carrying = [r for r in transport.asked if PLANTED in json.dumps(r)]
    assert [(r["rpc"], r["name"]) for r in carrying] == [
        ("SecretGetOrCreate", "ACME_API_KEY"), ("SecretGetOrCreate", "ACME_ORG_ID"),
        ("SecretUpdate", "ACME_API_KEY"), ("SecretUpdate", "ACME_ORG_ID")]
    assert all(r["values"] == {r["name"]: environ[r["name"]]} for r in carrying)


def _ops_deployed(transport, tmp_path):
    deploy_modal(ModalTarget("demo/echo@1", "dev"), image_override=OVERRIDE, root=transport.root)
    return len(transport.rpcs)


def test_sdk_status_reports_the_deployed_apps_state_functions_and_version(transport, tmp_path):
    deployed = _ops_deployed(transport, tmp_path)
    status = modal_status(ModalTarget("demo/echo@1", "dev"), root=transport.root)
    [publish] = _asked(transport, "AppPublish")
    assert (status["state"], status["version"]) == ("deployed", 1)
    assert list(status["functions"]) == publish["functions"]
    assert status["functions"][publish["functions"][0]].startswith("fu-")
    assert status["deployed_at"] is not None
    assert status["modal_server"] == transport.url
    assert status["image_digest"] == OVERRIDE  # from the tags deploy attached (AppGetTags)
    assert status["revision"] == 1
    assert transport.rpcs[deployed:] == ["AppGetOrCreate", "AppGetInfo", "AppGetTags"]


def test_sdk_status_of_an_undeployed_app_is_err_modal_lookup_from_not_found(transport):
    with pytest.raises(ModalLookupError) as caught:
        modal_status(ModalTarget("demo/echo@1", "dev"), root=transport.root)
    assert type(caught.value.__cause__) is modal.exception.NotFoundError
    assert transport.rpcs == ["AppGetOrCreate"]


def test_sdk_destroy_then_status_is_err_modal_lookup_from_not_found(transport, tmp_path):
    deployed = _ops_deployed(transport, tmp_path)
    destroyed = destroy_modal(ModalTarget("demo/echo@1", "dev"), root=transport.root)
    with pytest.raises(ModalLookupError) as caught:
        modal_status(ModalTarget("demo/echo@1", "dev"), root=transport.root)
    assert destroyed["status"] == "stopped"
    assert type(caught.value.__cause__) is modal.exception.NotFoundError
    assert transport.rpcs[deployed:] == ["AppGetOrCreate", "AppStop", "AppGetOrCreate"]


def test_sdk_destroy_stops_the_app_in_the_shared_fake_state(transport, tmp_path):
    _ops_deployed(transport, tmp_path)
    app_id = transport.fake.deployed_app_id(_echo_app(), environment_name="dev")
    destroy_modal(ModalTarget("demo/echo@1", "dev"), root=transport.root)
    assert transport.fake.deployed_app_id(_echo_app(), environment_name="dev") is None
    assert transport.fake.app_by_id(app_id)["state"] == "stopped"


def test_sdk_logs_of_a_fresh_app_are_an_empty_list(transport, tmp_path):
    deployed = _ops_deployed(transport, tmp_path)
    logs = modal_logs(ModalTarget("demo/echo@1", "dev"), entries=5, root=transport.root)
    assert logs["entries"] == []
    assert set(transport.rpcs[deployed:]) == {"AppGetOrCreate", "AppFetchLogs"}


def test_sdk_logs_return_the_containers_stderr_lines_after_a_run(transport, tmp_path):
    _ops_deployed(transport, tmp_path)
    run_processor("demo/echo@1", adapter="modal", artifacts_root=tmp_path / "art",
                  root=transport.root)
    logs = modal_logs(ModalTarget("demo/echo@1", "dev"), entries=100, root=transport.root)
    assert any("processor.start" in entry["message"] for entry in logs["entries"])
    assert {entry["source"] for entry in logs["entries"]} == {"stderr"}
    assert all(entry["timestamp"] for entry in logs["entries"])


def test_sdk_logs_return_at_most_the_requested_number_of_entries(transport, tmp_path):
    _ops_deployed(transport, tmp_path)
    run_processor("demo/echo@1", adapter="modal", artifacts_root=tmp_path / "art",
                  root=transport.root)
    logs = modal_logs(ModalTarget("demo/echo@1", "dev"), entries=1, root=transport.root)
    assert len(logs["entries"]) == 1


def _echo_app():
    return modal_app_name_from_ref(parse_ref("demo/echo@1"), "dev", None, None)
