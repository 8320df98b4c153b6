"""The Docker Engine boundary: one client factory and the translation of SDK errors into the canon.

Nothing outside this module (and the adapters/lifecycle code that call it) sees a ``docker.*``,
``requests.*`` or :class:`~runtime.devinfra.services.InfraError` exception: an unreachable engine, a missing
image or a registry failure becomes ``ERR_IMAGE_UNAVAILABLE`` with an operator-ready message.
Transient failures (connection refused/reset, timeouts, 5xx, 429) are flagged ``retryable`` so
:func:`with_registry_retry` can apply the one retry policy; the final error is never retryable.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from runtime.errors import ImageUnavailableError, ProcessorRuntimeError, bound_message
from runtime.guards import is_loopback_host
from runtime.logging import get_logger
from runtime.retry import retry_transient

T = TypeVar("T")

# Registry/engine failures only reach us as text (push streams, APIError explanations), so the
# classification is by marker; permanent markers win over transient ones.
PERMANENT_MARKERS = (
    "unauthorized",
    "denied",
    "unsupported",
    "no space left on device",
    "tag does not exist",
    "manifest unknown",
    "blob unknown",
    "name unknown",
    "invalid",
)
TRANSIENT_MARKERS = (
    "connection refused",
    "connection reset",
    "broken pipe",
    "i/o timeout",
    "timeout",
    "timed out",
    "eof",
    "no route to host",
    "toomanyrequests",
    "too many requests",
    "service unavailable",
    "bad gateway",
    "gateway timeout",
    "internal server error",
    "502",
    "503",
    "504",
)
INFRA_HINT = "start the local engine and registry with `inv infra.up`"


def is_transient_message(text: str) -> bool:
    """True when a registry/engine error text names a transient condition (retry it)."""
    lowered = text.lower()
    if any(marker in lowered for marker in PERMANENT_MARKERS):
        return False
    return any(marker in lowered for marker in TRANSIENT_MARKERS)


def is_transient(exc: BaseException) -> bool:
    """The retry predicate for registry transport: canon errors flagged ``retryable``."""
    return isinstance(exc, ProcessorRuntimeError) and exc.retryable


def engine_host() -> str:
    """The engine address to use: an explicit ``DOCKER_HOST`` wins (the standard override), else
    the engine recorded by ``infra.up`` (.state/infra.json), else the default socket."""
    from runtime.devinfra.services import docker_host

    return os.environ.get("DOCKER_HOST", "").strip() or docker_host()


def engine_unreachable(host: str, exc: BaseException | str) -> ImageUnavailableError:
    """``ERR_IMAGE_UNAVAILABLE`` for an engine that does not answer, naming where we looked."""
    env_host = os.environ.get("DOCKER_HOST")
    source = f"DOCKER_HOST={env_host}" if env_host else "the socket recorded by `inv infra.up` " \
        "(.state/infra.json) or the default /var/run/docker.sock"
    return ImageUnavailableError(
        bound_message(f"Docker Engine not reachable at {host} ({source}): {exc}; {INFRA_HINT}"),
        meta={"docker_host": host},
    )


def engine_client(timeout_s: float = 120.0) -> Any:
    """A ping-checked ``docker.DockerClient`` for the local engine; ``ERR_IMAGE_UNAVAILABLE``.

    Only unix sockets and loopback TCP are contacted (network rule: loopback only).
    """
    from urllib.parse import urlparse

    host = engine_host()
    parsed = urlparse(host)
    if parsed.scheme != "unix" and not is_loopback_host(parsed.hostname):
        raise engine_unreachable(host, "refusing a non-loopback engine address")
    client = None
    try:
        import docker

        version = _ping_api_version(docker, host, timeout_s)
        client = docker.DockerClient(base_url=host, version=version, timeout=int(timeout_s))
        client.api.trust_env = False
    except Exception as exc:  # docker/requests errors alike: the engine did not answer
        if client is not None:
            client.close()
        raise engine_unreachable(host, f"{type(exc).__name__}: {exc}") from exc
    return client


def _ping_api_version(docker: Any, host: str, timeout_s: float) -> str:
    """Ping the engine and return the API version it announces (``"auto"`` if it announces none).

    The docker CLI negotiates from the ``/_ping`` headers; docker-py's ``version="auto"`` asks
    ``/version`` instead, which costs ~5 ms per client on this engine (once per docker run).
    ``/_ping`` is unversioned, so the probe client may use any API version. Raises on no answer.
    """
    probe = docker.APIClient(base_url=host, version=docker.constants.MINIMUM_DOCKER_API_VERSION,
                             timeout=int(timeout_s))
    try:
        probe.trust_env = False
        response = probe.get(probe.base_url + "/_ping", timeout=timeout_s)
        response.raise_for_status()
        return str(response.headers.get("Api-Version") or "auto")
    finally:
        probe.close()


@contextlib.contextmanager
def engine_session(timeout_s: float = 120.0) -> Iterator[Any]:
    """:func:`engine_client` as a context manager: the client's connections are always closed."""
    client = engine_client(timeout_s)
    try:
        yield client
    finally:
        client.close()


def translate(exc: BaseException, action: str) -> ProcessorRuntimeError:
    """Map an SDK/infra exception raised while doing ``action`` into the canon."""
    import docker.errors
    import requests

    from runtime.devinfra.services import InfraError

    if isinstance(exc, ProcessorRuntimeError):
        return exc
    if isinstance(exc, docker.errors.NotFound):
        return ImageUnavailableError(bound_message(f"{action}: not found: {_explain(exc)}"))
    if isinstance(exc, docker.errors.APIError):
        text = _explain(exc)
        status = exc.status_code or 0
        retryable = status in (408, 429) or (status >= 500 and is_transient_message(text))
        return ImageUnavailableError(bound_message(f"{action}: engine answered {status}: {text}"),
                                     retryable=retryable)
    if isinstance(exc, requests.exceptions.ConnectionError | ConnectionError):
        return engine_unreachable(engine_host(), f"{action}: {exc}")
    if isinstance(exc, requests.exceptions.Timeout | TimeoutError):
        return ImageUnavailableError(bound_message(f"{action}: timed out: {exc}"), retryable=True)
    if isinstance(exc, InfraError):
        text = str(exc)
        return ImageUnavailableError(bound_message(f"{action}: {text}"),
                                     retryable=is_transient_message(text))
    if isinstance(exc, docker.errors.DockerException | requests.exceptions.RequestException):
        return ImageUnavailableError(bound_message(f"{action}: {type(exc).__name__}: {exc}"))
    raise TypeError(f"not an engine/registry exception: {type(exc).__name__}") from exc


def _explain(exc: Any) -> str:
    explanation = getattr(exc, "explanation", None)
    return str(explanation or exc)


def call_engine(action: str, fn: Callable[[], T]) -> T:
    """Run one engine call, translating docker/requests/infra exceptions into the canon."""
    import docker.errors
    import requests

    from runtime.devinfra.services import InfraError

    try:
        return fn()
    except (docker.errors.DockerException, requests.exceptions.RequestException, InfraError,
            ConnectionError, TimeoutError) as exc:
        raise translate(exc, action) from exc


def with_registry_retry(what: str, fn: Callable[[], T], *, attempts: int = 4,
                        wait_s: float = 0.5, max_delay_s: float = 120.0) -> T:
    """Retry an idempotent registry operation on transient errors (the one tenacity policy).

    After the last attempt the error is re-raised as final (``retryable=False``) with the
    attempt count in its message and meta, so the outer run policy does not retry it again.
    """
    log = get_logger(operation=what)
    tries = 0

    def attempt() -> T:
        nonlocal tries
        tries += 1
        return fn()

    def on_retry(number: int, exc: BaseException) -> None:
        log.warning("registry.retry", attempt=number, code=getattr(exc, "code", None),
                    error=bound_message(str(exc), 300))

    try:
        return retry_transient(attempt, is_transient=is_transient, attempts=attempts,
                               wait_s=wait_s, max_delay_s=max_delay_s, on_retry=on_retry)
    except ProcessorRuntimeError as err:
        if err.retryable:
            err.retryable = False
            err.message = bound_message(f"{err.message} (gave up after {tries} attempts)")
        err.meta = {**err.meta, "attempts": tries}
        raise
