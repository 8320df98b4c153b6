"""The container side of the fake Modal server: each input runs in a task of its own, executed by
Modal's own container entrypoint (``python -m modal._container_entrypoint``).

A task is what Modal's worker gives one container: an id, the serialized
``api_pb2.ContainerArguments`` (the function definition exactly as ``FunctionCreate`` received
it: module ``runtime.modal.app``, qualname ``modal_function``, ``include_source=False``), the
function's environment variables and secrets, the artifacts volume at its mount, and a channel to
the server. The channel is a unix socket of the task's own (as a container reaches only its
worker): the calls on it are the task's, and the container-side RPCs are served there only —
``ContainerHello``, ``FunctionGetInputs``, ``FunctionPutOutputs``, ``ContainerHeartbeat``,
``ContainerStop``, ``TaskResult``, ``VolumeCommit``/``VolumeReload`` — strictly: an unknown
function id, an input id the task was not handed, a volume the function does not mount or a
client that does not say it is a container is refused.

Two workers start the entrypoint:

* :class:`HostWorker` (fast lanes, no engine): a host subprocess of the base interpreter (no
  virtual environment, so nothing of the checkout is importable) in a scrubbed environment whose
  ``PYTHONPATH`` is the image's files (:func:`runtime.images.content.image_paths`, staged into a
  temporary folder as the image lays them out) and the modal client's site-packages; the volume
  is its host folder and ``/opt/processor`` the processor's source folder (paths mapped in and
  back);
* :class:`DockerWorker` (the docker lane): the pinned image itself, ``network=none``, the task's
  socket, the volume folder and the modal client (built once from ``requirements.lock`` for the
  image's Python, :func:`modal_client_dir`) bind-mounted, the client read-only at ``/pkg`` as
  Modal mounts its client package.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.modal.app import ENTRY_ENV_KEY, PROCESSOR_DIR

WORKERS = ("host", "docker")
CONTAINER_RPCS = frozenset({
    "ContainerHello", "ContainerHeartbeat", "ContainerStop", "FunctionGetInputs",
    "FunctionPutOutputs", "TaskResult", "VolumeCommit", "VolumeReload",
    "FunctionGetDynamicConcurrency", "FunctionCallPutDataOut",
})
CLIENT_TYPE_HEADER = "x-modal-client-type"
_GET_INPUTS_POLL_S = 5.0  # the long-poll of an empty FunctionGetInputs
_STDERR_KEEP = 8 * 1024
_STOP_WAIT_S = 10.0  # a killed container's waiter has this long to read its logs
_IN_CONTAINER_SOCKET = "/modal/server.sock"
_IN_CONTAINER_ARGS = "/modal/container_arguments.bin"
_IN_CONTAINER_CLIENT = "/pkg"
_IMAGE_RUNTIME_DIR = "/opt/runtime"
#: The task whose container is making the current call (unset: a client's call).
CALLING_TASK: contextvars.ContextVar[Task | None] = contextvars.ContextVar("calling_task",
                                                                        default=None)


class ContainerFailure(Exception):  # noqa: N818 - it carries a result, it is not a bug
    """The input failed in its container: ``result`` is the ``GenericResult`` the container (or
    the server, for a task that died) reported, relayed to the client unchanged."""

    def __init__(self, result: Any, data_format: int) -> None:
        super().__init__(str(result.exception))
        self.result = result
        self.data_format = data_format


@dataclass
class Task:
    """One container's server-side record."""

    task_id: str
    function_id: str
    app_id: str
    environment_name: str
    function_def: Any
    volume_ids: frozenset[str]
    pending: list[Any] = field(default_factory=list)  # FunctionGetInputsItem not yet handed out
    leased: dict[str, Any] = field(default_factory=dict)  # input id -> item handed out
    outputs: dict[str, asyncio.Future[tuple[Any, int]]] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    stopped: bool = False
    rpcs: list[str] = field(default_factory=list)

    def finished(self) -> bool:
        """Every input of the task has its output: the next ``FunctionGetInputs`` scales it down."""
        return not self.pending and all(future.done() for future in self.outputs.values())


def container_arguments(task: Task, *, app_layout: Any = None) -> bytes:
    """The serialized ``api_pb2.ContainerArguments`` of ``task`` (what Modal's worker writes to
    ``MODAL_CONTAINER_ARGUMENTS_PATH``)."""
    from modal_proto import api_pb2

    arguments = api_pb2.ContainerArguments(
        task_id=task.task_id, function_id=task.function_id, app_id=task.app_id,
        function_def=task.function_def, environment_name=task.environment_name)
    if app_layout is not None:
        arguments.app_layout.CopyFrom(app_layout)
    data: bytes = arguments.SerializeToString()
    return data


def _status(code: str) -> Any:
    from grpclib import Status

    return getattr(Status, code)


def _refuse(code: str, message: str) -> Exception:
    from grpclib import GRPCError

    return GRPCError(_status(code), message)


class ContainerChannel:
    """The grpclib handler of one task's socket: the container-side RPCs for that task, every
    other RPC answered by the server's own servicer (a container looks volumes up like a client).
    """

    def __init__(self, servicer: Any, task: Task) -> None:
        self.servicer = servicer
        self.task = task

    def __mapping__(self) -> dict[str, Any]:
        """grpclib's route table: every RPC of Modal's API, routed to this object."""
        from modal_proto import api_grpc

        mapping: dict[str, Any] = api_grpc.ModalClientBase.__mapping__(self)  # type: ignore[arg-type]
        return mapping

    def __getattr__(self, name: str) -> Any:
        if not name[:1].isupper():
            raise AttributeError(name)
        handler = getattr(self.servicer, name)

        async def as_this_task(stream: Any) -> None:
            token = CALLING_TASK.set(self.task)
            try:
                await handler(stream)
            finally:
                CALLING_TASK.reset(token)

        return as_this_task

    async def _request(self, stream: Any, name: str) -> Any:
        request = await stream.recv_message()
        self.task.rpcs.append(name)
        return request

    async def ContainerHello(self, stream: Any) -> None:  # noqa: N802 - gRPC method name
        """The container is up."""
        from google.protobuf import empty_pb2  # type: ignore[import-untyped]

        await self._request(stream, "ContainerHello")
        await stream.send_message(empty_pb2.Empty())

    async def ContainerHeartbeat(self, stream: Any) -> None:  # noqa: N802 - gRPC method name
        """Alive; a cancelled input is stopped by stopping its container, so no cancel event."""
        from modal_proto import api_pb2

        await self._request(stream, "ContainerHeartbeat")
        await stream.send_message(api_pb2.ContainerHeartbeatResponse())

    async def FunctionGetInputs(self, stream: Any) -> None:  # noqa: N802 - gRPC method name
        """Hand the task its next input; once every input has its output, the kill switch (the
        worker scales the container down); otherwise a long-poll that may end empty."""
        from modal_proto import api_pb2

        request = await self._request(stream, "FunctionGetInputs")
        task = self.task
        if request.function_id != task.function_id:
            raise _refuse("NOT_FOUND", f"task {task.task_id} does not run function "
                                       f"{request.function_id!r}")
        if request.input_concurrency < 1:
            raise _refuse("INVALID_ARGUMENT", "input_concurrency must be at least 1")
        deadline = time.monotonic() + _GET_INPUTS_POLL_S
        while not task.pending and not task.finished() and not task.stopped:
            task.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(task.changed.wait(), max(0.0, deadline - time.monotonic()))
            if time.monotonic() >= deadline:
                break
        if task.pending and not task.stopped:
            item = task.pending.pop(0)
            task.leased[item.input_id] = item
            await stream.send_message(api_pb2.FunctionGetInputsResponse(inputs=[item]))
            return
        if task.finished() or task.stopped:
            await stream.send_message(api_pb2.FunctionGetInputsResponse(
                inputs=[api_pb2.FunctionGetInputsItem(kill_switch=True)]))
            return
        await stream.send_message(api_pb2.FunctionGetInputsResponse())

    async def FunctionPutOutputs(self, stream: Any) -> None:  # noqa: N802 - gRPC method name
        """Record outputs: each must name an input this task was handed (keyed by input id, as
        the entrypoint sends it) with that input's retry count — and its call id and map index
        where the output names them — and carry a result; an input's output is accepted once."""
        from google.protobuf import empty_pb2

        request = await self._request(stream, "FunctionPutOutputs")
        task = self.task
        for item in request.outputs:
            leased = task.leased.get(item.input_id)
            if leased is None:
                raise _refuse("NOT_FOUND", f"input {item.input_id!r} was not handed to task "
                                           f"{task.task_id}")
            if (item.retry_count != leased.retry_count
                    or (item.function_call_id and item.function_call_id != leased.function_call_id)
                    or (item.function_map_idx and item.function_map_idx != leased.function_map_idx)):
                raise _refuse("INVALID_ARGUMENT", f"output for {item.input_id!r} names another "
                                                  "call, index or attempt than its input")
            if not item.HasField("result"):
                raise _refuse("INVALID_ARGUMENT", f"output for {item.input_id!r} has no result")
            future = task.outputs[item.input_id]
            if future.done():
                raise _refuse("ALREADY_EXISTS", f"input {item.input_id!r} already has an output")
            future.set_result((item.result, item.data_format))
        task.changed.set()
        await stream.send_message(empty_pb2.Empty())

    async def TaskResult(self, stream: Any) -> None:  # noqa: N802 - gRPC method name
        """The task failed as a whole (its user code did not import): every input it holds or
        would have been handed fails with that result, as Modal escalates a crash-looping task."""
        from google.protobuf import empty_pb2

        request = await self._request(stream, "TaskResult")
        task = self.task
        for future in task.outputs.values():
            if not future.done():
                future.set_result((request.result, 0))  # TaskResult carries no data format
        task.pending.clear()
        task.changed.set()
        await stream.send_message(empty_pb2.Empty())

    async def ContainerStop(self, stream: Any) -> None:  # noqa: N802 - gRPC method name
        """The container asks to stop fetching inputs (its own task id only)."""
        from google.protobuf import empty_pb2

        request = await self._request(stream, "ContainerStop")
        if request.task_id != self.task.task_id:
            raise _refuse("NOT_FOUND", f"task {request.task_id!r} is not this container's")
        self.task.stopped = True
        self.task.changed.set()
        await stream.send_message(empty_pb2.Empty())

    async def VolumeCommit(self, stream: Any) -> None:  # noqa: N802 - gRPC method name
        """Commit a volume the function mounts (the folder is the volume: nothing to copy)."""
        from modal_proto import api_pb2

        request = await self._request(stream, "VolumeCommit")
        self._check_volume(request.volume_id)
        await stream.send_message(api_pb2.VolumeCommitResponse(skip_reload=False))

    async def VolumeReload(self, stream: Any) -> None:  # noqa: N802 - gRPC method name
        """Reload a volume the function mounts."""
        from google.protobuf import empty_pb2

        request = await self._request(stream, "VolumeReload")
        self._check_volume(request.volume_id)
        await stream.send_message(empty_pb2.Empty())

    def _check_volume(self, volume_id: str) -> None:
        if volume_id not in self.task.volume_ids:
            raise _refuse("NOT_FOUND", f"volume {volume_id!r} is not mounted in task "
                                       f"{self.task.task_id}")


# -- what the container gets ---------------------------------------------------------------------
@dataclass(frozen=True)
class Launch:
    """One container to start: the task, its arguments file, its socket and what it mounts."""

    task: Task
    arguments_path: Path
    socket_path: Path
    image: str
    env: dict[str, str]  # the function's variables and secrets, as Modal injects them
    volume: Path
    mount: str
    processor_dir: Path | None  # the host worker's stand-in for the image's /opt/processor
    memory_mb: int
    labels: dict[str, str]


@dataclass
class Finished:
    """A started container, once it has exited (or was stopped)."""

    rc: int | None = None
    stderr_tail: bytes = b""

    def note(self, text: str) -> None:
        """Add a line of the fake's own to the tail (kept as bounded as the tail itself)."""
        self.stderr_tail = (self.stderr_tail + text.encode())[-_STDERR_KEEP:]


def _modal_env(launch: Launch, server_url: str, arguments: str) -> dict[str, str]:
    task = launch.task
    return {"MODAL_SERVER_URL": server_url, "MODAL_CONTAINER_ARGUMENTS_PATH": arguments,
            "MODAL_IS_REMOTE": "1", "MODAL_TASK_ID": task.task_id,
            "MODAL_ENVIRONMENT": task.environment_name, "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"}


def stage_image_files(target: Path, paths: list[str] | None = None) -> Path:
    """The image's ``/opt/runtime`` in ``target``: every file an image carries (or ``paths``),
    copied from this package's checkout. Returns ``target``."""
    from runtime.images.content import image_paths
    from runtime.paths import checkout_root

    source = checkout_root()
    for rel in paths if paths is not None else image_paths(source):
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / rel, dest)
    return target


def _client_site_packages() -> str:
    """Where the modal client this process uses is installed."""
    import modal

    return str(Path(modal.__file__).resolve().parent.parent)


class HostWorker:
    """The entrypoint as a host subprocess (see the module docstring)."""

    name = "host"
    needs_source = True  # /opt/processor is the processor's source folder

    def __init__(self, work_dir: Path, image_paths: list[str] | None = None) -> None:
        self._stage = stage_image_files(work_dir / "opt-runtime", image_paths)
        self._python = getattr(sys, "_base_executable", None) or sys.executable

    def map_payload(self, launch: Launch, payload: dict[str, Any]) -> dict[str, Any]:
        """Container paths under the mount become the volume's host folder."""
        local = dict(payload)
        for key in ("write_prefix", "artifacts_root"):
            local[key] = str(payload[key]).replace(launch.mount, str(launch.volume), 1)
        return local

    def map_result(self, launch: Launch, value: Any) -> Any:
        """The host folder in the result's stdout becomes the container path again."""
        if isinstance(value, dict) and isinstance(value.get("stdout"), str):
            value = {**value, "stdout": value["stdout"].replace(str(launch.volume), launch.mount)}
        return value

    async def start(self, launch: Launch) -> Any:
        """Start the entrypoint; returns the process."""
        env = {key: os.environ[key] for key in ("PATH", "LANG", "TMPDIR") if key in os.environ}
        env["HOME"] = str(launch.arguments_path.parent)
        env.update(launch.env)
        entry = json.loads(env[ENTRY_ENV_KEY])
        assert launch.processor_dir is not None  # needs_source: the server resolved it
        entry["entrypoint"] = str(entry["entrypoint"]).replace(PROCESSOR_DIR,
                                                               str(launch.processor_dir), 1)
        env[ENTRY_ENV_KEY] = json.dumps(entry, sort_keys=True)
        env.update(_modal_env(launch, f"unix://{launch.socket_path}", str(launch.arguments_path)))
        env["PYTHONPATH"] = os.pathsep.join((str(self._stage), _client_site_packages()))
        return await asyncio.create_subprocess_exec(
            self._python, "-B", "-m", "modal._container_entrypoint",
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, env=env, cwd=str(launch.arguments_path.parent),
            start_new_session=True)

    async def wait(self, proc: Any, finished: Finished) -> None:
        """Wait for the exit, keeping only the output's tail (memory stays bounded)."""
        data = bytearray()
        while chunk := await proc.stdout.read(65536):
            data += chunk
            del data[:-_STDERR_KEEP]
            finished.stderr_tail = bytes(data)
        finished.rc = await proc.wait()

    async def stop(self, proc: Any) -> None:
        """Stop the container: the entrypoint's process group and everything below it."""
        from runtime.testing.fake_server import _kill_group

        _kill_group(proc)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(proc.wait(), 10)


class DockerWorker:
    """The entrypoint in the pinned image on the local engine (see the module docstring)."""

    name = "docker"
    needs_source = False  # the image carries /opt/processor

    def __init__(self, work_dir: Path, client_dir: Path | None = None) -> None:
        self._work_dir = work_dir
        self._client_dir = client_dir
        self._engine: Any = None
        self._waiting: dict[str, threading.Event] = {}  # set once the waiter has read the logs

    def map_payload(self, launch: Launch, payload: dict[str, Any]) -> dict[str, Any]:
        """The volume is mounted where the function mounts it: paths stay as sent."""
        return dict(payload)

    def map_result(self, launch: Launch, value: Any) -> Any:
        """Nothing to map back."""
        return value

    def _client(self) -> Any:
        from runtime.images.engine import engine_client

        if self._engine is None:
            self._engine = engine_client()
        return self._engine

    def _ensure_image(self, reference: str) -> None:
        from runtime.errors import ImageUnavailableError
        from runtime.images.engine import call_engine

        client = self._client()
        with contextlib.suppress(ImageUnavailableError):  # not there yet: pull it
            call_engine(f"inspect {reference}", lambda: client.api.inspect_image(reference))
            return

        def pull() -> None:
            for event in client.api.pull(reference, stream=True, decode=True):
                if isinstance(event, dict) and (event.get("error") or event.get("errorDetail")):
                    raise ImageUnavailableError(f"pull {reference}: {event}")

        call_engine(f"pull {reference}", pull)

    def _create(self, launch: Launch) -> str:
        from runtime.images.engine import call_engine

        client_dir = self._client_dir or modal_client_dir()
        env = dict(launch.env)
        env.update(_modal_env(launch, f"unix://{_IN_CONTAINER_SOCKET}", _IN_CONTAINER_ARGS))
        env["PYTHONPATH"] = f"{_IMAGE_RUNTIME_DIR}:{_IN_CONTAINER_CLIENT}"
        env["HOME"] = "/tmp"
        self._ensure_image(launch.image)
        client = self._client()
        memory = f"{max(launch.memory_mb, 256)}m"
        host_config = client.api.create_host_config(
            network_mode="none", init=True, mem_limit=memory, memswap_limit=memory,
            tmpfs={"/tmp": "rw,size=256m"}, read_only=True,
            binds={str(launch.socket_path): {"bind": _IN_CONTAINER_SOCKET, "mode": "rw"},
                   str(launch.arguments_path): {"bind": _IN_CONTAINER_ARGS, "mode": "ro"},
                   str(client_dir): {"bind": _IN_CONTAINER_CLIENT, "mode": "ro"},
                   str(launch.volume): {"bind": launch.mount, "mode": "rw"}})
        created = call_engine("create container", lambda: client.api.create_container(
            image=launch.image, command=["python3", "-B", "-m", "modal._container_entrypoint"],
            environment=env, labels=launch.labels, working_dir="/tmp", detach=True, tty=False,
            use_config_proxy=False, host_config=host_config))
        container_id = str(created["Id"])
        try:
            call_engine("start container", lambda: client.api.start(container_id))
        except BaseException:  # not started: nobody else holds its id to remove it
            with contextlib.suppress(Exception):
                client.api.remove_container(container_id, force=True)
            raise
        return container_id

    async def start(self, launch: Launch) -> Any:
        """Create and start the container; returns its id."""
        return await asyncio.to_thread(self._create, launch)

    async def wait(self, container_id: Any, finished: Finished) -> None:
        """Wait for the exit; keep the log's tail. A container someone else removed meanwhile
        (the engine answers 404, or 409 once it is marked for removal) has no tail to keep."""
        client = self._client()
        read = self._waiting.setdefault(str(container_id), threading.Event())

        def wait() -> None:
            try:
                status = client.api.wait(container_id, timeout=None)
                finished.rc = int(status.get("StatusCode", -1))
                logs = client.api.logs(container_id, stdout=True, stderr=True, tail=200)
                finished.stderr_tail = bytes(logs)[-_STDERR_KEEP:]
            except Exception as exc:
                if not _container_gone(exc):
                    raise
            finally:
                read.set()
                self._waiting.pop(str(container_id), None)

        await asyncio.to_thread(wait)

    async def stop(self, container_id: Any) -> None:
        """Stop and remove the container (always called once it is done). It is killed first
        and removed once its waiter has read the logs (at most ``_STOP_WAIT_S``): removing it
        under the waiter would lose the tail and fail the waiter."""
        client = self._client()
        read = self._waiting.get(str(container_id))

        def remove() -> None:
            if read is not None and not read.is_set():
                with contextlib.suppress(Exception):
                    client.api.kill(container_id)
                read.wait(_STOP_WAIT_S)
            with contextlib.suppress(Exception):
                client.api.remove_container(container_id, force=True)

        await asyncio.to_thread(remove)

    def close(self) -> None:
        """Close the engine client."""
        if self._engine is not None:
            with contextlib.suppress(Exception):
                self._engine.close()
            self._engine = None


def _container_gone(exc: BaseException) -> bool:
    """Whether the engine refused because the container is removed or being removed."""
    status = getattr(getattr(exc, "response", None), "status_code", None)
    return status in (404, 409) and type(exc).__module__.startswith("docker")


async def start_surviving_cancel(worker: HostWorker | DockerWorker, launch: Launch) -> Any:
    """``worker.start(launch)``; cancelled meanwhile (``FunctionCallCancel`` while the engine is
    still creating the container), it waits for what the start still brings up and stops it,
    then re-raises: a cancelled input leaves no container or process behind, as on Modal."""
    starting = asyncio.ensure_future(worker.start(launch))
    try:
        return await asyncio.shield(starting)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await worker.stop(await starting)
        raise


def make_worker(name: str, work_dir: Path, **options: Any) -> HostWorker | DockerWorker:
    """The worker called ``name`` (:data:`WORKERS`)."""
    if name == "host":
        return HostWorker(work_dir, options.get("image_paths"))
    if name == "docker":
        return DockerWorker(work_dir, options.get("client_dir"))
    raise ValueError(f"unknown fake Modal worker {name!r}; expected one of {WORKERS}")


# -- the modal client for the image's Python ---------------------------------------------------
def _requirement_closure(root_dist: str) -> set[str]:
    """Canonical names of ``root_dist`` and everything it requires in this environment."""
    from importlib import metadata

    from packaging.requirements import Requirement

    seen: set[str] = set()
    todo = [root_dist]
    while todo:
        name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if name in seen:
            continue
        seen.add(name)
        for text in metadata.requires(name) or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return seen


def _lock_entries(lock: str, names: set[str]) -> str:
    """The blocks of ``requirements.lock`` (name==version plus hashes) for ``names``."""
    blocks: list[str] = []
    current: list[str] = []
    keep = False
    for line in lock.splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            if keep:
                blocks.append("\n".join(current))
            name = re.sub(r"[-_.]+", "-", line.split("==", 1)[0].split(";", 1)[0]).lower()
            keep, current = name.strip() in names, [line]
        elif line.strip().startswith("--hash") or line.rstrip().endswith("\\"):
            current.append(line)
    if keep:
        blocks.append("\n".join(current))
    return "\n".join(blocks) + "\n"


def modal_client_dir(state_root: Path | None = None) -> Path:
    """A folder holding the modal client and its dependencies for the image's Python (3.11, the
    base image's ``python3``), installed once with ``pip install --target --require-hashes``
    from ``requirements.lock``: what the container imports from ``/pkg``. Kept under
    ``<checkout>/.state/modal-client/`` and keyed by the lock's hash."""
    from runtime._files import file_lock
    from runtime.devinfra.services import state_dir
    from runtime.paths import checkout_root

    root = checkout_root()
    lock = (root / "requirements.lock").read_text("utf-8")
    key = hashlib.sha256(lock.encode()).hexdigest()[:12]
    base = (state_root or state_dir(root)) / "modal-client"  # state_dir ignores itself in git
    target = base / f"cp311-{key}"
    base.mkdir(parents=True, exist_ok=True)
    with file_lock(base / ".lock"):
        if (target / ".complete").is_file():
            return target
        shutil.rmtree(target, ignore_errors=True)
        with tempfile.TemporaryDirectory(dir=base) as scratch:
            requirements = Path(scratch) / "requirements.txt"
            requirements.write_text(_lock_entries(lock, _requirement_closure("modal")))
            staging = Path(scratch) / "site"
            subprocess.run(
                [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                 "--no-deps", "--require-hashes", "--only-binary=:all:", "--no-compile",
                 "--python-version", "3.11", "--target", str(staging), "-r", str(requirements)],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=600)
            staging.rename(target)
        (target / ".complete").write_text(json.dumps({"lock_sha256": key,
                                                      "python": sysconfig.get_python_version()}))
    return target
