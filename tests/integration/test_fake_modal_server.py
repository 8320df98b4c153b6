"""The one fake Modal server is at least as strict as Modal, one behaviour per test, and error
codes survive the round trip through it (the same code and exit code as the local adapter)."""

from __future__ import annotations

import asyncio
import itertools
import json
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
from runtime.modal.target import ModalTarget
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


def test_secrets_created_faster_than_the_clock_ticks_are_all_listed(fake, monkeypatch):
    # A clock that moves 1 µs per reading: creation times must stay the clock's (never ahead
    # of it, or the SDK's first page, created_before = now, leaves the newest out) and
    # strictly increasing (or paging on created_at skips one).
    import runtime.testing._state as state_module

    class SlowClock:
        now = time.time()

        def time(self) -> float:
            self.now += 1e-6
            return self.now

        def sleep(self, seconds: float) -> None:
            self.now += seconds

    clock = SlowClock()
    monkeypatch.setattr(state_module, "time", clock)
    for number in range(150):
        fake.state.create_secret(f"T{number:03d}", {"K": "v"}, environment_name="slow-clock")
    rows = fake.state.secret_page("slow-clock", created_before=clock.time(), limit=1000)
    assert [name for name, _ in reversed(rows)] == [f"T{number:03d}" for number in range(150)]
    created = [row[1] for row in reversed(rows)]
    assert all(a < b for a, b in itertools.pairwise(created))


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
        deploy_modal(ModalTarget("demo/echo@1", "dev"), image_override=OVERRIDE, root=fake.root)
    assert "layer pull failed" in caught.value.message
    assert "AppPublish" not in fake.rpcs


def test_the_image_build_is_joined_not_assumed(fake):
    deploy_modal(ModalTarget("demo/echo@1", "dev"), image_override=OVERRIDE, root=fake.root)
    assert "ImageJoinStreaming" in fake.rpcs


def test_secrets_sync_through_the_paged_listing_updates_what_exists(fake):
    environ = {"ACME_API_KEY": "k", "ACME_ORG_ID": "o"}
    sync_modal_secrets(ModalTarget(None, "staging"), environ=environ, root=fake.root)
    again = sync_modal_secrets(ModalTarget(None, "staging"), environ=environ, root=fake.root)
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
                deploy_modal(ModalTarget(fixture_ref(name), "dev"),
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


# -- the map protocol (Function.map / spawn_map), as strict as Modal's server ----------------

def _echo_payload(n: int) -> dict:
    return {"execution_id": f"map-{n:06d}", "ref": "demo/echo@1", "mode": "mock",
            "inputs": {"message": f"m{n}"}, "write_prefix": f"/artifacts/runs/map-{n:06d}",
            "artifacts_root": "/artifacts"}


@pytest.fixture
def echo(fake):
    """The fake with demo/echo deployed; returns its hydrated function handle."""
    from runtime.modal.naming import modal_app_name_from_ref, modal_function_name

    deploy_modal(ModalTarget("demo/echo@1", "dev"), image_override=OVERRIDE, root=fake.root)
    return SdkBoundary().lookup_function(modal_app_name_from_ref("demo/echo@1", "dev"),
                                         modal_function_name("demo/echo@1"),
                                         environment_name="dev")


async def _payloads(count: int):
    for n in range(count):
        yield _echo_payload(n)


def test_a_map_is_one_map_call_with_its_inputs_put_and_outputs_in_input_order(fake, echo):
    results = list(SdkBoundary().map_function(echo, _payloads(5)))
    assert [r["rc"] for r in results] == [0] * 5
    assert [json.loads(r["stdout"])["execution_id"] for r in results] == [
        f"map-{n:06d}" for n in range(5)]
    assert fake.rpcs.count("FunctionMap") == 1
    assert fake.rpcs.count("FunctionPutInputs") >= 1
    (call,) = fake.servicer.calls.values()
    assert call.is_map
    assert sorted(call.payloads) == list(range(5))


def test_map_outputs_are_paged_by_last_entry_id(fake, echo):
    fake.servicer.outputs_page = 2
    results = list(SdkBoundary().map_function(echo, _payloads(5)))
    assert len(results) == 5
    assert max(fake.servicer.pages) <= 2
    assert sum(fake.servicer.pages[:-1]) == 5  # the last read is the SDK's closing clear
    (call,) = fake.servicer.calls.values()
    assert call.entries == []


def test_a_failed_map_input_comes_back_as_its_exception_in_place(fake, echo):
    async def payloads():
        yield _echo_payload(0)
        yield {"not": "a payload"}  # the in-container entry refuses it
        yield _echo_payload(2)

    results = list(SdkBoundary().map_function(echo, payloads()))
    assert isinstance(results[0], dict)
    assert isinstance(results[2], dict)
    assert isinstance(results[1], BaseException)


def _stub_call(fake, coroutine):
    """Run ``coroutine(stub)`` on a raw channel that identifies itself as the SDK's client does
    (client type and this server's token), so the server judges the request, not the caller."""
    from grpclib.client import Channel
    from grpclib.events import SendRequest, listen
    from modal_proto import api_grpc, api_pb2

    from runtime.testing._container import CLIENT_TYPE_HEADER

    async def identify(event):
        event.metadata[CLIENT_TYPE_HEADER] = str(api_pb2.CLIENT_TYPE_CLIENT)
        event.metadata["x-modal-token-id"] = fake.token_id
        event.metadata["x-modal-token-secret"] = fake.token_secret

    async def run():
        channel = Channel(path=str(fake.path))
        listen(channel, SendRequest, identify)
        try:
            return await coroutine(api_grpc.ModalClientStub(channel))
        finally:
            channel.close()

    return asyncio.run(run())


def _put_item(idx: int, payload: dict):
    from modal._serialization import serialize
    from modal_proto import api_pb2

    return api_pb2.FunctionPutInputsItem(idx=idx, input=api_pb2.FunctionInput(
        args=serialize(((payload,), {})), data_format=api_pb2.DATA_FORMAT_PICKLE))


def _open_map(stub, function_id, **extra):
    from modal_proto import api_pb2

    return stub.FunctionMap(api_pb2.FunctionMapRequest(
        function_id=function_id, function_call_type=api_pb2.FUNCTION_CALL_TYPE_MAP,
        function_call_invocation_type=api_pb2.FUNCTION_CALL_INVOCATION_TYPE_SYNC, **extra))


def _grpc_status(fake, coroutine):
    from grpclib import GRPCError

    with pytest.raises(GRPCError) as caught:
        _stub_call(fake, coroutine)
    _settled(fake)
    return caught.value.status


def _settled(fake, within_s: float = 30) -> None:
    """Wait until every input the test started has finished (none is left to the teardown)."""
    deadline = time.monotonic() + within_s
    while any(not task.done() for task in list(fake.servicer.inputs.values())):
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_a_function_put_inputs_of_more_inputs_than_the_sdk_sends_is_refused(fake, echo):
    from grpclib import Status
    from modal_proto import api_pb2

    async def oversized(stub):
        opened = await _open_map(stub, echo.object_id)
        await stub.FunctionPutInputs(api_pb2.FunctionPutInputsRequest(
            function_id=echo.object_id, function_call_id=opened.function_call_id,
            inputs=[_put_item(i, _echo_payload(i)) for i in range(50)]))

    assert _grpc_status(fake, oversized) == Status.INVALID_ARGUMENT
    assert not fake.servicer.inputs  # nothing of the refused request runs


def test_an_input_index_sent_twice_is_refused(fake, echo):
    from grpclib import Status
    from modal_proto import api_pb2

    async def twice(stub):
        opened = await _open_map(stub, echo.object_id)
        for _ in range(2):
            await stub.FunctionPutInputs(api_pb2.FunctionPutInputsRequest(
                function_id=echo.object_id, function_call_id=opened.function_call_id,
                inputs=[_put_item(0, _echo_payload(0))]))

    assert _grpc_status(fake, twice) == Status.INVALID_ARGUMENT


def test_inputs_for_an_unknown_map_call_are_not_found(fake, echo):
    from grpclib import Status
    from modal_proto import api_pb2

    async def unknown(stub):
        await stub.FunctionPutInputs(api_pb2.FunctionPutInputsRequest(
            function_id=echo.object_id, function_call_id="fc-999999",
            inputs=[_put_item(0, _echo_payload(0))]))

    assert _grpc_status(fake, unknown) == Status.NOT_FOUND


def test_a_map_call_with_pipelined_inputs_is_refused(fake, echo):
    from grpclib import Status

    async def pipelined(stub):
        await _open_map(stub, echo.object_id, pipelined_inputs=[_put_item(0, _echo_payload(0))])

    assert _grpc_status(fake, pipelined) == Status.INVALID_ARGUMENT


def test_more_unfinished_inputs_than_max_inputs_outstanding_is_resource_exhausted(fake, echo):
    from grpclib import Status
    from modal_proto import api_pb2

    fake.servicer.max_inputs_outstanding = 1

    async def flood(stub):
        opened = await _open_map(stub, echo.object_id)
        assert opened.max_inputs_outstanding == 1
        for idx in range(2):
            await stub.FunctionPutInputs(api_pb2.FunctionPutInputsRequest(
                function_id=echo.object_id, function_call_id=opened.function_call_id,
                inputs=[_put_item(idx, _echo_payload(idx))]))

    assert _grpc_status(fake, flood) == Status.RESOURCE_EXHAUSTED


def test_a_retried_map_input_runs_again_with_its_retry_count(fake, echo):
    from modal_proto import api_pb2

    async def retry(stub):
        opened = await _open_map(stub, echo.object_id)
        put = await stub.FunctionPutInputs(api_pb2.FunctionPutInputsRequest(
            function_id=echo.object_id, function_call_id=opened.function_call_id,
            inputs=[_put_item(0, _echo_payload(0))]))
        first = await stub.FunctionGetOutputs(api_pb2.FunctionGetOutputsRequest(
            function_call_id=opened.function_call_id, timeout=30, last_entry_id="0-0"))
        again = await stub.FunctionRetryInputs(api_pb2.FunctionRetryInputsRequest(
            function_call_jwt=opened.function_call_jwt, inputs=[api_pb2.FunctionRetryInputsItem(
                input_jwt=put.inputs[0].input_jwt, input=_put_item(0, _echo_payload(0)).input,
                retry_count=1)]))
        second = await stub.FunctionGetOutputs(api_pb2.FunctionGetOutputsRequest(
            function_call_id=opened.function_call_id, timeout=30,
            last_entry_id=first.last_entry_id))
        return first, again, second

    first, again, second = _stub_call(fake, retry)
    assert [(o.idx, o.retry_count) for o in first.outputs] == [(0, 0)]
    assert len(again.input_jwts) == 1
    assert [(o.idx, o.retry_count) for o in second.outputs] == [(0, 1)]
    assert second.last_entry_id != first.last_entry_id


def test_cancelling_a_map_call_stops_its_unfinished_inputs(fixture_world, monkeypatch):
    from modal_proto import api_pb2

    from runtime.modal.naming import modal_app_name_from_ref, modal_function_name

    _root, server = fixture_world
    for key, value in server.environ().items():
        monkeypatch.setenv(key, value)
    ref = fixture_ref("hang")
    handle = SdkBoundary().lookup_function(modal_app_name_from_ref(ref, "dev"),
                                           modal_function_name(ref), environment_name="dev")
    payload = {"execution_id": "cancel-map", "ref": ref, "mode": "mock", "inputs": {},
               "write_prefix": "/artifacts/runs/cancel-map", "artifacts_root": "/artifacts"}

    async def cancel(stub):
        opened = await _open_map(stub, handle.object_id)
        await stub.FunctionPutInputs(api_pb2.FunctionPutInputsRequest(
            function_id=handle.object_id, function_call_id=opened.function_call_id,
            inputs=[_put_item(0, payload)]))
        await asyncio.sleep(1)
        await stub.FunctionCallCancel(api_pb2.FunctionCallCancelRequest(
            function_call_id=opened.function_call_id))
        return await stub.FunctionGetOutputs(api_pb2.FunctionGetOutputsRequest(
            function_call_id=opened.function_call_id, timeout=0, last_entry_id="0-0"))

    after = _stub_call(server, cancel)
    assert (list(after.outputs), after.num_unfinished_inputs) == ([], 0)
    deadline = time.monotonic() + 10
    while _running("hang/main.py") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _running("hang/main.py") == []


def test_a_spawn_map_call_is_read_back_by_index_once_its_inputs_are_finished(fake, echo):
    from grpclib import Status
    from modal_proto import api_pb2

    async def spawn_map(stub):
        opened = await stub.FunctionMap(api_pb2.FunctionMapRequest(
            function_id=echo.object_id, function_call_type=api_pb2.FUNCTION_CALL_TYPE_MAP,
            function_call_invocation_type=api_pb2.FUNCTION_CALL_INVOCATION_TYPE_ASYNC))
        await stub.FunctionPutInputs(api_pb2.FunctionPutInputsRequest(
            function_id=echo.object_id, function_call_id=opened.function_call_id,
            inputs=[_put_item(i, _echo_payload(i)) for i in range(3)]))
        await stub.FunctionFinishInputs(api_pb2.FunctionFinishInputsRequest(
            function_id=echo.object_id, function_call_id=opened.function_call_id, num_inputs=3))
        second = await stub.FunctionGetOutputs(api_pb2.FunctionGetOutputsRequest(
            function_call_id=opened.function_call_id, timeout=30, last_entry_id="0-0",
            start_idx=1, end_idx=1))
        try:
            await stub.FunctionPutInputs(api_pb2.FunctionPutInputsRequest(
                function_id=echo.object_id, function_call_id=opened.function_call_id,
                inputs=[_put_item(3, _echo_payload(3))]))
        except Exception as exc:  # the refusal is what is checked
            return second, exc
        return second, None

    second, refused = _stub_call(fake, spawn_map)
    _settled(fake)
    assert [o.idx for o in second.outputs] == [1]
    assert getattr(refused, "status", None) == Status.FAILED_PRECONDITION


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
    deploy_modal(ModalTarget("demo/echo@1", "dev"), image_override=OVERRIDE, root=fake.root)
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
        deploy_modal(ModalTarget("demo/echo@1", "dev"), image_override=OVERRIDE, root=root)
        with pytest.raises(ModalInvocationError) as failed:
            run_processor("demo/echo@1", adapter="modal", artifacts_root=tmp_path / "art",
                          root=root)
        task = next(iter(server.servicer.tasks.values()))
    assert "No module named 'runtime.modal.naming'" in failed.value.message
    assert "TaskResult" in task.rpcs
