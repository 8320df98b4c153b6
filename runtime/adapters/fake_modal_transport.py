"""A fake Modal *server* for the real SDK: only the gRPC transport is faked, not the SDK.

:class:`runtime.adapters.fake_modal.FakeModal` replaces :class:`runtime.modal_boundary.SdkBoundary`
wholesale, so the SDK's own code never runs under it. Here the lookup and invocation path runs
through the installed ``modal`` SDK for real (``Function.from_name(...).hydrate()``, ``spawn``,
``FunctionCall.get(timeout=)``, its retries, its argument/result serialization and its mapping of
gRPC statuses and result statuses to ``modal.exception.*``), talking to an in-process grpclib
server on a unix socket (no network socket is ever opened).

The server answers the handful of RPCs that path uses — ``FunctionGet``, ``FunctionMap``,
``FunctionGetOutputs``, ``FunctionCallCancel`` — from the same folder-backed state as the fake
boundary (apps deployed through it, secrets, the volume, planted faults) and executes a call with
:meth:`FakeModal.call_function` (a subprocess running the in-container entry). Every other RPC
answers ``UNIMPLEMENTED``. Deploy, volume, secrets and ops calls stay on the fake boundary: their
RPC surface (image builds, blob uploads, mounts) is out of scope for this transport.
"""

from __future__ import annotations

import asyncio
import atexit
import builtins
import contextlib
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from runtime.adapters.fake_modal import FakeModal
from runtime.adapters.fake_modal import from_environment as fake_from_environment
from runtime.modal_boundary import AppStatus, SdkBoundary

_HANG = object()  # a planted ``TimeoutError``: the input never produces an output
_SERVER_READY_S = 30.0


def _grpc_status(exc: BaseException) -> Any:
    """The gRPC status Modal's server sends for a lookup failure the fake raised."""
    import modal.exception as mexc
    from grpclib import Status

    table: list[tuple[type[BaseException], Status]] = [
        (mexc.NotFoundError, Status.NOT_FOUND), (mexc.InvalidError, Status.INVALID_ARGUMENT),
        (mexc.PermissionDeniedError, Status.PERMISSION_DENIED),
        (mexc.AuthError, Status.UNAUTHENTICATED), (mexc.AlreadyExistsError, Status.ALREADY_EXISTS),
    ]
    for cls, status in table:
        if isinstance(exc, cls):
            return status
    return Status.FAILED_PRECONDITION  # not retried by the SDK; surfaces as ConflictError


class FakeModalServicer:
    """grpclib handler for the invocation RPCs, backed by a :class:`FakeModal`'s state."""

    def __init__(self, fake: FakeModal) -> None:
        self.fake = fake
        self.rpcs: list[str] = []  # every RPC asked, in order (including unimplemented ones)
        self._handles: dict[str, dict[str, Any]] = {}
        self._calls: dict[str, asyncio.Task[Any]] = {}

    def __mapping__(self) -> dict[str, Any]:
        """grpclib's route table: every RPC of Modal's API, routed to this object."""
        from modal_proto import api_grpc

        mapping: dict[str, Any] = api_grpc.ModalClientBase.__mapping__(self)  # type: ignore[arg-type]
        return mapping

    def __getattr__(self, name: str) -> Any:
        if not name[:1].isupper():
            raise AttributeError(name)

        async def unimplemented(stream: Any) -> None:
            from grpclib import GRPCError, Status

            self.rpcs.append(name)
            raise GRPCError(Status.UNIMPLEMENTED, f"the fake Modal transport does not serve {name}")

        return unimplemented

    async def FunctionGet(self, stream: Any) -> None:  # noqa: N802 - gRPC method name
        """Lookup by app name, function tag and environment; ``NOT_FOUND`` like Modal's server."""
        from grpclib import GRPCError
        from modal_proto import api_pb2

        request = await stream.recv_message()
        self.rpcs.append("FunctionGet")
        try:
            handle = await asyncio.to_thread(self.fake.lookup_function, request.app_name,
                                             request.object_tag,
                                             environment_name=request.environment_name)
        except Exception as exc:  # every fake failure becomes a gRPC status
            raise GRPCError(_grpc_status(exc), str(exc)) from exc
        fn = handle["function"]
        function_id = f"fu-{len(self._handles) + 1:06d}"
        self._handles[function_id] = handle
        pickle = api_pb2.DATA_FORMAT_PICKLE
        proto = api_pb2.Function(function_name=request.object_tag,
                                 timeout_secs=int(fn["timeout_s"]))
        await stream.send_message(api_pb2.FunctionGetResponse(
            function_id=function_id,
            handle_metadata=api_pb2.FunctionHandleMetadata(
                function_name=request.object_tag,
                function_type=api_pb2.Function.FUNCTION_TYPE_FUNCTION,
                supported_input_formats=[pickle], supported_output_formats=[pickle]),
            function=api_pb2.FunctionData(
                ranked_functions=[api_pb2.FunctionData.RankedFunction(function=proto)])))

    async def FunctionMap(self, stream: Any) -> None:  # noqa: N802 - gRPC method name
        """Accept one pipelined input (deserialized with the SDK's own code) and start running it."""
        from grpclib import GRPCError, Status
        from modal._serialization import deserialize_data_format
        from modal_proto import api_pb2

        request = await stream.recv_message()
        self.rpcs.append("FunctionMap")
        handle = self._handles.get(request.function_id)
        if handle is None or len(request.pipelined_inputs) != 1:
            raise GRPCError(Status.NOT_FOUND, f"unknown function {request.function_id!r}")
        item = request.pipelined_inputs[0]
        args, kwargs = deserialize_data_format(item.input.args, item.input.data_format, None)
        if kwargs or len(args) != 1 or not isinstance(args[0], dict):
            raise GRPCError(Status.INVALID_ARGUMENT, "the modal function takes one payload dict")
        call_id = f"fc-{len(self._calls) + 1:06d}"
        self._calls[call_id] = asyncio.create_task(self._execute(handle, args[0]))
        await stream.send_message(api_pb2.FunctionMapResponse(
            function_call_id=call_id,
            pipelined_inputs=[api_pb2.FunctionPutInputsResponseItem(
                idx=0, input_id=f"in-{call_id[3:]}", input_jwt=f"jwt-{call_id[3:]}")]))

    async def _execute(self, handle: dict[str, Any], payload: dict[str, Any]) -> Any:
        """The container's side: run the function under its own timeout only (Modal's server
        knows nothing of the client's wait)."""
        limit = float(handle["function"]["timeout_s"])
        try:
            return await asyncio.to_thread(self.fake.call_function, handle, payload,
                                           timeout_s=limit)
        except builtins.TimeoutError:
            await asyncio.Event().wait()  # never set: only FunctionCallCancel ends this input
            return _HANG

    async def FunctionGetOutputs(self, stream: Any) -> None:  # noqa: N802 - gRPC method name
        """Wait up to the request's timeout for the output; none yet means an unfinished input."""
        from grpclib import GRPCError, Status
        from modal_proto import api_pb2

        request = await stream.recv_message()
        self.rpcs.append("FunctionGetOutputs")
        task = self._calls.get(request.function_call_id)
        if task is None:
            raise GRPCError(Status.NOT_FOUND, f"unknown function call {request.function_call_id!r}")
        await asyncio.wait({task}, timeout=max(0.0, float(request.timeout)))
        if not task.done() or task.cancelled():
            await stream.send_message(api_pb2.FunctionGetOutputsResponse(
                num_unfinished_inputs=0 if task.cancelled() else 1))
            return
        await stream.send_message(api_pb2.FunctionGetOutputsResponse(outputs=[
            api_pb2.FunctionGetOutputsItem(idx=0, result=_generic_result(task),
                                           data_format=api_pb2.DATA_FORMAT_PICKLE)]))

    async def FunctionCallCancel(self, stream: Any) -> None:  # noqa: N802 - gRPC method name
        """Cancel the input (a running subprocess finishes under its own timeout)."""
        from google.protobuf import empty_pb2  # type: ignore[import-untyped]

        request = await stream.recv_message()
        self.rpcs.append("FunctionCallCancel")
        task = self._calls.get(request.function_call_id)
        if task is not None:
            task.cancel()
        await stream.send_message(empty_pb2.Empty())


def _generic_result(task: asyncio.Task[Any]) -> Any:
    """The finished input as Modal's ``GenericResult``: the value serialized with the SDK's own
    serializer, or the failure status the SDK turns into its exception."""
    import modal.exception as mexc
    from modal._serialization import serialize_data_format
    from modal_proto import api_pb2

    generic = api_pb2.GenericResult
    error = task.exception()
    if error is None:
        return generic(status=generic.GENERIC_STATUS_SUCCESS,
                       data=serialize_data_format(task.result(), api_pb2.DATA_FORMAT_PICKLE))
    if isinstance(error, mexc.FunctionTimeoutError):
        return generic(status=generic.GENERIC_STATUS_TIMEOUT, exception=str(error))
    return generic(status=generic.GENERIC_STATUS_FAILURE, exception=f"{type(error).__name__}: {error}")


class FakeTransportServer:
    """The servicer on a unix socket, served by its own event loop in a daemon thread."""

    def __init__(self, servicer: FakeModalServicer) -> None:
        self.servicer = servicer
        self._dir = Path(tempfile.mkdtemp(prefix="pr-modal-"))  # short: unix paths max ~107 bytes
        self.path = self._dir / "modal.sock"
        self.url = f"unix://{self.path}"
        self._loop = asyncio.new_event_loop()
        self._server: Any = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="fake-modal-transport",
                                        daemon=True)

    def _serve(self) -> None:
        from grpclib.server import Server

        asyncio.set_event_loop(self._loop)
        self._server = Server([self.servicer])
        self._loop.run_until_complete(self._server.start(path=str(self.path)))
        self._ready.set()
        self._loop.run_forever()

    def start(self) -> FakeTransportServer:
        """Start serving; returns once the socket accepts connections."""
        self._thread.start()
        if not self._ready.wait(_SERVER_READY_S):
            raise RuntimeError("the fake Modal transport did not start")
        return self

    def close(self) -> None:
        """Stop the server and its loop and remove the socket folder."""
        if self._server is not None and self._loop.is_running():
            async def stop() -> None:
                self._server.close()
                await self._server.wait_closed()

            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(stop(), self._loop).result(timeout=5)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
        if not self._thread.is_alive() and not self._loop.is_closed():
            self._loop.close()
        shutil.rmtree(self._dir, ignore_errors=True)


class FakeTransportBoundary:
    """Lookup and invocation through the real SDK over the fake transport; the rest on the fake.

    ``kind = "fake-transport"`` is reported in every result that used it.
    """

    kind = "fake-transport"

    def __init__(self, fake: FakeModal) -> None:
        import modal
        from modal_proto import api_pb2

        self.fake = fake
        self.server = FakeTransportServer(FakeModalServicer(fake)).start()
        # Placeholder credentials: the fake server never checks them, nothing else receives them.
        self._open = contextlib.ExitStack()
        self.client = self._open.enter_context(modal.Client(
            self.server.url, api_pb2.CLIENT_TYPE_CLIENT, ("ak-fake", "as-fake")))
        self.sdk = SdkBoundary(client=self.client)

    @property
    def rpcs(self) -> list[str]:
        """Every RPC the SDK sent, in order."""
        return self.server.servicer.rpcs

    def deploy(self, app: Any, *, name: str, environment_name: str, tag: str,
               plan: dict[str, Any] | None = None) -> str:
        """On the fake boundary (deploy's RPCs are out of this transport's scope)."""
        return self.fake.deploy(app, name=name, environment_name=environment_name, tag=tag,
                                plan=plan)

    def lookup_function(self, app_name: str, function_name: str, *, environment_name: str) -> Any:
        """Through the real SDK: ``FunctionGet`` over the fake transport."""
        return self.sdk.lookup_function(app_name, function_name, environment_name=environment_name)

    def call_function(self, handle: Any, payload: dict[str, Any], *, timeout_s: float) -> Any:
        """Through the real SDK: ``FunctionMap`` + ``FunctionGetOutputs`` (+ cancel on timeout)."""
        return self.sdk.call_function(handle, payload, timeout_s=timeout_s)

    def fetch_volume(self, volume_name: str, *, environment_name: str, remote_dir: str,
                     local_dir: Path) -> int:
        """On the fake boundary (volume reads go through blob storage, out of scope here)."""
        return self.fake.fetch_volume(volume_name, environment_name=environment_name,
                                      remote_dir=remote_dir, local_dir=local_dir)

    def list_secret_names(self, *, environment_name: str) -> list[str]:
        """On the fake boundary."""
        return self.fake.list_secret_names(environment_name=environment_name)

    def create_secret(self, name: str, values: dict[str, str], *, environment_name: str) -> None:
        """On the fake boundary."""
        self.fake.create_secret(name, values, environment_name=environment_name)

    def update_secret(self, name: str, values: dict[str, str], *, environment_name: str) -> None:
        """On the fake boundary."""
        self.fake.update_secret(name, values, environment_name=environment_name)

    def app_status(self, app_name: str, *, environment_name: str) -> AppStatus:
        """On the fake boundary."""
        return self.fake.app_status(app_name, environment_name=environment_name)

    def app_stop(self, app_name: str, *, environment_name: str) -> None:
        """On the fake boundary."""
        self.fake.app_stop(app_name, environment_name=environment_name)

    def app_logs(self, app_name: str, *, environment_name: str, entries: int) -> list[dict[str, Any]]:
        """On the fake boundary."""
        return self.fake.app_logs(app_name, environment_name=environment_name, entries=entries)

    def close(self) -> None:
        """Close the SDK client, then the server."""
        with contextlib.suppress(Exception):  # closing is best effort; the server goes regardless
            self._open.close()
        self.server.close()


_ACTIVE: dict[Path, FakeTransportBoundary] = {}
_LOCK = threading.Lock()


def close_all() -> None:
    """Close every boundary this process started (registered with ``atexit``; tests call it)."""
    with _LOCK:
        boundaries = list(_ACTIVE.values())
        _ACTIVE.clear()
    for boundary in boundaries:
        boundary.close()


atexit.register(close_all)


def from_environment() -> FakeTransportBoundary:
    """The factory :func:`runtime.modal_boundary.get_boundary` calls: one server and client per
    state folder per process (the fake boundary's ``PROCESSOR_RUNTIME_FAKE_MODAL_DIR``).

    Raises ``ERR_INPUTS`` without ``PROCESSOR_RUNTIME_FAKE_MODAL_DIR``.
    """
    fake = fake_from_environment()
    key = fake.state_dir.resolve()
    with _LOCK:
        boundary = _ACTIVE.get(key)
        if boundary is None:
            boundary = _ACTIVE[key] = FakeTransportBoundary(fake)
    return boundary
