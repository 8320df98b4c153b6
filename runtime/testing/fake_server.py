"""The one fake Modal server: a documented test seam, like httpx's ``MockTransport``.

Clients reach it exactly as they reach Modal: the installed SDK, pointed at it through its own
configuration (``MODAL_SERVER_URL=unix://…`` plus placeholder ``MODAL_TOKEN_ID`` /
``MODAL_TOKEN_SECRET``, see :meth:`FakeModalServer.environ`). Nothing in the project selects it;
no SDK call is replaced. It is gRPC (grpclib) on a unix socket answering the real ``api_pb2``
messages, plus the blob HTTP a volume read needs on 127.0.0.1 (loopback only).

It follows Modal's server for every call the project makes and, where unsure, the stricter
reading of the installed SDK's source: ``SecretList`` pages (``created_before``, at most
``max_objects``, ``created_at`` set), ``SecretUpdate`` without a value deletes the key,
``VolumeGetOrCreate`` honours ``object_creation_type`` (a never-created volume is ``NOT_FOUND``),
listing or reading a missing volume path is ``NOT_FOUND``, ``ImageGetOrCreate`` answers "not built"
and the build is joined through ``ImageJoinStreaming`` (a planted ``image_build`` fault fails it).
Deploy (``App.deploy``), lookup, invocation (``FunctionMap``/``FunctionGetOutputs``/
``FunctionCallCancel``), the map protocol of ``Function.map`` / ``spawn_map`` (a ``MAP`` call
whose inputs come by ``FunctionPutInputs`` — at most what the SDK sends per request, each idx
once, no more unfinished than ``max_inputs_outstanding`` — outputs read as a stream after
``last_entry_id``, a page at a time, or by ``start_idx``/``end_idx``; ``FunctionRetryInputs``;
``FunctionFinishInputs``; cancel of every unfinished input of a call), secrets sync, the volume read
(``VolumeListFiles2``, ``VolumeGetFile2`` + the block fetch) and the operator ops
(``App.lookup`` + ``info``/``stop``/``logs``/``get_tags``) are served; every other RPC answers
``UNIMPLEMENTED``. Calls on the server's socket must come from a client with this server's token
(``UNAUTHENTICATED`` otherwise, as Modal answers a wrong token).

Each input (keyed by function call id + idx) runs as Modal runs it
(:mod:`runtime.testing._container`): a task of its own, with its own socket for the
container-side RPCs, executes Modal's container entrypoint, which imports the deployed function by
module and qualname and pulls the input / puts the output; the worker that starts it is a host
subprocess (``worker="host"``, the default) or the pinned image on the local engine
(``worker="docker"``). Cancelling an input stops its container.

Use it in tests::

    with FakeModalServer(tmp_path / "modal", source_root=root, worker="host") as server:
        monkeypatch.setenv(...) for each of server.environ().items()
"""

from __future__ import annotations

import asyncio
import base64
import builtins
import contextlib
import json
import os
import shutil
import signal
import tempfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.adapters.docker import MANAGED_LABEL
from runtime.modal.app import ENTRY_ENV_KEY
from runtime.testing._container import (
    CALLING_TASK,
    CLIENT_TYPE_HEADER,
    CONTAINER_RPCS,
    ContainerChannel,
    ContainerFailure,
    Finished,
    Launch,
    Task,
    container_arguments,
    make_worker,
    start_surviving_cancel,
)
from runtime.testing._state import ENVIRONMENTS, FakeModalState, PreparedCall

TASK_LABEL = "io.processor-runtime.modal-task"  # beside the docker adapter's managed label
_EXIT_GRACE_S = 30.0  # after its output, a container has this long to commit and exit

_LIST_BATCH = 100
_SERVER_READY_S = 30.0
_IMAGE_BUILDER_VERSION = "2024.10"  # one the installed SDK supports
#: Inputs one ``FunctionPutInputs`` may carry: what the SDK sends at most (``.map`` chunks of
#: ``MAP_INVOCATION_CHUNK_SIZE``, ``spawn_map`` of ``SPAWN_MAP_INVOCATION_CHUNK_SIZE``); the
#: server's own bound is undocumented, so the stricter reading of the client is taken.
_PUT_INPUTS_MAX = 49
_PUT_INPUTS_MAX_ASYNC = 512
MAX_INPUTS_OUTSTANDING = 1000  # what FunctionMap answers (the SDK's own default, too)
OUTPUTS_PAGE = 100  # outputs one FunctionGetOutputs returns at most without max_values


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


def _kill_group(proc: Any) -> None:
    """Stop everything the input started, as Modal stops the container: the body's process
    group and every descendant's (the spawn helper puts the processor in a session of its own,
    out of the body's group), found through ``/proc`` before any of them dies."""
    for pid in (*_descendants(proc.pid), proc.pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(os.getpgid(pid), signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _descendants(root: int) -> list[int]:
    """Pids below ``root`` (children first found, deepest last), from ``/proc/*/stat``."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: list[int] = []
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _entry_number(last_entry_id: str) -> int:
    """The position in a call's output stream an ``last_entry_id`` names (``"0-0"``: the start)."""
    head = last_entry_id.split("-", 1)[0]
    return int(head) if head.isdigit() else 0


@dataclass(eq=False)
class _Entry:
    """One output of a call's output stream: its position, the input's idx, the finished input."""

    number: int
    idx: int
    retry_count: int
    task: asyncio.Task[Any]


class _FakeCall:
    """One function call: its inputs (by idx; the tasks live in ``FakeModalServicer.inputs``,
    keyed by call id + idx) and its output stream, in completion order."""

    def __init__(self, call_id: str, function_id: str, handle: dict[str, Any], is_map: bool,
                 invocation_type: int) -> None:
        self.call_id = call_id
        self.function_id = function_id
        self.handle = handle
        self.is_map = is_map
        self.invocation_type = invocation_type
        self.jwt = f"fcjwt-{call_id}"
        self.payloads: dict[int, dict[str, Any]] = {}
        self.retry_counts: dict[int, int] = {}
        self.open: set[int] = set()  # inputs started and not yet finished
        self.entries: list[_Entry] = []
        self.cancelled = False
        self.finished_inputs = False  # FunctionFinishInputs came (spawn_map)
        self._numbered = 0
        self._event = asyncio.Event()

    def input_id(self, idx: int) -> str:
        return f"in-{self.call_id[3:]}-{idx:06d}"

    def input_jwt(self, idx: int, retry_count: int) -> str:
        return f"injwt-{self.call_id}-{idx}-{retry_count}"

    def idx_of(self, input_jwt: str) -> int | None:
        """The idx an ``input_jwt`` of this call names, else ``None``."""
        prefix = f"injwt-{self.call_id}-"
        if not input_jwt.startswith(prefix):
            return None
        head = input_jwt[len(prefix):].split("-", 1)[0]
        return int(head) if head.isdigit() and int(head) in self.payloads else None

    def started(self, idx: int) -> None:
        self.open.add(idx)

    def settle(self, idx: int, retry_count: int, task: asyncio.Task[Any]) -> None:
        """An input ended: finished ones join the output stream; cancelled ones have none."""
        self.open.discard(idx)
        if not task.cancelled():
            self._numbered += 1
            self.entries.append(_Entry(self._numbered, idx, retry_count, task))
        self.changed()

    def unfinished(self) -> int:
        return len(self.open)

    def clear(self, entries: list[_Entry]) -> None:
        """``clear_on_success``: the outputs returned are dropped from the stream."""
        gone = {id(entry) for entry in entries}
        self.entries = [entry for entry in self.entries if id(entry) not in gone]

    def changed(self) -> None:
        self._event.set()

    async def wait_for(self, chosen: Any, timeout: float) -> list[_Entry]:
        """``chosen()`` once it is not empty, or when ``timeout`` passes, or at once when no
        output can come any more (a unary call's input ended, a cancelled call)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found: list[_Entry] = chosen()
            idle = not self.open and (not self.is_map or self.cancelled
                                      or self.finished_inputs)
            remaining = deadline - loop.time()
            if found or idle or remaining <= 0:
                return found
            self._event.clear()
            with contextlib.suppress(builtins.TimeoutError):
                await asyncio.wait_for(self._event.wait(), remaining)


async def _settle(waiter: asyncio.Future[None], finished: Finished) -> None:
    """Let a stopped task's waiter finish (at most 10 s). Its own failure is not the input's
    outcome (that is decided already): it goes to the task's log tail, which the app's logs
    carry, instead of escaping the cleanup."""
    try:
        await asyncio.wait_for(waiter, 10)
    except (builtins.TimeoutError, asyncio.CancelledError):
        pass
    except Exception as exc:  # noqa: BLE001 - recorded: the clean-up must go on
        finished.note(f"\nfake modal: waiting on the task failed: {type(exc).__name__}: {exc}\n")


class FakeModalServicer:
    """grpclib handler for the lookup and invocation RPCs, backed by a :class:`FakeModalState`."""

    def __init__(self, fake: FakeModalState, worker: Any = None,
                 task_root: Path | None = None) -> None:
        self.fake = fake
        self.rpcs: list[str] = []  # every RPC asked, in order (including unimplemented ones)
        self._handles: dict[str, dict[str, Any]] = {}
        self.calls: dict[str, _FakeCall] = {}  # function call id -> its inputs and outputs
        self.inputs: dict[tuple[str, int], asyncio.Task[Any]] = {}  # (call id, idx) -> input
        self.max_inputs_outstanding = MAX_INPUTS_OUTSTANDING
        self.outputs_page = OUTPUTS_PAGE
        self.pages: list[int] = []  # outputs sent by each FunctionGetOutputs, in order
        self.worker = worker  # runs the container entrypoint (runtime.testing._container)
        self.task_root = task_root or Path(tempfile.gettempdir())
        self.tasks: dict[str, Task] = {}  # task id -> every container started, in order

    def __mapping__(self) -> dict[str, Any]:
        """grpclib's route table: every RPC of Modal's API, routed to this object."""
        from modal_proto import api_grpc

        mapping: dict[str, Any] = api_grpc.ModalClientBase.__mapping__(self)  # type: ignore[arg-type]
        return mapping

    def _note(self, name: str) -> None:
        """Record an RPC: a client's in :attr:`rpcs`, a container's in its task's record."""
        task = CALLING_TASK.get()
        if task is None:
            self.rpcs.append(name)
        else:
            task.rpcs.append(name)

    @property
    def container_rpcs(self) -> list[tuple[str, str]]:
        """Every RPC the containers asked, as ``(task id, name)``, task by task."""
        return [(task_id, name) for task_id, task in self.tasks.items() for name in task.rpcs]

    def __getattr__(self, name: str) -> Any:
        if not name[:1].isupper():
            raise AttributeError(name)

        async def unimplemented(stream: Any) -> None:
            from grpclib import GRPCError, Status

            self._note(name)
            raise GRPCError(Status.UNIMPLEMENTED, f"the fake Modal transport does not serve {name}")

        return unimplemented

    async def FunctionGet(self, stream: Any) -> None:  # noqa: N802 - gRPC method name
        """Lookup by app name, function tag and environment; ``NOT_FOUND`` like Modal's server."""
        from grpclib import GRPCError
        from modal_proto import api_pb2

        request = await stream.recv_message()
        self._note("FunctionGet")
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
        """Open a function call. ``UNARY`` (``.remote``/``.spawn``): exactly one pipelined input,
        started at once. ``MAP`` (``.map``/``.spawn_map``): no pipelined input; its inputs arrive
        through ``FunctionPutInputs``. Anything else is refused, as Modal's server refuses it."""
        from grpclib import GRPCError, Status
        from modal_proto import api_pb2

        request = await stream.recv_message()
        self._note("FunctionMap")
        handle = self._handles.get(request.function_id)
        if handle is None:
            raise GRPCError(Status.NOT_FOUND, f"unknown function {request.function_id!r}")
        kind = request.function_call_type
        if kind == api_pb2.FUNCTION_CALL_TYPE_UNARY and len(request.pipelined_inputs) != 1:
            raise GRPCError(Status.INVALID_ARGUMENT, "a unary call carries exactly one input")
        if kind == api_pb2.FUNCTION_CALL_TYPE_MAP and request.pipelined_inputs:
            raise GRPCError(Status.INVALID_ARGUMENT, "a map call's inputs come by FunctionPutInputs")
        if kind not in (api_pb2.FUNCTION_CALL_TYPE_UNARY, api_pb2.FUNCTION_CALL_TYPE_MAP):
            raise GRPCError(Status.INVALID_ARGUMENT, f"unknown function call type {kind}")
        call_id = f"fc-{len(self.calls) + 1:06d}"
        call = _FakeCall(call_id, request.function_id, handle, kind == api_pb2.FUNCTION_CALL_TYPE_MAP,
                         request.function_call_invocation_type)
        self.calls[call_id] = call
        pipelined = [self._start_input(call, 0, self._payload(item.input))
                     for item in request.pipelined_inputs]
        await stream.send_message(api_pb2.FunctionMapResponse(
            function_call_id=call_id, function_call_jwt=call.jwt, pipelined_inputs=pipelined,
            retry_policy=api_pb2.FunctionRetryPolicy(retries=0),
            sync_client_retries_enabled=False,
            max_inputs_outstanding=self.max_inputs_outstanding))

    @staticmethod
    def _payload(function_input: Any) -> dict[str, Any]:
        """One input's payload, deserialized with the SDK's own code; the deployed function
        takes exactly one positional payload dict (``INVALID_ARGUMENT`` otherwise)."""
        from grpclib import GRPCError, Status
        from modal._serialization import deserialize_data_format

        if function_input.WhichOneof("args_oneof") != "args":
            raise GRPCError(Status.INVALID_ARGUMENT, "the fake Modal transport reads inline "
                                                     "arguments only (no blob inputs)")
        args, kwargs = deserialize_data_format(function_input.args, function_input.data_format,
                                               None)
        if kwargs or len(args) != 1 or not isinstance(args[0], dict):
            raise GRPCError(Status.INVALID_ARGUMENT, "the modal function takes one payload dict")
        return args[0]

    def _start_input(self, call: _FakeCall, idx: int, payload: dict[str, Any],
                     retry_count: int = 0) -> Any:
        """Run input ``idx`` of ``call`` (keyed by call id + idx) through :meth:`_execute`; its
        output becomes the call's next output entry when it finishes."""
        from modal_proto import api_pb2

        key = (call.call_id, idx)
        task = asyncio.create_task(self._execute(call.handle, payload, call_id=call.call_id,
                                                  idx=idx, input_id=call.input_id(idx)))

        def settled(done: asyncio.Task[Any]) -> None:
            if self.inputs.get(key) is done:  # not an attempt a retry replaced
                call.settle(idx, retry_count, done)

        task.add_done_callback(settled)
        call.payloads[idx] = payload
        call.retry_counts[idx] = retry_count
        call.started(idx)
        self.inputs[key] = task
        return api_pb2.FunctionPutInputsResponseItem(
            idx=idx, input_id=call.input_id(idx), input_jwt=call.input_jwt(idx, retry_count))

    async def FunctionPutInputs(self, stream: Any) -> None:  # noqa: N802 - gRPC method name
        """Add inputs to an open map call. Refused like Modal: an unknown call or one of another
        function (``NOT_FOUND``), an empty request, more inputs in one request than the SDK ever
        sends (49 for a waited-on map, 512 for ``spawn_map``), an index given twice
        (``INVALID_ARGUMENT``), a cancelled call (``FAILED_PRECONDITION``); more unfinished inputs
        than ``max_inputs_outstanding`` is ``RESOURCE_EXHAUSTED`` (the SDK backs off and retries)."""
        from grpclib import GRPCError, Status
        from modal_proto import api_pb2

        request = await stream.recv_message()
        self._note("FunctionPutInputs")
        call = self.calls.get(request.function_call_id)
        if call is None or call.function_id != request.function_id or not call.is_map:
            raise GRPCError(Status.NOT_FOUND, f"unknown map call {request.function_call_id!r}")
        limit = (_PUT_INPUTS_MAX_ASYNC if call.invocation_type
                 == api_pb2.FUNCTION_CALL_INVOCATION_TYPE_ASYNC else _PUT_INPUTS_MAX)
        if not request.inputs or len(request.inputs) > limit:
            raise GRPCError(Status.INVALID_ARGUMENT, f"a FunctionPutInputs request carries 1 to "
                                                     f"{limit} inputs, got {len(request.inputs)}")
        indexes = [item.idx for item in request.inputs]
        if len(set(indexes)) != len(indexes) or any(idx in call.payloads for idx in indexes):
            raise GRPCError(Status.INVALID_ARGUMENT, "an input index was sent twice")
        if call.cancelled or call.finished_inputs:
            raise GRPCError(Status.FAILED_PRECONDITION, f"function call {call.call_id} takes no "
                                                        "more inputs (cancelled or finished)")
        if call.unfinished() + len(request.inputs) > self.max_inputs_outstanding:
            raise GRPCError(Status.RESOURCE_EXHAUSTED, "too many inputs outstanding")
        payloads = [(item.idx, self._payload(item.input)) for item in request.inputs]
        items = [self._start_input(call, idx, payload) for idx, payload in payloads]
        await stream.send_message(api_pb2.FunctionPutInputsResponse(inputs=items))

    async def FunctionFinishInputs(self, stream: Any) -> None:  # noqa: N802 - gRPC method name
        """``spawn_map``'s last word: the call has all its inputs. ``num_inputs`` must be what was
        put (``INVALID_ARGUMENT``); later inputs are refused (``FAILED_PRECONDITION``)."""
        from google.protobuf import empty_pb2  # type: ignore[import-untyped]
        from grpclib import GRPCError, Status

        request = await stream.recv_message()
        self._note("FunctionFinishInputs")
        call = self.calls.get(request.function_call_id)
        if call is None or call.function_id != request.function_id or not call.is_map:
            raise GRPCError(Status.NOT_FOUND, f"unknown map call {request.function_call_id!r}")
        if request.num_inputs != len(call.payloads):
            raise GRPCError(Status.INVALID_ARGUMENT, f"num_inputs {request.num_inputs} but "
                                                     f"{len(call.payloads)} inputs were put")
        call.finished_inputs = True
        call.changed()
        await stream.send_message(empty_pb2.Empty())

    async def FunctionRetryInputs(self, stream: Any) -> None:  # noqa: N802 - gRPC method name
        """Run finished inputs of a map call again (the SDK's client-side retries): each by its
        ``input_jwt`` with its next ``retry_count``; an unknown call or input is ``NOT_FOUND``."""
        from grpclib import GRPCError, Status
        from modal_proto import api_pb2

        request = await stream.recv_message()
        self._note("FunctionRetryInputs")
        call = next((c for c in self.calls.values() if c.jwt == request.function_call_jwt), None)
        if call is None:
            raise GRPCError(Status.NOT_FOUND, "unknown function call")
        if len(request.inputs) > _PUT_INPUTS_MAX:
            raise GRPCError(Status.INVALID_ARGUMENT, f"a FunctionRetryInputs request carries at "
                                                     f"most {_PUT_INPUTS_MAX} inputs")
        targets = [call.idx_of(item.input_jwt) for item in request.inputs]
        if any(idx is None for idx in targets):
            raise GRPCError(Status.NOT_FOUND, "unknown input")
        jwts = []
        for item, idx in zip(request.inputs, targets, strict=True):
            assert idx is not None
            running = self.inputs.get((call.call_id, idx))
            if running is not None and not running.done():
                running.cancel()
            payload = self._payload(item.input) if item.HasField("input") else call.payloads[idx]
            jwts.append(self._start_input(call, idx, payload, item.retry_count).input_jwt)
        await stream.send_message(api_pb2.FunctionRetryInputsResponse(input_jwts=jwts))

    async def _execute(self, handle: dict[str, Any], payload: dict[str, Any], *,
                       call_id: str = "", idx: int = 0, input_id: str = "") -> Any:
        """One input, run as Modal runs it: a task (container) of its own executes Modal's
        container entrypoint, which pulls the input (``FunctionGetInputs``) and returns its
        output (``FunctionPutOutputs``). The function runs under its own timeout only (Modal's
        server knows nothing of the client's wait); a cancelled input's container is stopped.
        Returns the function's value; a failure the container reported is relayed unchanged
        (:class:`~runtime.testing._container.ContainerFailure`). The input is keyed by its call
        id and index (``input_id`` is made when none is given)."""
        try:
            prepared = await asyncio.to_thread(self.fake.prepare_call, handle, payload)
        except builtins.TimeoutError:  # a planted hang: only FunctionCallCancel ends this input
            await asyncio.Event().wait()
            raise
        return await self._run_task(handle, prepared, payload, call_id, idx,
                                    input_id or f"in-{uuid.uuid4().hex[:22]}")

    def _new_task(self, handle: dict[str, Any]) -> Task:
        from modal_proto import api_pb2

        fn = handle["function"]
        function_def = api_pb2.Function.FromString(base64.b64decode(fn["definition"]))
        app_id = self.fake.deployed_app_id(handle["app"],
                                           environment_name=handle["environment_name"]) or ""
        task = Task(task_id=f"ta-{uuid.uuid4().hex[:22]}", function_id=str(fn["function_id"]),
                    app_id=app_id, environment_name=handle["environment_name"],
                    function_def=function_def,
                    volume_ids=frozenset(m.volume_id for m in function_def.volume_mounts))
        self.tasks[task.task_id] = task
        return task

    async def _run_task(self, handle: dict[str, Any], prepared: PreparedCall,
                        payload: dict[str, Any], call_id: str, idx: int, input_id: str) -> Any:
        import modal.exception as mexc
        from grpclib.events import RecvRequest, listen
        from grpclib.server import Server
        from modal._serialization import deserialize_data_format, serialize_data_format
        from modal_proto import api_pb2

        task = self._new_task(handle)
        work = Path(tempfile.mkdtemp(prefix="t-", dir=self.task_root))
        socket_path = work / "s"
        arguments = work / "container_arguments.bin"
        arguments.write_bytes(container_arguments(task))
        fn = handle["function"]
        processor_dir = (await asyncio.to_thread(self.fake.processor_dir, str(fn["ref"]))
                         if self.worker.needs_source else None)
        launch = Launch(task=task, arguments_path=arguments, socket_path=socket_path,
                        image=str(fn["image"]), env=prepared.env, volume=prepared.volume,
                        mount=prepared.mount, processor_dir=processor_dir,
                        memory_mb=int(fn.get("memory_mb") or 0),
                        labels={MANAGED_LABEL: "1", TASK_LABEL: task.task_id})
        pickle = api_pb2.DATA_FORMAT_PICKLE
        local = self.worker.map_payload(launch, payload)
        task.pending.append(api_pb2.FunctionGetInputsItem(
            input_id=input_id, function_call_id=call_id, function_map_idx=idx, retry_count=0,
            input=api_pb2.FunctionInput(args=serialize_data_format(((local,), {}), pickle),
                                        data_format=pickle)))
        output: asyncio.Future[tuple[Any, int]] = asyncio.get_running_loop().create_future()
        task.outputs[input_id] = output
        server = Server([ContainerChannel(self, task)])
        listen(server, RecvRequest, _container_identity)
        await server.start(path=str(socket_path))
        socket_path.chmod(0o666)  # the container's user connects through the bind mount
        finished = Finished()
        started: Any = None
        waiter: asyncio.Future[None] | None = None
        settled = False
        try:
            started = await start_surviving_cancel(self.worker, launch)
            waiter = asyncio.ensure_future(self.worker.wait(started, finished))
            done, _ = await asyncio.wait({output, waiter}, timeout=prepared.limit_s,
                                         return_when=asyncio.FIRST_COMPLETED)
            if not done:
                raise mexc.FunctionTimeoutError(
                    f"Function timed out after {prepared.limit_s:g}s") from None
            if not output.done():  # exited without an output (it may still land: one look)
                await asyncio.sleep(0)
            if not output.done():
                await _settle(waiter, finished)  # it is done: a failure of its own joins the tail
                settled = True
                tail = finished.stderr_tail.decode("utf-8", "replace")[-2000:]
                generic = api_pb2.GenericResult
                raise ContainerFailure(generic(
                    status=generic.GENERIC_STATUS_FAILURE,
                    exception=f"container exited with {finished.rc} before its output: {tail}"), 0)
            result, data_format = output.result()
            # The container commits its volumes on the way out; the result is final after that.
            with contextlib.suppress(Exception):  # a failed wait is settled below
                await asyncio.wait_for(asyncio.shield(waiter), _EXIT_GRACE_S)
        finally:
            try:
                if started is not None:
                    await self.worker.stop(started)
                if waiter is not None and not settled:
                    await _settle(waiter, finished)
            finally:  # whatever the container did, its channel and folder go
                server.close()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(server.wait_closed(), 5)
                await asyncio.to_thread(self.fake.append_logs, handle, finished.stderr_tail)
                shutil.rmtree(work, ignore_errors=True)
        if result.status != api_pb2.GenericResult.GENERIC_STATUS_SUCCESS:
            raise ContainerFailure(result, data_format)
        value = deserialize_data_format(result.data, data_format, None)
        return self.worker.map_result(launch, value)

    async def FunctionGetOutputs(self, stream: Any) -> None:  # noqa: N802 - gRPC method name
        """Wait up to the request's timeout for outputs. ``start_idx``/``end_idx`` (``.get``)
        ask for those inputs' outputs; otherwise the call's output stream is read after
        ``last_entry_id`` (``.map``), at most ``max_values`` (else a page of
        ``outputs_page``) entries a response, oldest first, with the id of the last one sent.
        ``clear_on_success`` drops what it returned. None yet: ``num_unfinished_inputs`` says
        whether any input is still running (0 means expired or cancelled)."""
        from grpclib import GRPCError, Status
        from modal_proto import api_pb2

        request = await stream.recv_message()
        self._note("FunctionGetOutputs")
        call = self.calls.get(request.function_call_id)
        if call is None:
            raise GRPCError(Status.NOT_FOUND, f"unknown function call {request.function_call_id!r}")
        if request.HasField("start_idx") or request.HasField("end_idx"):
            low, high = request.start_idx, request.end_idx

            def chosen() -> list[_Entry]:
                return [entry for entry in call.entries if low <= entry.idx <= high]
        else:
            after = _entry_number(request.last_entry_id)
            page = request.max_values or self.outputs_page

            def chosen() -> list[_Entry]:
                return [entry for entry in call.entries if entry.number > after][:page]

        found = await call.wait_for(chosen, max(0.0, float(request.timeout)))
        outputs = [api_pb2.FunctionGetOutputsItem(
            idx=entry.idx, input_id=call.input_id(entry.idx), retry_count=entry.retry_count,
            result=_generic_result(entry.task), data_format=_data_format(entry.task))
            for entry in found]
        last = found[-1].number if found else _entry_number(request.last_entry_id)
        self.pages.append(len(outputs))
        if request.clear_on_success:
            # A ranged read (``.remote``) clears what it read; a stream read is the map's closing
            # acknowledgement, after which the call's outputs are gone.
            gone = found if request.HasField("start_idx") else list(call.entries)
            call.clear(gone)
            for entry in gone:
                self.inputs.pop((call.call_id, entry.idx), None)
        await stream.send_message(api_pb2.FunctionGetOutputsResponse(
            outputs=outputs, last_entry_id=f"{last}-0",
            num_unfinished_inputs=call.unfinished()))

    async def FunctionCallCancel(self, stream: Any) -> None:  # noqa: N802 - gRPC method name
        """Cancel every unfinished input of the call (their process groups are killed, as Modal
        stops the containers); a cancelled input has no output."""
        from google.protobuf import empty_pb2

        request = await stream.recv_message()
        self._note("FunctionCallCancel")
        call = self.calls.get(request.function_call_id)
        if call is not None:
            call.cancelled = True
            for (call_id, idx), task in list(self.inputs.items()):
                if call_id == call.call_id and not task.done():
                    task.cancel()
                    call.open.discard(idx)  # cancelled now: it will have no output
            call.changed()
        await stream.send_message(empty_pb2.Empty())


class FakeDeployServicer(FakeModalServicer):
    """Adds the deploy, secrets and app ops RPCs: what the SDK's ``App.deploy`` (app, environment, named
    secrets, volume, registry image, functions, publish) and ``Secret.objects.list/create`` /
    ``Secret.update`` send. ``AppPublish`` stores the functions in the :class:`FakeModalState`,
    so a later ``FunctionGet`` finds and runs them.

    ``asked`` records each of these requests as plain data (names, image reference, function
    settings). Secret *values* appear only in the records of ``SecretGetOrCreate`` (creating
    secrets) and ``SecretUpdate``, as the SDK sent them.
    """

    def __init__(self, fake: FakeModalState, worker: Any = None,
                 task_root: Path | None = None) -> None:
        super().__init__(fake, worker, task_root)
        self.asked: list[dict[str, Any]] = []
        self._ids: dict[str, int] = {}
        self._apps: dict[str, tuple[str, str]] = {}  # app id -> (name, environment)
        self._images: dict[str, str] = {}  # image id -> registry reference
        self._volumes: dict[str, str] = {}  # volume id -> name
        self._volume_envs: dict[str, str] = {}  # volume id -> environment
        self.blobs: dict[str, Path] = {}  # blob token -> file (served by the blob server)
        self.blob_url = ""  # set by FakeModalServer once the blob server listens
        self._named: dict[str, tuple[str, str]] = {}  # secret id -> (name, environment)
        self._env_dicts: dict[str, dict[str, str]] = {}  # ephemeral secret id -> values
        self._functions: dict[str, dict[str, Any]] = {}  # function id -> definition

    def _id(self, prefix: str) -> str:
        self._ids[prefix] = self._ids.get(prefix, 0) + 1
        return f"{prefix}-{self._ids[prefix]:06d}"

    async def _request(self, stream: Any, name: str) -> Any:
        request = await stream.recv_message()
        self._note(name)
        return request

    def _environment(self, name: str) -> str:
        from grpclib import GRPCError, Status

        if name not in ENVIRONMENTS:
            raise GRPCError(Status.NOT_FOUND, f"Environment '{name}' not found")
        return name

    async def EnvironmentGetOrCreate(self, stream: Any) -> None:  # noqa: N802 - gRPC method name
        """The environment the SDK caches for the deploy (only Modal's known names exist)."""
        from modal_proto import api_pb2

        request = await self._request(stream, "EnvironmentGetOrCreate")
        name = self._environment(request.deployment_name)
        await stream.send_message(api_pb2.EnvironmentGetOrCreateResponse(
            environment_id=f"en-{name}", metadata=api_pb2.EnvironmentMetadata(
                name=name, settings=api_pb2.EnvironmentSettings(
                    image_builder_version=_IMAGE_BUILDER_VERSION))))

    async def AppGetByDeploymentName(self, stream: Any) -> None:  # noqa: N802 - gRPC method name
        """The deployed app's id, or none (the SDK then creates the app)."""
        from modal_proto import api_pb2

        request = await self._request(stream, "AppGetByDeploymentName")
        env = self._environment(request.environment_name)
        app_id = self.fake.deployed_app_id(request.name, environment_name=env) or ""
        if app_id:
            self._apps[app_id] = (request.name, env)
        await stream.send_message(api_pb2.AppGetByDeploymentNameResponse(app_id=app_id,
                                                                          environment_name=env))

    async def AppGetLayout(self, stream: Any) -> None:  # noqa: N802 - gRPC method name
        """An existing app's objects: none are reused, every function is created again."""
        from modal_proto import api_pb2

        await self._request(stream, "AppGetLayout")
        await stream.send_message(api_pb2.AppGetLayoutResponse(app_layout=api_pb2.AppLayout()))

    async def AppCreate(self, stream: Any) -> None:  # noqa: N802 - gRPC method name
        """A new (initializing) app named by the request's description."""
        from modal_proto import api_pb2

        request = await self._request(stream, "AppCreate")
        env = self._environment(request.environment_name)
        app_id = f"ap-{uuid.uuid4().hex[:22]}"  # unique across processes sharing the state
        self._apps[app_id] = (request.description, env)
        self.asked.append({"rpc": "AppCreate", "app": request.description, "environment": env})
        await stream.send_message(api_pb2.AppCreateResponse(app_id=app_id))

    async def SecretGetOrCreate(self, stream: Any) -> None:  # noqa: N802 - gRPC method name
        """A named secret by name (``NOT_FOUND`` if absent), a new named secret (``ALREADY_EXISTS``
        if taken), or an ephemeral one (a function's ``env=``)."""
        from grpclib import GRPCError, Status
        from modal_proto import api_pb2

        request = await self._request(stream, "SecretGetOrCreate")
        kind = request.object_creation_type
        values = dict(request.env_dict)
        if kind in (api_pb2.OBJECT_CREATION_TYPE_EPHEMERAL,
                    api_pb2.OBJECT_CREATION_TYPE_ANONYMOUS_OWNED_BY_APP):
            secret_id = self._id("st")
            self._env_dicts[secret_id] = values
            self.asked.append({"rpc": "SecretGetOrCreate", "app_owned": True,
                               "values": values})
            await stream.send_message(api_pb2.SecretGetOrCreateResponse(secret_id=secret_id))
            return
        name = request.deployment_name
        env = self._environment(request.environment_name)
        record: dict[str, Any] = {"rpc": "SecretGetOrCreate", "name": name, "environment": env}
        if kind == api_pb2.OBJECT_CREATION_TYPE_CREATE_FAIL_IF_EXISTS:
            record["values"] = values
        self.asked.append(record)
        exists = name in self.fake.secret_names(env)
        if kind == api_pb2.OBJECT_CREATION_TYPE_CREATE_FAIL_IF_EXISTS:
            if exists:
                raise GRPCError(Status.ALREADY_EXISTS, f"Secret '{name}' already exists")
            await asyncio.to_thread(self.fake.create_secret, name, values, environment_name=env)
        elif kind != api_pb2.OBJECT_CREATION_TYPE_UNSPECIFIED:
            raise GRPCError(Status.UNIMPLEMENTED, f"secret creation type {kind} is not served")
        elif not exists:
            raise GRPCError(Status.NOT_FOUND, f"Secret '{name}' not found in environment '{env}'")
        secret_id = f"st-{env}-{name}"
        self._named[secret_id] = (name, env)
        await stream.send_message(api_pb2.SecretGetOrCreateResponse(
            secret_id=secret_id, metadata=api_pb2.SecretMetadata(name=name, environment_name=env)))

    async def SecretList(self, stream: Any) -> None:  # noqa: N802 - gRPC method name
        """One page of the environment's secrets, newest first: at most ``max_objects``, created
        strictly before ``created_before``, each with ``created_at`` (the SDK pages on it and
        stops at a short page)."""
        from grpclib import GRPCError, Status
        from modal_proto import api_pb2

        request = await self._request(stream, "SecretList")
        env = self._environment(request.environment_name)
        page = request.pagination
        if page.max_objects <= 0:
            raise GRPCError(Status.INVALID_ARGUMENT, "pagination.max_objects must be positive")
        limit = min(page.max_objects, 100)
        self.asked.append({"rpc": "SecretList", "environment": env, "max_objects": limit,
                           "created_before": page.created_before})
        rows = await asyncio.to_thread(self.fake.secret_page, env,
                                       created_before=page.created_before, limit=limit)
        items = [api_pb2.SecretListItem(
            label=name, environment_name=env, secret_id=f"st-{env}-{name}", created_at=created,
            metadata=api_pb2.SecretMetadata(name=name, environment_name=env,
                                            creation_info=api_pb2.CreationInfo(created_at=created)))
            for name, created in rows]
        await stream.send_message(api_pb2.SecretListResponse(items=items, environment_name=env))

    async def SecretUpdate(self, stream: Any) -> None:  # noqa: N802 - gRPC method name
        """Set the request's keys on a named secret; an update without a value deletes its key."""
        from google.protobuf import empty_pb2
        from grpclib import GRPCError, Status

        request = await self._request(stream, "SecretUpdate")
        target = self._named.get(request.secret_id)
        if target is None:
            raise GRPCError(Status.NOT_FOUND, f"unknown secret {request.secret_id!r}")
        updates: dict[str, str | None] = {
            update.key: (update.value if update.HasField("value") else None)
            for update in request.updates}
        self.asked.append({"rpc": "SecretUpdate", "name": target[0], "environment": target[1],
                           "values": updates})
        try:
            await asyncio.to_thread(self.fake.update_secret, target[0], updates,
                                    environment_name=target[1])
        except Exception as exc:
            raise GRPCError(_grpc_status(exc), str(exc)) from exc
        await stream.send_message(empty_pb2.Empty())

    async def MountGetOrCreate(self, stream: Any) -> None:  # noqa: N802 - gRPC method name
        """A global mount by name (the SDK mounts its own client package into the image); local
        file mounts are not served (``include_source=False`` deploys none)."""
        from grpclib import GRPCError, Status
        from modal_proto import api_pb2

        request = await self._request(stream, "MountGetOrCreate")
        if not request.deployment_name or request.files:
            raise GRPCError(Status.UNIMPLEMENTED, "the fake Modal transport serves named mounts only")
        self.asked.append({"rpc": "MountGetOrCreate", "name": request.deployment_name})
        await stream.send_message(api_pb2.MountGetOrCreateResponse(
            mount_id=f"mo-{request.deployment_name}", handle_metadata=api_pb2.MountHandleMetadata()))

    async def VolumeGetOrCreate(self, stream: Any) -> None:  # noqa: N802 - gRPC method name
        """The named volume: created only when the request asks (``create_if_missing``); looking
        up one that was never created is ``NOT_FOUND``, as on Modal."""
        from grpclib import GRPCError, Status
        from modal_proto import api_pb2

        request = await self._request(stream, "VolumeGetOrCreate")
        env = self._environment(request.environment_name)
        name = request.deployment_name
        kind = request.object_creation_type
        self.asked.append({"rpc": "VolumeGetOrCreate", "name": name, "environment": env,
                           "create": kind == api_pb2.OBJECT_CREATION_TYPE_CREATE_IF_MISSING})
        if kind == api_pb2.OBJECT_CREATION_TYPE_CREATE_IF_MISSING:
            await asyncio.to_thread(self.fake.create_volume, env, name)
        elif kind != api_pb2.OBJECT_CREATION_TYPE_UNSPECIFIED:
            raise GRPCError(Status.UNIMPLEMENTED, f"volume creation type {kind} is not served")
        elif not await asyncio.to_thread(self.fake.volume_exists, env, name):
            raise GRPCError(Status.NOT_FOUND, f"Volume '{name}' not found in environment '{env}'")
        volume_id = f"vo-{env}-{name}"
        self._volumes[volume_id] = name
        self._volume_envs[volume_id] = env
        v2 = api_pb2.VOLUME_FS_VERSION_V2
        await stream.send_message(api_pb2.VolumeGetOrCreateResponse(
            volume_id=volume_id, version=v2, metadata=api_pb2.VolumeMetadata(name=name, version=v2)))

    def _volume_path(self, volume_id: str, path: str) -> tuple[Path, Path]:
        """``(volume root, target)`` for a request path; ``NOT_FOUND`` for an unknown volume id,
        ``INVALID_ARGUMENT`` for a path escaping the volume."""
        from grpclib import GRPCError, Status

        if volume_id not in self._volumes:
            raise GRPCError(Status.NOT_FOUND, f"Volume '{volume_id}' not found")
        root = self.fake.volume_dir(self._volume_envs[volume_id], self._volumes[volume_id])
        root = root.resolve()
        target = (root / path.lstrip("/")).resolve()
        if target != root and root not in target.parents:
            raise GRPCError(Status.INVALID_ARGUMENT, f"path {path!r} is outside the volume")
        return root, target

    async def VolumeListFiles2(self, stream: Any) -> None:  # noqa: N802 - gRPC method name
        """The entries under a path, relative to the volume root, in batches; a missing path is
        ``NOT_FOUND`` ("No such file or directory"), never an empty list."""
        from grpclib import GRPCError, Status
        from modal_proto import api_pb2

        request = await self._request(stream, "VolumeListFiles2")
        root, target = self._volume_path(request.volume_id, request.path)
        if not target.exists():
            raise GRPCError(Status.NOT_FOUND, f"No such file or directory: {request.path!r}")
        paths = [target] if target.is_file() else sorted(
            target.rglob("*") if request.recursive else target.iterdir())
        entries = [api_pb2.FileEntry(
            path=path.relative_to(root).as_posix(),
            size=path.stat().st_size if path.is_file() else 0, mtime=int(path.stat().st_mtime),
            type=api_pb2.FileEntry.FILE if path.is_file() else api_pb2.FileEntry.DIRECTORY)
            for path in paths if not path.is_symlink()]
        for start in range(0, max(len(entries), 1), _LIST_BATCH):
            await stream.send_message(api_pb2.VolumeListFiles2Response(
                entries=entries[start:start + _LIST_BATCH]))

    async def VolumeGetFile2(self, stream: Any) -> None:  # noqa: N802 - gRPC method name
        """A file as block URLs on the loopback blob server (``BLOCK_SIZE`` each, like Modal's
        block store); a missing file is ``NOT_FOUND``."""
        from grpclib import GRPCError, Status
        from modal._utils.blob_utils import BLOCK_SIZE
        from modal_proto import api_pb2

        request = await self._request(stream, "VolumeGetFile2")
        _, target = self._volume_path(request.volume_id, request.path)
        if not target.is_file():
            raise GRPCError(Status.NOT_FOUND, f"No such file: {request.path!r}")
        size = target.stat().st_size
        token = uuid.uuid4().hex
        self.blobs[token] = target
        urls = [f"{self.blob_url}/blocks/{token}/{index}"
                for index in range(max(1, -(-size // BLOCK_SIZE)))]
        await stream.send_message(api_pb2.VolumeGetFile2Response(get_urls=urls, size=size,
                                                                 start=0, len=size))

    async def ImageGetOrCreate(self, stream: Any) -> None:  # noqa: N802 - gRPC method name
        """A registry image, answered "not built yet": the SDK joins its build stream."""
        from grpclib import GRPCError, Status
        from modal_proto import api_pb2

        request = await self._request(stream, "ImageGetOrCreate")
        commands = list(request.image.dockerfile_commands)
        self.asked.append({"rpc": "ImageGetOrCreate", "dockerfile_commands": commands})
        froms = [line.split(None, 1)[1].strip() for line in commands
                 if line.upper().startswith("FROM ") and len(line.split(None, 1)) == 2]
        if len(froms) != 1:
            raise GRPCError(Status.INVALID_ARGUMENT, f"expected one FROM line, got {commands!r}")
        image_id = self._id("im")
        self._images[image_id] = froms[0]
        await stream.send_message(api_pb2.ImageGetOrCreateResponse(image_id=image_id))

    async def ImageJoinStreaming(self, stream: Any) -> None:  # noqa: N802 - gRPC method name
        """The build of a registry image: one log line, then success — or the failure a planted
        ``image_build`` fault asks for (the SDK raises ``ImageBuildError``)."""
        from grpclib import GRPCError, Status
        from modal_proto import api_pb2

        request = await self._request(stream, "ImageJoinStreaming")
        reference = self._images.get(request.image_id)
        if reference is None:
            raise GRPCError(Status.NOT_FOUND, f"Image '{request.image_id}' not found")
        generic = api_pb2.GenericResult
        result = generic(status=generic.GENERIC_STATUS_SUCCESS)
        try:
            await asyncio.to_thread(self.fake.take_fault, "image_build")
        except Exception as exc:  # noqa: BLE001 - the planted failure is the outcome
            result = generic(status=generic.GENERIC_STATUS_FAILURE, exception=str(exc))
        await stream.send_message(api_pb2.ImageJoinStreamingResponse(
            task_logs=[api_pb2.TaskLogs(data=f"pulling {reference}\n",
                                        file_descriptor=api_pb2.FILE_DESCRIPTOR_STDERR)],
            entry_id="1"))
        await stream.send_message(api_pb2.ImageJoinStreamingResponse(result=result, eof=True,
                                                                     entry_id="2"))

    async def FunctionPrecreate(self, stream: Any) -> None:  # noqa: N802 - gRPC method name
        """An id for a function about to be created."""
        from modal_proto import api_pb2

        request = await self._request(stream, "FunctionPrecreate")
        function_id = request.existing_function_id or self._id("fu")
        await stream.send_message(api_pb2.FunctionPrecreateResponse(
            function_id=function_id, handle_metadata=_handle_metadata(request.function_name)))

    async def FunctionCreate(self, stream: Any) -> None:  # noqa: N802 - gRPC method name
        """Record the function's definition (image, secrets, volume, timeout, memory, entry)."""
        from grpclib import GRPCError, Status
        from modal_proto import api_pb2

        request = await self._request(stream, "FunctionCreate")
        fn = request.function
        function_id = request.existing_function_id or self._id("fu")
        image = self._images.get(fn.image_id)
        secrets = [self._named[sid][0] for sid in fn.secret_ids if sid in self._named]
        env_vars: dict[str, str] = {}
        for sid in fn.secret_ids:
            env_vars.update(self._env_dicts.get(sid, {}))
        if image is None or ENTRY_ENV_KEY not in env_vars or len(fn.volume_mounts) != 1:
            raise GRPCError(Status.INVALID_ARGUMENT, f"function {fn.function_name!r} lacks a "
                            "built image, its entry variable or its one volume mount")
        mount = fn.volume_mounts[0]
        entry = json.loads(env_vars[ENTRY_ENV_KEY])
        definition = {"ref": entry["ref"], "function_name": fn.function_name, "image": image,
                      "timeout_s": fn.timeout_secs, "memory_mb": fn.resources.memory_mb,
                      "secrets": secrets, "volume": self._volumes.get(mount.volume_id, ""),
                      "mount": mount.mount_path, "entry": entry,
                      # the definition as deployed: what a container's arguments carry
                      "definition": base64.b64encode(fn.SerializeToString()).decode("ascii")}
        self._functions[function_id] = definition
        self.asked.append({"rpc": "FunctionCreate", **{k: v for k, v in definition.items()
                                                        if k not in ("entry", "definition")}})
        await stream.send_message(api_pb2.FunctionCreateResponse(
            function_id=function_id, handle_metadata=_handle_metadata(fn.function_name),
            function=fn, function_data=api_pb2.FunctionData(
                function_name=fn.function_name,
                ranked_functions=[api_pb2.FunctionData.RankedFunction(function=fn)])))

    async def AppPublish(self, stream: Any) -> None:  # noqa: N802 - gRPC method name
        """Deploy: the app's functions become what ``FunctionGet`` finds."""
        from grpclib import GRPCError, Status
        from modal_proto import api_pb2

        request = await self._request(stream, "AppPublish")
        name, env = self._apps.get(request.app_id, (request.name, ""))
        functions = {tag: {**self._functions[fid], "function_id": fid}
                     for tag, fid in request.function_ids.items() if fid in self._functions}
        if len(functions) != len(request.function_ids):
            raise GRPCError(Status.NOT_FOUND, "publish names a function that was not created")
        self.asked.append({"rpc": "AppPublish", "app": request.name or name, "environment": env,
                           "tag": request.deployment_tag, "functions": sorted(functions)})
        try:
            await asyncio.to_thread(self.fake.publish, request.name or name, environment_name=env,
                                    tag=request.deployment_tag, functions=functions,
                                    app_id=request.app_id, tags=dict(request.tags))
        except Exception as exc:
            raise GRPCError(_grpc_status(exc), str(exc)) from exc
        await stream.send_message(api_pb2.AppPublishResponse(url=f"fake://{env}/{name}"))

    async def AppGetOrCreate(self, stream: Any) -> None:  # noqa: N802 - gRPC method name
        """``App.lookup(name)``: the deployed app (``NOT_FOUND`` if unknown or stopped, like
        Modal's server); creating a missing app is not served."""
        from grpclib import GRPCError, Status
        from modal_proto import api_pb2

        request = await self._request(stream, "AppGetOrCreate")
        if request.object_creation_type not in (api_pb2.OBJECT_CREATION_TYPE_UNSPECIFIED,):
            raise GRPCError(Status.UNIMPLEMENTED, "the fake Modal transport only looks apps up")
        env = self._environment(request.environment_name)
        try:
            app = await asyncio.to_thread(self.fake.lookup_app, request.app_name,
                                          environment_name=env)
        except Exception as exc:
            raise GRPCError(_grpc_status(exc), str(exc)) from exc
        self._apps[app["app_id"]] = (request.app_name, env)
        await stream.send_message(api_pb2.AppGetOrCreateResponse(
            app_id=app["app_id"], handle_metadata=_app_metadata(app)))

    async def AppGetInfo(self, stream: Any) -> None:  # noqa: N802 - gRPC method name
        """``App.info(refresh=True)``: lifecycle and functions of the app with that id, in any
        state (``NOT_FOUND`` for an unknown id)."""
        from grpclib import GRPCError, Status
        from modal_proto import api_pb2

        request = await self._request(stream, "AppGetInfo")
        app = await asyncio.to_thread(self.fake.app_by_id, request.app_id)
        if app is None:
            raise GRPCError(Status.NOT_FOUND, f"App '{request.app_id}' not found")
        await stream.send_message(api_pb2.AppGetInfoResponse(info=_app_metadata(app)))

    async def AppGetTags(self, stream: Any) -> None:  # noqa: N802 - gRPC method name
        """``App.get_tags()``: the tags the last publish sent (``NOT_FOUND`` for an unknown id)."""
        from grpclib import GRPCError, Status
        from modal_proto import api_pb2

        request = await self._request(stream, "AppGetTags")
        app = await asyncio.to_thread(self.fake.app_by_id, request.app_id)
        if app is None:
            raise GRPCError(Status.NOT_FOUND, f"App '{request.app_id}' not found")
        await stream.send_message(api_pb2.AppGetTagsResponse(tags=dict(app.get("tags") or {})))

    async def AppStop(self, stream: Any) -> None:  # noqa: N802 - gRPC method name
        """``App.stop()``: the app is stopped; a later lookup by name no longer finds it."""
        from google.protobuf import empty_pb2
        from grpclib import GRPCError

        request = await self._request(stream, "AppStop")
        try:
            await asyncio.to_thread(self.fake.stop_app_id, request.app_id)
        except Exception as exc:
            raise GRPCError(_grpc_status(exc), str(exc)) from exc
        self.asked.append({"rpc": "AppStop", "app_id": request.app_id})
        await stream.send_message(empty_pb2.Empty())

    async def AppFetchLogs(self, stream: Any) -> None:  # noqa: N802 - gRPC method name
        """``App.logs.tail(n)``: the app's kept log lines (its containers' stderr) within
        ``[since, until)``, the most recent ``limit`` of them, oldest first, in one batch."""
        from modal_proto import api_pb2

        request = await self._request(stream, "AppFetchLogs")
        since = request.since.ToNanoseconds() / 1e9 if request.HasField("since") else None
        until = request.until.ToNanoseconds() / 1e9 if request.HasField("until") else None
        entries = [entry for entry in await asyncio.to_thread(self.fake.app_log_entries,
                                                              request.app_id)
                   if _within(entry["timestamp"], since, until)]
        if request.limit:
            entries = entries[-request.limit:]
        stderr = api_pb2.FILE_DESCRIPTOR_STDERR
        items = [api_pb2.TaskLogs(data=entry["message"] + "\n", file_descriptor=stderr,
                                  timestamp=entry["timestamp"] or 0.0,
                                  timestamp_ns=int((entry["timestamp"] or 0.0) * 1e9))
                 for entry in entries]
        batches = [api_pb2.TaskLogsBatch(items=items)] if items else []
        await stream.send_message(api_pb2.AppFetchLogsResponse(batches=batches))

    async def AppHeartbeat(self, stream: Any) -> None:  # noqa: N802 - gRPC method name
        """Nothing to keep alive."""
        from google.protobuf import empty_pb2

        await self._request(stream, "AppHeartbeat")
        await stream.send_message(empty_pb2.Empty())

    async def AppClientDisconnect(self, stream: Any) -> None:  # noqa: N802 - gRPC method name
        """The deploy's client is done with the app."""
        from google.protobuf import empty_pb2

        await self._request(stream, "AppClientDisconnect")
        await stream.send_message(empty_pb2.Empty())


async def _container_identity(event: Any) -> None:
    """Calls on a task's socket come from its container: a client that does not say it is one
    (a token client) is ``UNAUTHENTICATED`` there."""
    from grpclib import GRPCError, Status
    from modal_proto import api_pb2

    if event.metadata.get(CLIENT_TYPE_HEADER) != str(api_pb2.CLIENT_TYPE_CONTAINER):
        raise GRPCError(Status.UNAUTHENTICATED, "only the task's container may call here")


def _within(timestamp: float | None, since: float | None, until: float | None) -> bool:
    """Whether a log line falls in ``[since, until)`` (a line without a time always does)."""
    if timestamp is None:
        return True
    return (since is None or timestamp >= since) and (until is None or timestamp < until)


def _app_metadata(app: dict[str, Any]) -> Any:
    """A :meth:`FakeModalState.app_by_id` record as Modal's ``AppHandleMetadata``."""
    from modal_proto import api_pb2

    states = {"deployed": api_pb2.APP_STATE_DEPLOYED, "stopped": api_pb2.APP_STATE_STOPPED}
    functions = {tag: str(fn.get("function_id") or f"fu-{app['app_id'][3:]}")
                 for tag, fn in app["functions"].items()}
    deployed_at = float(app.get("deployed_at") or 0.0)
    return api_pb2.AppHandleMetadata(
        app_id=app["app_id"], description=app["name"], environment_name=app["environment_name"],
        functions=functions, lifecycle=api_pb2.AppLifecycle(
            app_state=states.get(app["state"], api_pb2.APP_STATE_UNSPECIFIED),
            created_at=deployed_at, deployed_at=deployed_at, version=int(app["version"]),
            stopped_at=float(app.get("stopped_at") or 0.0)))


def _handle_metadata(function_name: str) -> Any:
    from modal_proto import api_pb2

    pickle = api_pb2.DATA_FORMAT_PICKLE
    return api_pb2.FunctionHandleMetadata(
        function_name=function_name, function_type=api_pb2.Function.FUNCTION_TYPE_FUNCTION,
        supported_input_formats=[pickle], supported_output_formats=[pickle])


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
    if isinstance(error, ContainerFailure):  # what the container (or its end) reported
        return error.result
    if isinstance(error, mexc.FunctionTimeoutError):
        return generic(status=generic.GENERIC_STATUS_TIMEOUT, exception=str(error))
    return generic(status=generic.GENERIC_STATUS_FAILURE, exception=f"{type(error).__name__}: {error}")


def _data_format(task: asyncio.Task[Any]) -> Any:
    """The output's data format: the container's own for a result it reported, else pickle."""
    from modal_proto import api_pb2

    error = task.exception()
    return error.data_format if isinstance(error, ContainerFailure) else api_pb2.DATA_FORMAT_PICKLE


def _drop_sdk_env_client() -> None:
    """The SDK keeps one ``Client.from_env()`` per process; a new server (a new socket) needs it
    rebuilt from the current ``MODAL_SERVER_URL``, so starting and closing a server drop it."""
    from modal.client import Client, _Client

    if _Client._client_from_env is not None:
        with contextlib.suppress(Exception):  # a client of a server already gone: just drop it
            Client.from_env().close()
    _Client._set_env_client(None)


class FakeModalServer:
    """The fake on a unix socket (gRPC) and 127.0.0.1 (blob HTTP), served by its own event loop
    in a daemon thread; a context manager. Point a client at it with :meth:`environ`."""

    def __init__(self, state_dir: Path, source_root: Path | None = None, *,
                 worker: str = "host", **worker_options: Any) -> None:
        self.state = FakeModalState(Path(state_dir), source_root=source_root)
        self._dir = Path(tempfile.mkdtemp(prefix="pr-modal-"))  # short: unix paths max ~107 bytes
        self.worker = make_worker(worker, self._dir, **worker_options)
        self.servicer = FakeDeployServicer(self.state, self.worker, self._dir)
        self.token_id, self.token_secret = "ak-fake", "as-fake"
        self.path = self._dir / "modal.sock"
        self.url = f"unix://{self.path}"
        self._loop = asyncio.new_event_loop()
        self._server: Any = None
        self._blob_runner: Any = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name="fake-modal-server",
                                        daemon=True)

    def environ(self) -> dict[str, str]:
        """The SDK's own settings that point a client (this process or a child) at the fake.
        The token is a placeholder the SDK insists on; nothing but the fake ever receives it."""
        return {"MODAL_SERVER_URL": self.url, "MODAL_TOKEN_ID": self.token_id,
                "MODAL_TOKEN_SECRET": self.token_secret}

    @property
    def rpcs(self) -> list[str]:
        """Every RPC asked, in order."""
        return self.servicer.rpcs

    @property
    def asked(self) -> list[dict[str, Any]]:
        """What the deploy, secrets and volume RPCs asked for, as plain data, in order."""
        return self.servicer.asked

    async def _client_identity(self, event: Any) -> None:
        """Every call on the server's own socket is a client's: it must say so and carry this
        server's token (``UNAUTHENTICATED`` otherwise, as Modal answers a wrong token); the
        container-side calls are served on a task's own socket only."""
        from grpclib import GRPCError, Status
        from modal_proto import api_pb2

        name = event.method_name.rsplit("/", 1)[-1]
        metadata = event.metadata
        if name in CONTAINER_RPCS:
            self.servicer._note(name)
            raise GRPCError(Status.PERMISSION_DENIED, f"{name} is a container call; this "
                                                      "connection is not a container's")
        if (metadata.get(CLIENT_TYPE_HEADER) != str(api_pb2.CLIENT_TYPE_CLIENT)
                or metadata.get("x-modal-token-id") != self.token_id
                or metadata.get("x-modal-token-secret") != self.token_secret):
            self.servicer._note(name)
            raise GRPCError(Status.UNAUTHENTICATED, "Invalid token id or secret")

    def _serve(self) -> None:
        from grpclib.events import RecvRequest, listen
        from grpclib.server import Server

        asyncio.set_event_loop(self._loop)
        try:
            self._server = Server([self.servicer])
            listen(self._server, RecvRequest, self._client_identity)
            self._loop.run_until_complete(self._server.start(path=str(self.path)))
            self._loop.run_until_complete(self._start_blobs())
        except Exception as exc:  # noqa: BLE001 - reported by start(); the thread ends here
            self._failure = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()

    async def _start_blobs(self) -> None:
        """The block store of volume reads, on loopback: ``GET /blocks/<token>/<index>``."""
        from aiohttp import web
        from modal._utils.blob_utils import BLOCK_SIZE

        async def block(request: Any) -> Any:
            path = self.servicer.blobs.get(request.match_info["token"])
            index = int(request.match_info["index"])
            if path is None or not path.is_file():
                raise web.HTTPNotFound()
            with path.open("rb") as handle:
                handle.seek(index * BLOCK_SIZE)
                return web.Response(body=handle.read(BLOCK_SIZE))

        app = web.Application()
        app.router.add_get("/blocks/{token}/{index:[0-9]+}", block)
        self._blob_runner = web.AppRunner(app, access_log=None)
        await self._blob_runner.setup()
        site = web.TCPSite(self._blob_runner, "127.0.0.1", 0)
        await site.start()
        port = self._blob_runner.addresses[0][1]
        self.servicer.blob_url = f"http://127.0.0.1:{port}"

    def start(self) -> FakeModalServer:
        """Start serving; returns once both sockets accept connections."""
        _drop_sdk_env_client()
        self._thread.start()
        if not self._ready.wait(_SERVER_READY_S) or self._failure is not None:
            raise RuntimeError(f"the fake Modal server did not start: {self._failure!r}")
        return self

    def close(self) -> None:
        """Drop this process's SDK client (its connections first), stop both servers and the
        loop, and remove the socket folder."""
        _drop_sdk_env_client()
        if self._server is not None and self._loop.is_running():
            async def stop() -> None:
                running = [task for task in self.servicer.inputs.values() if not task.done()]
                for task in running:
                    task.cancel()  # kills running inputs' process groups
                if running:  # let each cancelled input finish its own clean-up
                    await asyncio.wait(running, timeout=5)
                self._server.close()
                await self._server.wait_closed()
                if self._blob_runner is not None:
                    await self._blob_runner.cleanup()

            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(stop(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
        if not self._thread.is_alive() and not self._loop.is_closed():
            self._loop.close()
        with contextlib.suppress(Exception):
            getattr(self.worker, "close", lambda: None)()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> FakeModalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
