"""The one fake Modal server is at least as strict as Modal, one behaviour per test, and error
codes survive the round trip through it (the same code and exit code as the local adapter)."""

from __future__ import annotations

import asyncio
import time

import modal
import modal.exception
import pytest
import yaml

from runtime.errors import (
    AdapterInvocationError,
    ImageUnavailableError,
    InputsError,
    ModalTimeoutError,
    ProcessorRuntimeError,
)
from runtime.modal.boundary import SdkBoundary
from runtime.modal.ops import deploy_modal, sync_modal_secrets
from runtime.runner import run_processor
from runtime.testing.fake_server import FakeModalServer
from tests.fixtures.project import build_fixture_root, fixture_ref
from tests.modal_support import OVERRIDE, fake_modal_project

pytestmark = pytest.mark.modal


@pytest.fixture
def fake(tmp_path, monkeypatch, request):
    root, server = fake_modal_project(tmp_path, monkeypatch, request)
    server.root = root
    return server


def test_150_secrets_are_listed_through_the_sdks_paging(fake):
    for number in range(150):
        fake.state.create_secret(f"S{number:03d}", {"K": "v"}, environment_name="staging")
    names = SdkBoundary().list_secret_names(environment_name="staging")
    assert names == sorted(f"S{number:03d}" for number in range(150))
    pages = [r for r in fake.asked if r["rpc"] == "SecretList"]
    assert [p["max_objects"] for p in pages] == [100, 100]
    assert 0 < pages[1]["created_before"] < pages[0]["created_before"]


def test_a_secret_update_without_a_value_deletes_the_key(fake):
    from grpclib.client import Channel
    from modal_proto import api_grpc, api_pb2

    fake.state.create_secret("S", {"KEEP": "1", "DROP": "2"}, environment_name="dev")
    secret_id = modal.Secret.from_name("S", environment_name="dev").hydrate().object_id

    async def update() -> None:
        channel = Channel(path=str(fake.path))
        try:
            stub = api_grpc.ModalClientStub(channel)
            # A raw call authenticates as the SDK does: the fake refuses anything else.
            identity = {"x-modal-client-type": str(api_pb2.CLIENT_TYPE_CLIENT),
                        "x-modal-token-id": fake.token_id,
                        "x-modal-token-secret": fake.token_secret}
            await stub.SecretUpdate(api_pb2.SecretUpdateRequest(
                secret_id=secret_id, updates=[api_pb2.SecretUpdateRequest.Update(key="DROP")]),
                metadata=identity)
        finally:
            channel.close()

    asyncio.run(update())
    assert fake.state.secret_values("S", environment_name="dev") == {"KEEP": "1"}


def test_looking_up_a_never_created_volume_is_not_found(fake):
    with pytest.raises(modal.exception.NotFoundError):
        modal.Volume.from_name("never-created", environment_name="dev").hydrate()


def test_creating_a_volume_if_missing_makes_it_exist(fake):
    modal.Volume.from_name("made", environment_name="dev", create_if_missing=True).hydrate()
    assert fake.state.volume_exists("dev", "made")


def test_listing_a_missing_volume_path_raises_not_found(fake):
    volume = modal.Volume.from_name("v", environment_name="dev", create_if_missing=True).hydrate()
    with pytest.raises(modal.exception.NotFoundError):
        volume.listdir("runs/missing", recursive=True)


def test_the_volume_read_copies_nothing_for_a_missing_folder(fake, tmp_path):
    modal.Volume.from_name("v", environment_name="dev", create_if_missing=True).hydrate()
    copied = SdkBoundary().fetch_volume("v", environment_name="dev", remote_dir="runs/none",
                                        local_dir=tmp_path / "out")
    assert copied == 0
    assert not (tmp_path / "out").exists()


def test_the_volume_read_of_a_missing_volume_still_raises(fake, tmp_path):
    with pytest.raises(modal.exception.NotFoundError):
        SdkBoundary().fetch_volume("never-created", environment_name="dev", remote_dir="runs/x",
                                   local_dir=tmp_path / "out")


def test_a_file_larger_than_one_block_is_read_whole_over_the_block_store(fake, tmp_path):
    from modal._utils.blob_utils import BLOCK_SIZE

    modal.Volume.from_name("v", environment_name="dev", create_if_missing=True).hydrate()
    data = bytes(range(256)) * (BLOCK_SIZE // 256 + 17)
    (fake.state.volume_dir("dev", "v") / "runs" / "big").mkdir(parents=True)
    (fake.state.volume_dir("dev", "v") / "runs" / "big" / "blob.bin").write_bytes(data)
    SdkBoundary().fetch_volume("v", environment_name="dev", remote_dir="runs/big",
                               local_dir=tmp_path / "out")
    assert (tmp_path / "out" / "blob.bin").read_bytes() == data


def test_a_failed_image_build_surfaces_as_err_image_unavailable(fake):
    fake.state.plan_fault("image_build", "RemoteError", message="layer pull failed")
    with pytest.raises(ImageUnavailableError) as caught:
        deploy_modal("demo/echo@1", env="dev", image_override=OVERRIDE, root=fake.root)
    assert "layer pull failed" in caught.value.message
    assert "AppPublish" not in fake.rpcs


def test_the_image_build_is_joined_not_assumed(fake):
    deploy_modal("demo/echo@1", env="dev", image_override=OVERRIDE, root=fake.root)
    assert "ImageJoinStreaming" in fake.rpcs


def test_secrets_sync_through_the_paged_listing_updates_what_exists(fake):
    environ = {"ACME_API_KEY": "k", "ACME_ORG_ID": "o"}
    sync_modal_secrets(env="staging", environ=environ, root=fake.root)
    again = sync_modal_secrets(env="staging", environ=environ, root=fake.root)
    assert [row["action"] for row in again["secrets"]] == ["updated", "updated"]


# -- error codes survive the round trip: the same code and exit code as the local adapter ----

@pytest.fixture(scope="module")
def fixture_world(tmp_path_factory):
    root = build_fixture_root(tmp_path_factory.mktemp("fixture-root"))
    # The hang under a registry limit well above --timeout-s 2, so only the client's wait can
    # end it in seconds (under its own 1 s limit the entry's kill would end it first).
    registry = root / "registry" / "processors.yaml"
    document = yaml.safe_load(registry.read_text())
    document["processors"]["fixture/hang"]["versions"]["1"]["timeout_s"] = 60
    registry.write_text(yaml.safe_dump(document))
    with FakeModalServer(tmp_path_factory.mktemp("fake-modal"), source_root=root) as server:
        with pytest.MonkeyPatch.context() as patch:
            for key, value in server.environ().items():
                patch.setenv(key, value)
            for name in ("reports_inputs_error", "handler_raises", "hang"):
                deploy_modal(fixture_ref(name), env="dev",
                             image_override=f"127.0.0.1:5000/fixtures@{OVERRIDE}", root=root)
        yield root, server


def _error(adapter, ref, root, tmp_path, monkeypatch, server, **kwargs) -> ProcessorRuntimeError:
    for key, value in server.environ().items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ProcessorRuntimeError) as caught:
        run_processor(ref, adapter=adapter, artifacts_root=tmp_path / adapter, root=root, **kwargs)
    return caught.value


@pytest.mark.parametrize(("name", "expected"), [("reports_inputs_error", InputsError),
                                                ("handler_raises", AdapterInvocationError)])
def test_a_processors_own_error_keeps_its_code_through_modal(name, expected, fixture_world,
                                                             tmp_path, monkeypatch):
    root, server = fixture_world
    local = _error("local", fixture_ref(name), root, tmp_path, monkeypatch, server)
    remote = _error("modal", fixture_ref(name), root, tmp_path, monkeypatch, server)
    assert type(local) is expected
    assert (remote.code, remote.exit_code) == (local.code, local.exit_code)


def test_timeout_s_2_on_a_hanging_processor_is_err_modal_timeout_in_seconds(
        fixture_world, tmp_path, monkeypatch):
    root, server = fixture_world
    started = time.monotonic()
    error = _error("modal", fixture_ref("hang"), root, tmp_path, monkeypatch, server, timeout_s=2)
    elapsed = time.monotonic() - started
    assert isinstance(error, ModalTimeoutError)
    assert error.meta["attempts"] == 2  # the one retry of a timeout
    assert elapsed < 30
    assert server.rpcs.count("FunctionCallCancel") == 2
    # A cancelled input stops (asynchronously, on the server's side), as Modal stops its container.
    deadline = time.monotonic() + 10
    while _running("hang/main.py") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _running("hang/main.py") == []


def _running(fragment: str) -> list[str]:
    from pathlib import Path

    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if fragment in text and str(Path(__file__).resolve().parents[1]) in text:
            found.append(text)
    return found


# -- the container side: as strict as Modal's worker ----------------------------------------------
class _Stream:
    """The two calls a grpclib handler makes on its stream."""

    def __init__(self, message):
        self.message = message
        self.sent = []

    async def recv_message(self):
        return self.message

    async def send_message(self, message):
        self.sent.append(message)


def _task_channel():
    from modal_proto import api_pb2

    from runtime.testing._container import ContainerChannel, Task

    task = Task(task_id="ta-1", function_id="fu-1", app_id="ap-1", environment_name="dev",
                function_def=api_pb2.Function(), volume_ids=frozenset({"vo-dev-artifacts"}))
    item = api_pb2.FunctionGetInputsItem(input_id="in-1", function_call_id="fc-1")
    task.pending.append(item)
    return task, ContainerChannel(object(), task)  # the container-side calls need no servicer


def _refused(handler, message):
    from grpclib import GRPCError

    async def call():
        future = asyncio.get_running_loop().create_future()
        task.outputs["in-1"] = future
        with pytest.raises(GRPCError) as refused:
            await handler(_Stream(message))
        return refused.value.status.name

    task = handler.__self__.task
    return asyncio.run(call())


def test_a_task_is_not_handed_inputs_of_another_function():
    from modal_proto import api_pb2

    _, channel = _task_channel()
    request = api_pb2.FunctionGetInputsRequest(function_id="fu-other", input_concurrency=1)
    assert _refused(channel.FunctionGetInputs, request) == "NOT_FOUND"


def test_an_output_for_an_input_the_task_was_not_handed_is_refused():
    from modal_proto import api_pb2

    _, channel = _task_channel()
    request = api_pb2.FunctionPutOutputsRequest(outputs=[api_pb2.FunctionPutOutputsItem(
        input_id="in-1", function_call_id="fc-1", result=api_pb2.GenericResult())])
    assert _refused(channel.FunctionPutOutputs, request) == "NOT_FOUND"  # pending, not leased


def test_an_output_naming_another_call_is_refused():
    from modal_proto import api_pb2

    task, channel = _task_channel()
    task.leased["in-1"] = task.pending.pop()
    request = api_pb2.FunctionPutOutputsRequest(outputs=[api_pb2.FunctionPutOutputsItem(
        input_id="in-1", function_call_id="fc-other", result=api_pb2.GenericResult())])
    assert _refused(channel.FunctionPutOutputs, request) == "INVALID_ARGUMENT"


def test_a_task_commits_only_volumes_its_function_mounts():
    from modal_proto import api_pb2

    _, channel = _task_channel()
    request = api_pb2.VolumeCommitRequest(volume_id="vo-dev-other")
    assert _refused(channel.VolumeCommit, request) == "NOT_FOUND"


def test_a_container_stops_only_its_own_task():
    from modal_proto import api_pb2

    _, channel = _task_channel()
    request = api_pb2.ContainerStopRequest(task_id="ta-other")
    assert _refused(channel.ContainerStop, request) == "NOT_FOUND"


def test_container_calls_on_the_servers_own_socket_are_refused(fake):
    from google.protobuf import empty_pb2
    from grpclib import GRPCError
    from grpclib.client import Channel
    from modal_proto import api_grpc, api_pb2

    async def hello() -> None:
        channel = Channel(path=str(fake.path))
        try:
            identity = {"x-modal-client-type": str(api_pb2.CLIENT_TYPE_CONTAINER)}
            await api_grpc.ModalClientStub(channel).ContainerHello(empty_pb2.Empty(),
                                                                  metadata=identity)
        finally:
            channel.close()

    with pytest.raises(GRPCError) as refused:
        asyncio.run(hello())
    assert refused.value.status.name == "PERMISSION_DENIED"


def test_each_input_runs_modals_container_entrypoint_in_a_task_of_its_own(fake, tmp_path):
    deploy_modal("demo/echo@1", env="dev", image_override=OVERRIDE, root=fake.root)
    for number in range(2):
        run_processor("demo/echo@1", adapter="modal", artifacts_root=tmp_path / f"a{number}",
                      root=fake.root)
    tasks = list(fake.servicer.tasks.values())
    assert len(tasks) == 2
    for task in tasks:
        assert task.rpcs[0] == "ContainerHello"
        assert task.rpcs.count("FunctionPutOutputs") == 1
        assert "VolumeCommit" in task.rpcs
        assert (task.function_def.module_name, task.function_def.implementation_name) == (
            "runtime.modal.app", "modal_function")
    # The container's calls are its task's, not the client's.
    assert "ContainerHello" not in fake.rpcs


def test_the_host_worker_imports_the_function_from_the_image_files_only(tmp_path, monkeypatch):
    # The host-subprocess worker stages what an image carries, never the checkout: staged from
    # a content list without runtime/modal/naming.py, the deployed function cannot import and
    # the run fails canonically, naming the module.
    from runtime.errors import ModalInvocationError
    from runtime.images.content import image_paths
    from runtime.paths import checkout_root
    from tests.modal_support import pinned_project

    root = pinned_project(tmp_path / "project")
    paths = [p for p in image_paths(checkout_root()) if p != "runtime/modal/naming.py"]
    with FakeModalServer(tmp_path / "fake-modal", source_root=root, worker="host",
                         image_paths=paths) as server:
        for key, value in server.environ().items():
            monkeypatch.setenv(key, value)
        deploy_modal("demo/echo@1", env="dev", image_override=OVERRIDE, root=root)
        with pytest.raises(ModalInvocationError) as failed:
            run_processor("demo/echo@1", adapter="modal", artifacts_root=tmp_path / "art",
                          root=root)
        task = next(iter(server.servicer.tasks.values()))
    assert "No module named 'runtime.modal.naming'" in failed.value.message
    assert "TaskResult" in task.rpcs
