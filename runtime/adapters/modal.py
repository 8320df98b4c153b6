"""The ``modal`` adapter: look the deployed function up by its computed name, call it, judge it.

Names come from :mod:`runtime.modal.naming` exactly as ``inv deploy-modal`` computes them. The payload
carries container paths under the artifacts volume mount; afterwards the run's folders are fetched
from the volume into the host's write prefix and artifacts root and the result is judged with
:func:`runtime.adapters.outcome.judge`, exactly like a local run. One attempt per ``run``; the
runner retries ``ERR_MODAL_TIMEOUT`` once through :mod:`runtime.retry`.

A batch opens :meth:`ModalAdapter.fan_out`: the same adapter, whose calls are inputs of one
``Function.map`` per deployed function (the SDK's own fan-out, :class:`MapStream`) instead of one
``spawn`` each. Everything else of an attempt (names, lookup, payload, fetch, the result's shape)
is this one ``run``, and the runner judges each item's attempt exactly as a single run's.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from typing import Any

from runtime.adapters.base import RunRequest
from runtime.adapters.outcome import Attempt
from runtime.child.spawn import SpawnResult
from runtime.errors import InputsError, ModalInvocationError
from runtime.kit.layout import EXECUTION_DIRNAME, RUNS_DIRNAME, execution_dir
from runtime.logging import get_logger
from runtime.modal.app import (
    ARTIFACTS_MOUNT,
    RESULT_DIGEST_KEY,
    client_timeout_s,
    function_timeout_s,
)
from runtime.modal.boundary import ModalBoundary, get_boundary
from runtime.modal.naming import modal_volume_name
from runtime.modal.ops import lookup_causes, translate_sdk_error
from runtime.modal.target import ModalTarget

_RESULT_KEYS = ("rc", "stdout")


def call_timeouts(requested_s: float, registry_s: float) -> tuple[int, float]:
    """``(effective function timeout, client wait)`` of one call, in seconds.

    The deployed function runs under the registry's limit plus a grace; ``--timeout-s`` below
    the registry's shortens this call (the host stops waiting and cancels it), one above cannot
    lengthen what was deployed. The wait is always ≥ 1.2 x the effective function timeout.
    """
    deployed = function_timeout_s(registry_s)
    effective = deployed if requested_s >= registry_s else min(deployed, math.ceil(requested_s))
    return effective, client_timeout_s(effective)


class ModalAdapter:
    """Runs a processor on Modal through :class:`runtime.modal.boundary.ModalBoundary`."""

    name = "modal"

    def __init__(self, boundary: ModalBoundary | None = None) -> None:
        self._boundary = boundary
        self._maps: dict[tuple[str, str, str], MapStream] | None = None  # set in a fan-out
        self._handles: dict[tuple[str, str, str], Any] = {}
        self._lock = threading.Lock()
        self._lookup_lock = threading.Lock()

    @contextlib.contextmanager
    def fan_out(self) -> Iterator[ModalAdapter]:
        """This adapter for many runs at once (a batch): every attempt of every run becomes one
        input of a single ``Function.map`` call per deployed function, fed as runs arrive, and
        each lookup is made once. Thread-safe; on exit the map calls are told no more inputs
        come and given :data:`MAP_CLOSE_GRACE_S` to finish (an input abandoned after a client
        timeout runs on, server-side, until the function's own timeout)."""
        fanned = ModalAdapter(self._boundary)
        fanned._maps = {}
        try:
            yield fanned
        finally:
            with fanned._lock:
                streams = list(fanned._maps.values())
                fanned._maps.clear()
            for stream in streams:
                stream.close(MAP_CLOSE_GRACE_S)

    def _active(self) -> ModalBoundary:
        if self._boundary is None:
            self._boundary = get_boundary()
        return self._boundary

    def run(self, request: RunRequest) -> Attempt:
        """One attempt: lookup, call with a client timeout ≥ 1.2 x function timeout, fetch.

        Raises ``ERR_MODAL_LOOKUP``, ``ERR_MODAL_TIMEOUT`` (retryable) and
        ``ERR_MODAL_INVOCATION``; the runner judges the processor's own outcome.
        """
        target = self.target(request)
        ref = request.processor.ref
        app_name, function_name = target.app_name, target.function_name
        modal_env = target.environment
        fn_timeout, wait_s = call_timeouts(request.timeout_s, request.processor.version.timeout_s)
        boundary = self._active()
        log = get_logger(adapter=self.name, execution_id=request.execution_id,
                         processor_ref=str(ref), mode=request.mode, env=request.env,
                         app=app_name, function=function_name, modal_environment=modal_env)
        if target.dev_fallback:
            log.warning("modal.naming.dev_fallback", reason="env=dev without branch and user")
        log.info("adapter.invoke.start", function_timeout_s=fn_timeout, client_timeout_s=wait_s,
                 modal_server=boundary.server)
        remote_prefix = self._remote_prefix(request)
        started = time.monotonic()
        try:
            handle = self._lookup(boundary, app_name, function_name, modal_env)
        except Exception as exc:
            message = lookup_causes(target, function_name=function_name)
            raise self._fail(log, exc, "lookup", started, message, app_name, modal_env) from exc
        payload = request.payload(write_prefix=f"{ARTIFACTS_MOUNT}/{remote_prefix}",
                                  artifacts_root=ARTIFACTS_MOUNT)
        try:
            result = self._call(boundary, (app_name, function_name, modal_env), handle, payload,
                                wait_s)
        except Exception as exc:
            raise self._fail(log, exc, "invocation", started, "", app_name, modal_env) from exc
        outcome, digest = self._outcome(result, started)
        meta = {"app": app_name, "function": function_name, "modal_environment": modal_env,
                "modal_server": boundary.server, "image_digest": digest}
        try:
            self._fetch(boundary, modal_env, remote_prefix, request)
        except Exception as exc:
            if outcome.rc == 0:  # a success whose files cannot be read is not a success
                raise self._fail(log, exc, "volume read", started, "", app_name,
                                 modal_env) from exc
            # The child already failed: its own canonical error is the one the runner reports.
            log.warning("modal.volume.read_failed", sdk_error=type(exc).__name__, rc=outcome.rc)
        return Attempt(outcome, meta, reported_prefix=f"{ARTIFACTS_MOUNT}/{remote_prefix}")

    def _lookup(self, boundary: ModalBoundary, app_name: str, function_name: str,
                modal_env: str) -> Any:
        """The hydrated handle; in a fan-out, looked up once per function (a failed lookup is
        asked again by the next run, so each run reports its own)."""
        if self._maps is None:
            return boundary.lookup_function(app_name, function_name, environment_name=modal_env)
        key = (app_name, function_name, modal_env)
        with self._lookup_lock:  # runs arriving together share the first one's lookup
            handle = self._handles.get(key)
            if handle is None:
                handle = self._handles[key] = boundary.lookup_function(
                    app_name, function_name, environment_name=modal_env)
        return handle

    def _call(self, boundary: ModalBoundary, key: tuple[str, str, str], handle: Any,
              payload: dict[str, Any], wait_s: float) -> Any:
        """One call of the function, waited for at most ``wait_s``: its own ``spawn``, or in a
        fan-out one input of the function's map call (an input's failure is raised here, as
        the SDK raises it for a single call, so both translate alike)."""
        if self._maps is None:
            return boundary.call_function(handle, payload, timeout_s=wait_s)
        with self._lock:
            stream = self._maps.get(key)
            if stream is None or not stream.open:
                stream = self._maps[key] = MapStream(boundary, handle, name="-".join(key))
            slot = stream.submit(payload)
        value = slot.wait(wait_s)
        if isinstance(value, BaseException):
            raise value
        return value

    @staticmethod
    def target(request: RunRequest) -> ModalTarget:
        """The app this run calls: the request's ref and env plus the ``branch``, ``user`` and
        ``modal_environment`` adapter options (the same target ``inv deploy-modal`` deploys)."""
        options = request.options
        return ModalTarget(str(request.processor.ref), request.env,
                           str(options.get("branch") or "") or None,
                           str(options.get("user") or "") or None,
                           str(options.get("modal_environment") or "") or None)

    @staticmethod
    def _remote_prefix(request: RunRequest) -> str:
        """The write prefix relative to the volume root (default layout ``runs/<id>``)."""
        try:
            relative = request.write_prefix.relative_to(request.artifacts_root).as_posix()
        except ValueError:
            return f"{RUNS_DIRNAME}/{request.execution_id}"
        if relative in ("", ".") or relative.startswith(f"{EXECUTION_DIRNAME}/"):
            raise InputsError("the modal adapter needs a write prefix of its own, not the "
                              "artifacts root or its execution/ folder")
        return relative

    def _fetch(self, boundary: ModalBoundary, modal_env: str, remote_prefix: str,
               request: RunRequest) -> None:
        """Bring the run's files from the artifacts volume to where the host judges them."""
        volume = modal_volume_name()
        boundary.fetch_volume(volume, environment_name=modal_env, remote_dir=remote_prefix,
                              local_dir=request.write_prefix)
        boundary.fetch_volume(volume, environment_name=modal_env,
                              remote_dir=f"{EXECUTION_DIRNAME}/{request.execution_id}",
                              local_dir=execution_dir(request.artifacts_root, request.execution_id))

    @staticmethod
    def _outcome(result: Any, started: float) -> tuple[SpawnResult, str | None]:
        """The function's return value as the one child-result shape plus the image digest the
        function was deployed with; a malformed one is ``ERR_MODAL_INVOCATION`` (it is not what
        the deployed in-container entry returns)."""
        meta = {"elapsed_ms": int((time.monotonic() - started) * 1000)}
        if not isinstance(result, dict):
            raise ModalInvocationError(
                f"the Modal function returned {type(result).__name__}, not the in-container "
                "entry's result", meta=meta)
        digest = result.get(RESULT_DIGEST_KEY)
        try:
            return SpawnResult.from_wire(result), digest if isinstance(digest, str) else None
        except ValueError as exc:
            raise ModalInvocationError(
                f"the Modal function's result is not the in-container entry's ({exc})",
                meta=meta) from exc

    def _fail(self, log: Any, exc: BaseException, stage: str, started: float, message: str,
              app_name: str, modal_env: str) -> Exception:
        elapsed = int((time.monotonic() - started) * 1000)
        err = translate_sdk_error(exc, stage=stage, lookup_message=message,
                                  meta={"elapsed_ms": elapsed, "app": app_name,
                                        "modal_environment": modal_env})
        log.warning("modal.call.failed", code=err.code, sdk_error=type(exc).__name__,
                    elapsed_ms=elapsed, stage=stage)
        return err

    def close(self) -> None:
        """The SDK client is process-wide; nothing to release per adapter."""


MAP_CLOSE_GRACE_S = 5.0
TURN_GRACE_S = 0.2  # for the map to hand over an output that came in behind a slower one


class _Slot:
    """One input of a map call: its output once the map yields it.

    Its client wait is counted from its submission, as a single call's is from the call, so an
    item of a batch times out exactly when it would alone. The map yields in input order, so an
    output that came in early waits behind a slower neighbour: when the neighbour's turn ends
    after this input's deadline, an output already there is still taken (``TURN_GRACE_S`` for
    the map to hand it over); none there is the timeout. (Counting from its turn instead let a
    timed-out input's late output through when it ran behind a slow one: a CI run saw the
    batch report rc 124 where the single run reported ``ERR_MODAL_TIMEOUT``.)
    """

    def __init__(self, previous: _Slot | None) -> None:
        self._previous = previous
        self._submitted = time.monotonic()
        self._done = threading.Event()
        self.value: Any = None

    def deliver(self, value: Any) -> None:
        self.value = value
        self._done.set()

    def wait(self, timeout_s: float) -> Any:
        """The input's output (a result or an SDK exception object); the built-in
        ``TimeoutError`` when none comes within ``timeout_s`` of its submission, as ``get``
        raises."""
        previous, self._previous = self._previous, None
        if previous is not None:
            previous._done.wait()  # bounded: Modal ends every input at the function's timeout
        left = self._submitted + timeout_s - time.monotonic()
        if not self._done.wait(max(left, TURN_GRACE_S)):
            raise TimeoutError(f"no output of the map input within {timeout_s:g}s")
        return self.value


class _Feed:
    """The map's inputs as an async iterator the SDK reads on its own event loop, fed from any
    thread; ``None`` ends it."""

    def __init__(self) -> None:
        self._items: deque[dict[str, Any] | None] = deque()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    def put(self, payload: dict[str, Any] | None) -> None:
        with self._lock:
            self._items.append(payload)
            loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the map's loop already ended
                loop.call_soon_threadsafe(wake.set)

    async def stream(self) -> AsyncIterator[dict[str, Any]]:
        wake = asyncio.Event()
        with self._lock:
            self._loop, self._wake = asyncio.get_running_loop(), wake
        while True:
            with self._lock:
                pending = bool(self._items)
                item = self._items.popleft() if pending else None
            if not pending:
                await wake.wait()
                wake.clear()
                continue
            if item is None:
                return
            yield item


class MapStream:
    """One ``Function.map`` call (through :meth:`ModalBoundary.map_function`) fed while it
    runs: :meth:`submit` adds an input and returns its slot; a thread reads the outputs, in
    input order, into the slots. If the map call itself fails, every waiting input gets that
    error and the stream closes (the next submit opens a new map call)."""

    def __init__(self, boundary: ModalBoundary, handle: Any, name: str) -> None:
        self._feed = _Feed()
        self._pending: deque[_Slot] = deque()
        self._last: _Slot | None = None
        self._lock = threading.Lock()
        self.open = True
        self._thread = threading.Thread(target=self._consume, args=(boundary, handle),
                                        name=f"modal-map-{name}"[:60], daemon=True)
        self._thread.start()

    def submit(self, payload: dict[str, Any]) -> _Slot:
        with self._lock:
            if not self.open:
                raise ModalInvocationError("the Modal map call already ended")
            slot = self._last = _Slot(self._last)
            self._pending.append(slot)
            self._feed.put(payload)
        return slot

    def _consume(self, boundary: ModalBoundary, handle: Any) -> None:
        error: BaseException
        try:
            for value in boundary.map_function(handle, self._feed.stream()):
                with self._lock:
                    slot = self._pending.popleft()
                slot.deliver(value)
            error = ModalInvocationError("the Modal map call ended before every input had "
                                         "its output")
        except BaseException as exc:  # noqa: BLE001 - handed to every waiting input
            error = exc
        with self._lock:
            self.open = False
            left = list(self._pending)
            self._pending.clear()
            self._last = None
        for slot in left:
            slot.deliver(error)

    def close(self, grace_s: float) -> None:
        """No more inputs; wait up to ``grace_s`` for the outputs still due."""
        with self._lock:
            self.open = False
            self._feed.put(None)
        self._thread.join(grace_s)
