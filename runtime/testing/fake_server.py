"""A fake Modal *server* for the real SDK: only the gRPC transport is faked, not the SDK.

:class:`runtime.testing.fake_boundary.FakeModal` replaces :class:`runtime.modal.boundary.SdkBoundary`
wholesale, so the SDK's own code never runs under it. Here the lookup and invocation path runs
through the installed ``modal`` SDK for real (``Function.from_name(...).hydrate()``, ``spawn``,
``FunctionCall.get(timeout=)``, its retries, its argument/result serialization and its mapping of
gRPC statuses and result statuses to ``modal.exception.*``), talking to an in-process grpclib
server on a unix socket (no network socket is ever opened).

The server answers the handful of RPCs that path uses — ``FunctionGet``, ``FunctionMap``,
``FunctionGetOutputs``, ``FunctionCallCancel`` — from the same folder-backed state as the fake
boundary (apps deployed through it, secrets, the volume, planted faults) and executes a call with
:meth:`FakeModal.call_function` (a subprocess running the in-container entry).

Deploy (``App.deploy`` of :func:`runtime.modal.app.build_app`'s app) and secrets sync
(``Secret.objects.list/create``, ``Secret.update``) run through the SDK too
(:class:`FakeDeployServicer`): ``AppGetByDeploymentName``, ``AppCreate``/``AppGetLayout``,
``EnvironmentGetOrCreate``, ``SecretGetOrCreate``, ``MountGetOrCreate`` (the SDK's global client
mount), ``ImageGetOrCreate`` (answered as an image already built, so no build stream is joined),
``VolumeGetOrCreate``, ``FunctionPrecreate``, ``FunctionCreate``, ``AppHeartbeat``, ``AppPublish``
(which stores the functions where ``FunctionGet`` finds them), ``AppClientDisconnect``,
``SecretList`` and ``SecretUpdate``. The operator ops run through the SDK's ``App.lookup(name)``
(``AppGetOrCreate``: ``NOT_FOUND`` for an unknown or stopped app) then ``info(refresh=True)``
(``AppGetInfo``) with ``get_tags()`` (``AppGetTags``: the tags ``AppPublish`` stored),
``stop()`` (``AppStop``) or ``logs.tail(n)`` (``AppFetchLogs``, serving the log
lines the fake keeps from its containers' stderr). Every other RPC answers ``UNIMPLEMENTED``. The
volume read stays on the fake boundary (it needs blob storage over HTTP).
"""

from __future__ import annotations

import asyncio
import atexit
import builtins
import contextlib
import json
import shutil
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any

from runtime.modal.app import ENTRY_ENV_KEY
from runtime.modal.boundary import AppStatus, SdkBoundary
from runtime.testing.fake_boundary import FakeModal
from runtime.testing.fake_boundary import from_environment as fake_from_environment

_HANG = object()  # a planted ``TimeoutError``: the input never produces an output
_SERVER_READY_S = 30.0
_IMAGE_BUILDER_VERSION = "2024.10"  # one the installed SDK supports


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


class FakeDeployServicer(FakeModalServicer):
    """Adds the deploy, secrets and app ops RPCs: what the SDK's ``App.deploy`` (app, environment, named
    secrets, volume, registry image, functions, publish) and ``Secret.objects.list/create`` /
    ``Secret.update`` send. ``AppPublish`` stores the functions in the :class:`FakeModal` state,
    so a later ``FunctionGet`` finds and runs them.

    ``asked`` records each of these requests as plain data (names, image reference, function
    settings). Secret *values* appear only in the records of ``SecretGetOrCreate`` (creating
    secrets) and ``SecretUpdate``, as the SDK sent them.
    """

    def __init__(self, fake: FakeModal) -> None:
        super().__init__(fake)
        self.asked: list[dict[str, Any]] = []
        self._ids: dict[str, int] = {}
        self._apps: dict[str, tuple[str, str]] = {}  # app id -> (name, environment)
        self._images: dict[str, str] = {}  # image id -> registry reference
        self._volumes: dict[str, str] = {}  # volume id -> name
        self._named: dict[str, tuple[str, str]] = {}  # secret id -> (name, environment)
        self._env_dicts: dict[str, dict[str, str]] = {}  # ephemeral secret id -> values
        self._functions: dict[str, dict[str, Any]] = {}  # function id -> definition

    def _id(self, prefix: str) -> str:
        self._ids[prefix] = self._ids.get(prefix, 0) + 1
        return f"{prefix}-{self._ids[prefix]:06d}"

    async def _request(self, stream: Any, name: str) -> Any:
        request = await stream.recv_message()
        self.rpcs.append(name)
        return request

    def _environment(self, name: str) -> str:
        from grpclib import GRPCError, Status

        from runtime.testing.fake_boundary import ENVIRONMENTS

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
        """Names of the environment's secrets (one page)."""
        from modal_proto import api_pb2

        request = await self._request(stream, "SecretList")
        env = self._environment(request.environment_name)
        self.asked.append({"rpc": "SecretList", "environment": env})
        items = [api_pb2.SecretListItem(label=name, environment_name=env,
                                        secret_id=f"st-{env}-{name}",
                                        metadata=api_pb2.SecretMetadata(name=name,
                                                                        environment_name=env))
                 for name in self.fake.secret_names(env)]
        await stream.send_message(api_pb2.SecretListResponse(items=items, environment_name=env))

    async def SecretUpdate(self, stream: Any) -> None:  # noqa: N802 - gRPC method name
        """Merge the request's key updates into a named secret."""
        from google.protobuf import empty_pb2
        from grpclib import GRPCError, Status

        request = await self._request(stream, "SecretUpdate")
        target = self._named.get(request.secret_id)
        if target is None:
            raise GRPCError(Status.NOT_FOUND, f"unknown secret {request.secret_id!r}")
        values = {update.key: update.value for update in request.updates}
        self.asked.append({"rpc": "SecretUpdate", "name": target[0], "environment": target[1],
                           "values": values})
        await asyncio.to_thread(self.fake.update_secret, target[0], values,
                                environment_name=target[1])
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
        """The named volume (created if missing, as ``create_if_missing=True`` asks)."""
        from modal_proto import api_pb2

        request = await self._request(stream, "VolumeGetOrCreate")
        env = self._environment(request.environment_name)
        volume_id = f"vo-{env}-{request.deployment_name}"
        self._volumes[volume_id] = request.deployment_name
        self.asked.append({"rpc": "VolumeGetOrCreate", "name": request.deployment_name,
                           "environment": env})
        await stream.send_message(api_pb2.VolumeGetOrCreateResponse(volume_id=volume_id))

    async def ImageGetOrCreate(self, stream: Any) -> None:  # noqa: N802 - gRPC method name
        """A registry image whose build already succeeded (no build stream to join)."""
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
        generic = api_pb2.GenericResult
        await stream.send_message(api_pb2.ImageGetOrCreateResponse(
            image_id=image_id, result=generic(status=generic.GENERIC_STATUS_SUCCESS)))

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
                      "mount": mount.mount_path, "entry": entry}
        self._functions[function_id] = definition
        self.asked.append({"rpc": "FunctionCreate", **{k: v for k, v in definition.items()
                                                        if k != "entry"}})
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


def _within(timestamp: float | None, since: float | None, until: float | None) -> bool:
    """Whether a log line falls in ``[since, until)`` (a line without a time always does)."""
    if timestamp is None:
        return True
    return (since is None or timestamp >= since) and (until is None or timestamp < until)


def _app_metadata(app: dict[str, Any]) -> Any:
    """A :meth:`FakeModal.app_by_id` record as Modal's ``AppHandleMetadata``."""
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
    """Deploy, secrets sync, lookup, invocation and the ops (status, stop, logs) through the real
    SDK over the fake transport; the volume read on the fake boundary.

    ``kind = "fake-transport"`` is reported in every result that used it.
    """

    kind = "fake-transport"

    def __init__(self, fake: FakeModal) -> None:
        import modal
        from modal_proto import api_pb2

        self.fake = fake
        self.servicer = FakeDeployServicer(fake)
        self.server = FakeTransportServer(self.servicer).start()
        # Placeholder credentials: the fake server never checks them, nothing else receives them.
        self._open = contextlib.ExitStack()
        self.client = self._open.enter_context(modal.Client(
            self.server.url, api_pb2.CLIENT_TYPE_CLIENT, ("ak-fake", "as-fake")))
        self.sdk = SdkBoundary(client=self.client)

    @property
    def rpcs(self) -> list[str]:
        """Every RPC the SDK sent, in order."""
        return self.servicer.rpcs

    @property
    def asked(self) -> list[dict[str, Any]]:
        """What the deploy and secrets RPCs asked for, as plain data, in order."""
        return self.servicer.asked

    def deploy(self, app: Any, *, name: str, environment_name: str, tag: str,
               plan: dict[str, Any] | None = None) -> str:
        """Through the real SDK: ``App.deploy`` over the fake transport (``plan`` is unused, as
        on Modal: the server sees only what the SDK sends)."""
        return self.sdk.deploy(app, name=name, environment_name=environment_name, tag=tag,
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
        """Through the real SDK: ``SecretList``."""
        return self.sdk.list_secret_names(environment_name=environment_name)

    def create_secret(self, name: str, values: dict[str, str], *, environment_name: str) -> None:
        """Through the real SDK: ``SecretGetOrCreate`` (create, fail if it exists)."""
        self.sdk.create_secret(name, values, environment_name=environment_name)

    def update_secret(self, name: str, values: dict[str, str], *, environment_name: str) -> None:
        """Through the real SDK: ``SecretGetOrCreate`` (by name) + ``SecretUpdate``."""
        self.sdk.update_secret(name, values, environment_name=environment_name)

    def app_status(self, app_name: str, *, environment_name: str) -> AppStatus:
        """Through the real SDK: ``AppGetOrCreate`` (lookup) + ``AppGetInfo``."""
        return self.sdk.app_status(app_name, environment_name=environment_name)

    def app_stop(self, app_name: str, *, environment_name: str) -> None:
        """Through the real SDK: ``AppGetOrCreate`` (lookup) + ``AppStop``."""
        self.sdk.app_stop(app_name, environment_name=environment_name)

    def app_logs(self, app_name: str, *, environment_name: str, entries: int) -> list[dict[str, Any]]:
        """Through the real SDK: ``AppGetOrCreate`` (lookup) + ``AppFetchLogs`` (the SDK widens
        its look-back window until it has ``entries`` lines)."""
        return self.sdk.app_logs(app_name, environment_name=environment_name, entries=entries)

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
    """The factory :func:`runtime.modal.boundary.get_boundary` calls: one server and client per
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
