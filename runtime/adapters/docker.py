"""The ``docker`` adapter: the pinned image in the local Docker Engine, sealed off.

The container runs the same in-container entry as the Modal function
(``python3 -m runtime.child.entry``), which spawns the processor through the one spawn helper
and enforces ``timeout_s`` itself; the host keeps a longer deadline (``timeout_s x 1.2 + grace``)
for the container as a whole. Isolation: ``network=none``, read-only root with a tmpfs ``/tmp``,
every capability dropped, ``no-new-privileges``, pids and memory limits, a non-root user, and only
this execution's two folders bind-mounted (at the same absolute paths, so the envelope's
``index_path`` is valid on the host).

User: as root on the host the container runs as ``65534:65534`` (nobody) and the two per-execution
folders are chowned to it for the run and back afterwards; a non-root caller's own uid/gid is
used instead (already non-root, and its files stay its own). Nothing else of the host is writable.

Lifecycle: pre-pull by digest (never ``containers.run``, which silently pulls), ``create`` →
attach stdin → ``start`` → ``wait(deadline)`` → kill on expiry → bounded stdout/stderr read
separately → ``remove(force=True)`` in ``finally``. Containers carry labels so a sweep can prove
nothing was left behind.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runtime.adapters.base import RunRequest
from runtime.adapters.childlog import StderrForwarder
from runtime.adapters.outcome import TIMEOUT_RC, Attempt
from runtime.child.env import build_child_env
from runtime.child.spawn import SpawnResult, StderrSplitter, StdoutCollector
from runtime.contract.wire import is_digest
from runtime.errors import (
    AdapterInvocationError,
    ImageUnavailableError,
    ImageUnpinnedError,
    RegistryMismatchError,
    bound_message,
)
from runtime.images.engine import (
    call_engine,
    engine_client,
    engine_session,
    translate,
    with_registry_retry,
)
from runtime.kit.layout import execution_dir
from runtime.logging import get_logger

MANAGED_LABEL = "io.processor-runtime.managed"
EXECUTION_LABEL = "io.processor-runtime.execution-id"
REF_LABEL = "io.processor-runtime.ref"
NOBODY = 65534
DEADLINE_FACTOR = 1.2
DEADLINE_GRACE_S = 5.0
PIDS_LIMIT = 128
TMPFS = "rw,nosuid,nodev,size=64m,mode=1777"
LOG_MAX_SIZE = "32m"
PASSTHROUGH_KEYS = ("CI", "TEST_LANE", "TZ", "SOURCE_DATE_EPOCH")


def container_deadline(timeout_s: float) -> float:
    """The host's wait for the whole container: ≥ the function timeout x 1.2, plus start-up."""
    return timeout_s * DEADLINE_FACTOR + DEADLINE_GRACE_S


def sweep_containers() -> list[str]:
    """Force-remove every container this runtime created (by label); returns their ids."""
    with engine_session() as engine:
        found = call_engine("list containers", lambda: engine.api.containers(
            all=True, filters={"label": f"{MANAGED_LABEL}=1"}))
        removed = []
        for item in found:
            with contextlib.suppress(Exception):
                engine.api.remove_container(item["Id"], force=True)
                removed.append(str(item["Id"]))
    return removed


class _Image:
    """The image to run: its reference, the manifest digest (if any) and the expected config."""

    def __init__(self, reference: str, digest: str | None, config_digest: str | None,
                 source: str) -> None:
        self.reference = reference
        self.digest = digest
        self.config_digest = config_digest
        self.source = source


def select_image(request: RunRequest) -> _Image:
    """The pinned ``repository@digest`` (or the dev-only override); ``ERR_IMAGE_UNPINNED``."""
    pin = request.processor.version.image
    ref = request.processor.ref
    override = request.image_override
    if override:
        if is_digest(override):
            if not pin.repository:
                raise ImageUnpinnedError(
                    f"--image-override {override} is a bare digest but {ref} records no "
                    "image.repository; pass repository@digest")
            return _Image(f"{pin.repository}@{override}", override, None, "override")
        digest = override.rsplit("@", 1)[1] if "@" in override else None
        if digest is not None and not is_digest(digest):
            raise ImageUnavailableError(f"--image-override {override!r}: malformed digest")
        return _Image(override, digest, None, "override")
    if not pin.repository or not pin.digest:
        raise ImageUnpinnedError(
            f"{ref} has no pinned image (image.repository/digest are null in the registry); "
            "build, push and pin it (inv build-processor, push-processor, pin-processor "
            "--verify-digest) or pass --image-override in env=dev")
    return _Image(f"{pin.repository}@{pin.digest}", pin.digest, pin.config_digest, "pin")


def _ensure_image(client: Any, image: _Image, log: Any) -> str:
    """The local image ID of ``image``; pulls digest references (retried), never tags."""
    import docker.errors

    def inspect() -> str | None:
        try:
            return str(client.api.inspect_image(image.reference)["Id"])
        except docker.errors.ImageNotFound:
            return None

    found = call_engine(f"inspect {image.reference}", inspect)
    if found:
        return found
    if image.digest is None:
        raise ImageUnavailableError(f"image {image.reference} is not in the local engine "
                                    "(only digest references are pulled)")

    def pull_once() -> None:
        errors = []
        for event in client.api.pull(image.reference, stream=True, decode=True):
            if isinstance(event, dict) and (event.get("error") or event.get("errorDetail")):
                errors.append(str((event.get("errorDetail") or {}).get("message")
                                  or event.get("error")))
        if errors:
            from runtime.images.engine import is_transient_message

            text = "; ".join(errors)
            raise ImageUnavailableError(bound_message(f"pull {image.reference}: {text}"),
                                        retryable=is_transient_message(text))

    started = time.monotonic()
    log.info("image.pull.start", image=image.reference)
    with_registry_retry(f"pull {image.reference}",
                        lambda: call_engine(f"pull {image.reference}", pull_once))
    pulled = call_engine(f"inspect {image.reference}", inspect)
    if not pulled:
        raise ImageUnavailableError(f"image {image.reference} is missing after its pull")
    log.info("image.pull.complete", image=image.reference, image_id=pulled,
             elapsed_ms=int((time.monotonic() - started) * 1000))
    return pulled


#: The Engine API's multiplexed stream (no TTY): an 8-byte header per frame, the stream id
#: (1 stdout, 2 stderr), three zero bytes and the frame's length, big-endian.
_FRAME_HEADER_BYTES = 8
_FRAME_READ_BYTES = 64 * 1024


def _read_exactly(raw: Any, size: int) -> bytes:
    data = b""
    while len(data) < size:
        more = raw.read(size - len(data))
        if not more:
            break
        data += more
    return data


def _read_logs(client: Any, container_id: str, on_stdout: Callable[[bytes], None],
               on_stderr: Callable[[bytes], None]) -> None:
    """Both streams of a finished container from one ``logs`` request, frame by frame.

    docker-py's ``logs`` serves one stream per request and inspects the container before each
    to learn whether it has a TTY (ours never has): two requests and two inspects where one
    request does. Memory stays bounded: frames are read in pieces and handed on at once.
    """
    import docker.errors
    import requests

    api = client.api
    response = api.get(f"{api.base_url}/v{api.api_version}/containers/{container_id}/logs",
                       params={"stdout": 1, "stderr": 1, "follow": 0, "timestamps": 0,
                               "tail": "all"}, stream=True, timeout=api.timeout)
    try:
        try:
            response.raise_for_status()
        except requests.exceptions.HTTPError as exc:
            raise docker.errors.create_api_error_from_http_exception(exc) from exc
        raw = response.raw
        while True:
            header = _read_exactly(raw, _FRAME_HEADER_BYTES)
            if len(header) < _FRAME_HEADER_BYTES:
                return
            sink = on_stdout if header[0] == 1 else on_stderr if header[0] == 2 else None
            left = int.from_bytes(header[4:8], "big")
            while left:
                data = raw.read(min(left, _FRAME_READ_BYTES))
                if not data:
                    return
                left -= len(data)
                if sink is not None:
                    sink(data)
    finally:
        response.close()


def _chown_tree(root: Path, uid: int, gid: int) -> None:
    """``lchown`` a folder and everything below it (links are changed, never followed)."""
    os.lchown(root, uid, gid)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in (*dirnames, *filenames):
            with contextlib.suppress(FileNotFoundError):
                os.lchown(Path(dirpath) / name, uid, gid)


class DockerAdapter:
    """Runs the pinned image through the docker SDK (imported lazily); one attempt per call."""

    name = "docker"

    def __init__(self, client: Any = None) -> None:
        self._client = client

    def _engine(self) -> Any:
        if self._client is None:
            self._client = engine_client()
        return self._client

    def run(self, request: RunRequest) -> Attempt:
        """One container run; raises ``ERR_IMAGE_UNPINNED``, ``ERR_IMAGE_UNAVAILABLE``,
        ``ERR_REGISTRY_MISMATCH``, ``ERR_MISSING_SECRET`` or ``ERR_ADAPTER_INVOCATION``."""
        processor = request.processor
        image = select_image(request)
        log = get_logger(adapter=self.name, execution_id=request.execution_id,
                         processor_ref=str(processor.ref), mode=request.mode, env=request.env)
        environment = self._environment(request, image)
        client = self._engine()
        image_id = _ensure_image(client, image, log)
        if image.config_digest and image_id != image.config_digest:
            raise RegistryMismatchError(
                f"{image.reference} resolved to image {image_id} in the engine, but the pin "
                f"records config {image.config_digest}",
                meta={"expected": image.config_digest, "actual": image_id})
        image_digest = image.digest or image_id
        log.info("adapter.invoke.start", image=image.reference, image_digest=image_digest,
                 image_id=image_id, image_source=image.source, timeout_s=request.timeout_s)
        outcome, oom = self._run_container(client, request, image, environment, log)
        meta: dict[str, Any] = {"image_digest": image_digest, "image": image.reference}
        if oom:
            meta["oom_killed"] = True
        return Attempt(outcome, meta)

    def _environment(self, request: RunRequest, image: _Image) -> dict[str, str]:
        """Plumbing plus, in ``real`` mode only, the declared secrets (via the childenv rules)."""
        secrets = request.processor.version.secrets
        environment = {key: os.environ[key] for key in PASSTHROUGH_KEYS if key in os.environ}
        environment["HOME"] = "/tmp"
        if image.digest:
            environment["PROCESSOR_IMAGE_DIGEST"] = image.digest
        if request.mode == "real" and secrets:
            child = build_child_env(mode="real", env=request.env, secrets=secrets)
            environment.update({name: child[name] for name in secrets})
        return environment

    def _command(self, request: RunRequest) -> list[str]:
        version = request.processor.version
        command = ["python3", "-m", "runtime.child.entry",
                   "--entrypoint", f"/opt/processor/{version.entrypoint}",
                   "--timeout-s", f"{request.timeout_s:g}", "--env-name", request.env]
        if request.mode == "real":
            for name in version.secrets:
                command += ["--secret", name]
        return command

    def _run_container(self, client: Any, request: RunRequest, image: _Image,
                       environment: dict[str, str], log: Any) -> tuple[SpawnResult, bool]:
        import docker.types

        receipts = execution_dir(request.artifacts_root, request.execution_id)
        receipts.mkdir(parents=True, exist_ok=True)
        folders = [request.write_prefix, receipts.resolve()]
        host_ids = (os.getuid(), os.getgid())
        as_root = host_ids[0] == 0
        user = (NOBODY, NOBODY) if as_root else host_ids
        memory = f"{request.processor.version.memory_mb}m"
        host_config = client.api.create_host_config(
            network_mode="none", read_only=True, tmpfs={"/tmp": TMPFS}, cap_drop=["ALL"],
            security_opt=["no-new-privileges"], pids_limit=PIDS_LIMIT, mem_limit=memory,
            memswap_limit=memory, init=True,
            mounts=[docker.types.Mount(target=str(f), source=str(f), type="bind",
                                       read_only=False) for f in folders],
            log_config=docker.types.LogConfig(type="json-file",
                                              config={"max-size": LOG_MAX_SIZE, "max-file": "1"}),
        )
        labels = {MANAGED_LABEL: "1", EXECUTION_LABEL: request.execution_id,
                  REF_LABEL: str(request.processor.ref)}
        payload = request.payload_bytes()
        deadline = container_deadline(request.timeout_s)
        container_id: str | None = None
        if as_root:
            for folder in folders:
                _chown_tree(folder, *user)
        try:
            created = call_engine("create container", lambda: client.api.create_container(
                image=image.reference, command=self._command(request), user=f"{user[0]}:{user[1]}",
                environment=environment, labels=labels,
                # the entry starts the processor in its own folder: the prefix, as locally
                working_dir=str(request.write_prefix), stdin_open=True,
                detach=False, tty=False, use_config_proxy=False, host_config=host_config))
            container_id = str(created["Id"])
            started = time.monotonic()
            self._start_with_stdin(client, container_id, payload)
            rc, timed_out = self._wait(client, container_id, deadline, log)
            elapsed_ms = int((time.monotonic() - started) * 1000)
            out, err = StdoutCollector(), StderrSplitter(StderrForwarder())
            call_engine("read logs", lambda: _read_logs(client, container_id, out.feed, err.feed))
            stdout, ring, stdout_len, overflow = out.result()
            stderr_tail, stderr_len = err.result()
            state = call_engine("inspect container",
                                lambda: client.api.inspect_container(container_id))["State"]
            oom = bool(state.get("OOMKilled"))
        finally:
            if container_id is not None:
                try:
                    client.api.remove_container(container_id, force=True)
                except Exception as exc:  # noqa: BLE001 - report, then let the sweep catch it
                    log.warning("adapter.container.remove_failed", container_id=container_id,
                                error=bound_message(str(exc), 300))
            if as_root:
                for folder in folders:
                    with contextlib.suppress(OSError):
                        _chown_tree(folder, *host_ids)
        if timed_out:
            rc = TIMEOUT_RC
        outcome = SpawnResult(rc=rc, stdout=stdout, stdout_tail=ring, stdout_len=stdout_len,
                              stdout_overflow=overflow, stderr_tail=stderr_tail,
                              stderr_len=stderr_len, elapsed_ms=elapsed_ms,
                              timed_out=timed_out or rc == TIMEOUT_RC)
        return outcome, oom

    def _start_with_stdin(self, client: Any, container_id: str, payload: bytes) -> None:
        """Attach stdin before ``start`` so no byte is lost, send the payload, then close it."""
        import docker.errors

        attached = call_engine("attach stdin", lambda: client.api.attach_socket(
            container_id, params={"stdin": 1, "stream": 1, "stdout": 0, "stderr": 0}))
        raw = getattr(attached, "_sock", attached)
        try:
            try:
                client.api.start(container_id)
            except docker.errors.APIError as exc:
                raise AdapterInvocationError(bound_message(
                    f"container for {container_id[:12]} failed to start: "
                    f"{exc.explanation or exc}")) from exc
            try:
                raw.sendall(payload)
                raw.shutdown(socket.SHUT_WR)
            except OSError as exc:  # the entry may exit before reading (a broken image)
                get_logger().warning("adapter.stdin.closed_early", error=str(exc))
        finally:
            # Closing the SocketIO wrapper alone leaves the hijacked socket open.
            for handle in (attached, raw):
                with contextlib.suppress(OSError):
                    handle.close()

    def _wait(self, client: Any, container_id: str, deadline: float, log: Any) -> tuple[int, bool]:
        """Wait up to ``deadline`` seconds; on expiry kill the container (rc 124, timed out)."""
        import requests

        try:
            status = client.api.wait(container_id, timeout=deadline)
            return int(status.get("StatusCode", -1)), False
        except requests.exceptions.RequestException as exc:
            # docker-py raises ConnectionError(ReadTimeoutError) when the wait's read timeout
            # expires; anything else means the engine went away.
            if not isinstance(exc, requests.exceptions.Timeout) and "timed out" not in str(exc):
                raise translate(exc, "wait for container") from exc
            log.warning("adapter.container.deadline", container_id=container_id[:12],
                        deadline_s=deadline)
            with contextlib.suppress(Exception):
                client.api.kill(container_id)
            with contextlib.suppress(Exception):
                client.api.wait(container_id, timeout=10)
            return TIMEOUT_RC, True

    def close(self) -> None:
        """Close the engine client."""
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None
