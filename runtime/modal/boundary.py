"""The Modal SDK's network boundary: each method here makes one SDK call (or one call pair).

Everything above this seam (app building, naming, timeouts, error mapping, validation) is the
production code path. The SDK's exceptions pass through untouched: translating them into the
canon is the caller's job (adapter, deploy, ops). There is no switch here: which server the SDK
talks to is the SDK's own configuration (``MODAL_SERVER_URL``, tokens), which is also how the
tests point it at the one fake (:mod:`runtime.testing.fake_server`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from runtime.errors import ModalInvocationError

_FETCH_WORKERS = 8
SUPPORTED_SDK = ((1, 6), (2, 0))  # [min, max): App.info / App.stop / App.get_tags need 1.6


def installed_sdk_version() -> str:
    """The installed ``modal`` client's version (``"not installed"`` when it is missing)."""
    from importlib import metadata

    try:
        return metadata.version("modal")
    except metadata.PackageNotFoundError:
        return "not installed"


def check_sdk_version(version: str | None = None) -> str:
    """Refuse a ``modal`` client outside :data:`SUPPORTED_SDK` before any call is made, so an old
    client fails with a clear message instead of an ``AttributeError`` half-way through an op.

    Raises ``ERR_MODAL_INVOCATION`` naming the installed and the supported versions.
    """
    found = installed_sdk_version() if version is None else version
    parts = tuple(int(p) if p.isdigit() else -1 for p in found.split(".")[:2])
    (low, high) = SUPPORTED_SDK
    if len(parts) == 2 and -1 not in parts and low <= parts < high:
        return found
    wanted = f">={low[0]}.{low[1]},<{high[0]}"
    raise ModalInvocationError(f"the installed modal client is {found}; processor-runtime "
                               f"supports modal{wanted} (install it with "
                               f"`pip install 'modal{wanted}'`)",
                               meta={"modal_version": found, "supported": wanted})


@dataclass(frozen=True)
class AppStatus:
    """What ``inv status-modal`` reports about a deployed app."""

    app_id: str
    state: str
    functions: dict[str, str] = field(default_factory=dict)
    deployed_at: str | None = None
    version: int | None = None
    tags: dict[str, str] = field(default_factory=dict)


class ModalBoundary(Protocol):
    """The handful of SDK calls the project makes (an injection seam for unit tests)."""

    @property
    def server(self) -> str:
        """The Modal server the calls go to (reported in results: a fake never passes for Modal)."""
        ...

    def deploy(self, app: Any, *, name: str, environment_name: str, tag: str,
               plan: dict[str, Any] | None = None) -> str:
        """Deploy ``app`` (a ``modal.App``) as ``name``; returns the app id. ``plan`` is the same
        app as plain data (the SDK ignores it; the fake records it)."""
        ...

    def lookup_function(self, app_name: str, function_name: str, *, environment_name: str) -> Any:
        """A hydrated handle of the deployed function (raises ``NotFoundError`` if absent)."""
        ...

    def call_function(self, handle: Any, payload: dict[str, Any], *, timeout_s: float) -> Any:
        """Call the function with ``payload``; wait at most ``timeout_s`` for its result."""
        ...

    def map_function(self, handle: Any, payloads: AsyncIterable[dict[str, Any]]) -> Iterator[Any]:
        """One map call over ``payloads`` (fed while it runs): each input's result, or the SDK
        exception of a failed input, in input order."""
        ...

    def fetch_volume(self, volume_name: str, *, environment_name: str, remote_dir: str,
                     local_dir: Path) -> int:
        """Copy ``remote_dir`` of the volume (recursively) into ``local_dir``; returns file count
        (0 when ``remote_dir`` does not exist; a missing volume raises ``NotFoundError``)."""
        ...

    def list_secret_names(self, *, environment_name: str) -> list[str]:
        """Names of the named secrets in the environment (never values)."""
        ...

    def create_secret(self, name: str, values: dict[str, str], *, environment_name: str) -> None:
        """Create a named secret holding ``values``."""
        ...

    def update_secret(self, name: str, values: dict[str, str], *, environment_name: str) -> None:
        """Merge ``values`` into an existing named secret."""
        ...

    def app_status(self, app_name: str, *, environment_name: str) -> AppStatus:
        """Lifecycle state and functions of a deployed app."""
        ...

    def app_stop(self, app_name: str, *, environment_name: str) -> None:
        """Stop the app permanently."""
        ...

    def app_logs(self, app_name: str, *, environment_name: str, entries: int) -> list[dict[str, Any]]:
        """The most recent ``entries`` log lines of the app."""
        ...


class SdkBoundary:
    """The production boundary: the installed ``modal`` SDK (imported lazily, per call).

    ``client`` is the ``modal.Client`` every call uses; ``None`` (production) means the
    SDK's own ``Client.from_env()`` (``MODAL_SERVER_URL``, ``MODAL_TOKEN_ID``/``_SECRET``).
    """

    def __init__(self, client: Any | None = None) -> None:
        check_sdk_version()
        self._client = client

    @property
    def server(self) -> str:
        """The client's server URL, else the SDK's configured ``server_url``."""
        if self._client is not None:
            return str(self._client.server_url)
        from modal.config import config

        return str(config.get("server_url"))

    def deploy(self, app: Any, *, name: str, environment_name: str, tag: str,
               plan: dict[str, Any] | None = None) -> str:
        """``App.deploy``: builds the image remotely, creates functions, publishes."""
        deployed = app.deploy(name=name, environment_name=environment_name, tag=tag,
                              client=self._client)
        return str(deployed.app_id)

    def lookup_function(self, app_name: str, function_name: str, *, environment_name: str) -> Any:
        """``Function.from_name`` is lazy; ``hydrate()`` makes the lookup happen here."""
        import modal

        return modal.Function.from_name(app_name, function_name, environment_name=environment_name,
                                        client=self._client).hydrate()

    def call_function(self, handle: Any, payload: dict[str, Any], *, timeout_s: float) -> Any:
        """``spawn`` + ``FunctionCall.get(timeout=)``: ``.remote()`` has no client timeout.

        The built-in ``TimeoutError`` from ``get`` propagates after a best-effort cancel, so a
        retried attempt never races the abandoned one.
        """
        call = handle.spawn(payload)
        try:
            return call.get(timeout=timeout_s)
        except TimeoutError:
            with contextlib.suppress(Exception):  # the timeout is what the caller must see
                call.cancel()
            raise

    def map_function(self, handle: Any, payloads: AsyncIterable[dict[str, Any]]) -> Iterator[Any]:
        """``Function.map(payloads, order_outputs=True, return_exceptions=True)``: the SDK's own
        fan-out, one ``FunctionMap`` (MAP) call whose inputs go in chunks of
        ``FunctionPutInputs``. An async iterable, because the SDK reads a plain iterator on the
        same event loop that polls the outputs: a blocking ``next`` would stall both."""
        return iter(handle.map(payloads, order_outputs=True, return_exceptions=True))

    def fetch_volume(self, volume_name: str, *, environment_name: str, remote_dir: str,
                     local_dir: Path) -> int:
        """``Volume.listdir(recursive=True)`` + ``read_file`` for each regular file.

        A ``remote_dir`` that does not exist (a failed run writes no ``execution/<id>``) copies
        nothing: Modal answers ``NOT_FOUND`` for listing a missing path, and the volume itself
        is hydrated first so that a missing *volume* still raises.
        """
        import modal
        import modal.exception as mexc
        from modal.types import FileEntryType

        from runtime.kit.files import atomic_write

        volume = modal.Volume.from_name(volume_name, environment_name=environment_name,
                                        client=self._client).hydrate()
        try:
            entries = volume.listdir(remote_dir, recursive=True)
        except mexc.NotFoundError:
            return 0
        files = [entry for entry in entries if entry.type == FileEntryType.FILE]

        def copy(entry: Any) -> None:
            data = b"".join(volume.read_file(entry.path))
            target = local_dir / Path(entry.path).relative_to(remote_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(target, data, confine_to=local_dir)

        # One round trip (metadata + block download) per file: overlap them, so a run with
        # thousands of outputs is not read one file at a time.
        with ThreadPoolExecutor(max_workers=_FETCH_WORKERS) as pool:
            for _ in pool.map(copy, files):
                pass
        return len(files)

    def list_secret_names(self, *, environment_name: str) -> list[str]:
        """``Secret.objects.list``: hydrated handles carry names, never values."""
        import modal

        return sorted(str(secret.name) for secret in
                      modal.Secret.objects.list(environment_name=environment_name,
                                                client=self._client))

    def create_secret(self, name: str, values: dict[str, str], *, environment_name: str) -> None:
        """``Secret.objects.create`` (fails if the name exists; callers list first)."""
        import modal

        modal.Secret.objects.create(name, values, environment_name=environment_name,
                                    client=self._client)

    def update_secret(self, name: str, values: dict[str, str], *, environment_name: str) -> None:
        """``Secret.update`` merges keys into the existing secret."""
        import modal

        modal.Secret.from_name(name, environment_name=environment_name,
                               client=self._client).update(values)

    def _app(self, app_name: str, environment_name: str) -> Any:
        import modal

        return modal.App.lookup(app_name, environment_name=environment_name, client=self._client)

    def app_status(self, app_name: str, *, environment_name: str) -> AppStatus:
        """``App.lookup(...).info(refresh=True)`` and ``get_tags()`` (the digest deploy tagged)."""
        app = self._app(app_name, environment_name)
        info = app.info(refresh=True)
        tags = app.get_tags(client=self._client)
        lifecycle = info.lifecycle
        deployed_at = lifecycle.deployed_at.isoformat() if lifecycle.deployed_at else None
        return AppStatus(app_id=info.app_id, state=str(lifecycle.state.value),
                         functions=dict(info.functions), deployed_at=deployed_at,
                         version=lifecycle.version, tags=dict(tags))

    def app_stop(self, app_name: str, *, environment_name: str) -> None:
        """``App.lookup(...).stop()``: permanent."""
        self._app(app_name, environment_name).stop()

    def app_logs(self, app_name: str, *, environment_name: str, entries: int) -> list[dict[str, Any]]:
        """``App.lookup(...).logs.tail(entries)``."""
        records = self._app(app_name, environment_name).logs.tail(entries)
        return [_log_record(entry) for entry in _iterate(records)]


def _iterate(records: Any) -> Iterator[Any]:
    yield from records


def _log_record(entry: Any) -> dict[str, Any]:
    return {"timestamp": entry.timestamp.isoformat(), "source": str(getattr(entry.source, "value",
                                                                            entry.source)),
            "message": str(entry.message).rstrip("\n")}


def get_boundary() -> ModalBoundary:
    """The SDK boundary (the installed ``modal`` client, checked for a supported version).

    Raises ``ERR_MODAL_INVOCATION`` for an unsupported client.
    """
    return SdkBoundary()
