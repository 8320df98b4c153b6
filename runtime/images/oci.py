"""Talk to an OCI (distribution) registry directly: prove a digest is pullable, resolve tags.

"Pullable" means more than "the engine can inspect it": the manifest is fetched **by digest** with
the full Accept list (without it registry 2.8 converts to schema1 and reports another, unpullable
digest), its bytes are re-hashed, an index is resolved to its linux/amd64 child, and the config
and every layer blob are HEADed *in the same repository* with their sizes compared. Blob links are
per repository, so a digest that exists elsewhere is not pullable from here.

Outcomes map onto the canon: missing manifest/blob → ``ERR_IMAGE_UNAVAILABLE``; bytes or sizes
that differ from what was asked for → ``ERR_REGISTRY_MISMATCH``; connection errors, 5xx, 408 and
429 are transient (``retryable``) and retried by :func:`runtime.images.engine.with_registry_retry`.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from runtime.contract.wire import is_digest
from runtime.errors import (
    ImageUnavailableError,
    InputsError,
    RegistryMismatchError,
    bound_message,
)
from runtime.guards import hostname_of, is_loopback_host
from runtime.images.engine import with_registry_retry
from runtime.logging import progress

MANIFEST_ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
INDEX_TYPES = frozenset({"application/vnd.oci.image.index.v1+json",
                         "application/vnd.docker.distribution.manifest.list.v2+json"})
_NAME_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
TIMEOUT_S = 15.0


@dataclass(frozen=True)
class VerifiedImage:
    """What the registry proved about ``repository@digest``."""

    repository: str
    digest: str
    media_type: str
    config_digest: str
    layers: list[dict[str, Any]] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    platform_digest: str | None = None

    @property
    def reference(self) -> str:
        """The pull reference ``repository@digest``."""
        return f"{self.repository}@{self.digest}"


def split_repository(repository: str) -> tuple[str, str]:
    """Split ``host[:port]/path`` into ``(host[:port], path)``; ``ERR_INPUTS`` when malformed."""
    host, _, name = repository.partition("/")
    if not name or not ("." in host or ":" in host or host == "localhost"):
        raise InputsError(f"repository {repository!r} must be fully qualified "
                          "(e.g. 127.0.0.1:5000/processors/demo/echo)")
    if not _NAME_RE.fullmatch(name):
        raise InputsError(f"repository path {name!r} is not a valid OCI repository name")
    return host, name


PUSH_PROGRESS_EVERY_S = 0.5
_LAYER_DONE = ("Pushed", "Layer already exists", "Mounted from")


class PushMeter:
    """Turns the push stream's per-layer ``progressDetail`` into ``image.push.progress`` events
    (bytes and layers, at most every :data:`PUSH_PROGRESS_EVERY_S` and when a layer is done)."""

    def __init__(self, log: Any = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._log = log
        self._clock = clock
        self._layers: dict[str, list[int]] = {}  # id -> [current, total, done]
        self._last = clock()

    def update(self, event: Mapping[str, Any]) -> None:
        """Account one stream event (events without a layer id are ignored)."""
        layer, status = event.get("id"), str(event.get("status") or "")
        if not isinstance(layer, str) or not status.startswith(("Preparing", "Waiting", "Pushing",
                                                                 *_LAYER_DONE)):
            return
        state = self._layers.setdefault(layer, [0, 0, 0])
        detail = event.get("progressDetail") or {}
        if status == "Pushing" and isinstance(detail, Mapping):
            state[0] = int(detail.get("current") or state[0])
            state[1] = int(detail.get("total") or state[1])
        finished = status.startswith(_LAYER_DONE) and not state[2]
        if finished:
            state[0], state[2] = max(state[0], state[1]), 1
        if finished or self._clock() - self._last >= PUSH_PROGRESS_EVERY_S:
            self._report()

    def _report(self) -> None:
        self._last = self._clock()
        states = self._layers.values()
        progress("image.push.progress", log=self._log, layers=len(self._layers),
                 layers_done=sum(s[2] for s in states), pushed_bytes=sum(s[0] for s in states),
                 total_bytes=sum(s[1] for s in states))


def read_push_stream(events: Any, tag: str, *, log: Any = None
                     ) -> tuple[str | None, int, list[str]]:
    """Digest, manifest size and errors of a docker-py push stream; reports its progress.

    docker-py never raises for registry errors during a push, so every caller parses the stream:
    any ``error``/``errorDetail`` is a failure, and only an aux event for ``tag`` names the digest.
    Bytes pushed per layer become ``image.push.progress`` events (see :class:`PushMeter`).
    """
    digest: str | None = None
    size = 0
    errors: list[str] = []
    meter = PushMeter(log)
    for event in events:
        if not isinstance(event, dict):
            continue
        meter.update(event)
        if event.get("error") or event.get("errorDetail"):
            errors.append(str((event.get("errorDetail") or {}).get("message") or event.get("error")))
        aux = event.get("aux")
        if isinstance(aux, dict) and aux.get("Digest") and aux.get("Tag") in (None, tag):
            digest, size = str(aux["Digest"]), int(aux.get("Size") or 0)
    return digest, size, errors


def check_digest(digest: str) -> str:
    """Validate ``sha256:<64 hex>`` locally (registry 2.8 answers 500 for malformed digests)."""
    if not isinstance(digest, str) or not is_digest(digest):
        raise InputsError(f"digest {str(digest)[:80]!r} must look like 'sha256:<64 lowercase hex>'")
    return digest


REFERENCE_SHOWN_CHARS = 200


def shown_reference(text: str) -> str:
    """``text`` bounded for a message without cutting the digest: a long value keeps its head
    and its last 90 characters (where ``@sha256:<64 hex>`` sits)."""
    if len(text) <= REFERENCE_SHOWN_CHARS:
        return text
    return f"{text[:REFERENCE_SHOWN_CHARS - 90]}…{text[-90:]}"


def split_pin_reference(text: str) -> tuple[str | None, str]:
    """``repository@sha256:…`` (as ``push-processor`` prints it) or a bare digest →
    ``(repository or None, digest)``. ``ERR_INPUTS`` for anything else; the message shows the
    whole value (bounded by :func:`shown_reference`, never cut mid-digest)."""
    value = text.strip()
    repository, at, digest = value.rpartition("@")
    if not at:
        repository, digest = "", value
    if not is_digest(digest) or (at and not repository):
        raise InputsError(f"{shown_reference(value)!r} must be a digest 'sha256:<64 lowercase hex>' "
                          "or a reference 'repository@sha256:<64 lowercase hex>' (as printed by "
                          "push-processor)")
    if repository:
        split_repository(repository)
    return repository or None, digest


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class RegistryHTTP:
    """A minimal proxy-free client of one registry's ``/v2/`` API (HTTP on loopback only)."""

    def __init__(self, host: str, timeout_s: float = TIMEOUT_S) -> None:
        import requests  # lazy: a docker-py dependency

        scheme = "http" if is_loopback_host(hostname_of(host)) else "https"
        self.base = f"{scheme}://{host}/v2"
        self.timeout_s = timeout_s
        self._session = requests.Session()
        self._session.trust_env = False  # an env proxy must never capture registry traffic
        if scheme == "https":
            # A remote registry: the configured credentials, by basic auth (values never logged;
            # the docker credential store is the engine's, not read here).
            from runtime.images.location import find_credentials

            found = find_credentials(host)
            if found is not None and found.username and found.password:
                self._session.auth = (found.username, found.password)

    def close(self) -> None:
        """Release pooled connections."""
        self._session.close()

    def request(self, method: str, path: str, *, accept: str | None = None) -> Any:
        """One request; transport errors and 5xx/408/429 raise retryable ``ERR_IMAGE_UNAVAILABLE``."""
        import requests

        url = f"{self.base}/{path}"
        headers = {"Accept": accept} if accept else {}
        try:
            response = self._session.request(method, url, headers=headers,
                                             timeout=self.timeout_s, allow_redirects=True)
        except requests.exceptions.RequestException as exc:
            raise ImageUnavailableError(
                bound_message(f"registry {self.base} unreachable ({method} {path}): {exc}"),
                retryable=True, meta={"registry": self.base}) from exc
        if response.status_code in TRANSIENT_STATUS:
            raise ImageUnavailableError(
                bound_message(f"registry {self.base} answered {response.status_code} to "
                              f"{method} {path}: {response.text[:300]}"),
                retryable=True, meta={"registry": self.base, "http_status": response.status_code})
        return response


def _unavailable(what: str, response: Any) -> ImageUnavailableError:
    body = response.text[:300] if response.request.method != "HEAD" else ""
    return ImageUnavailableError(
        bound_message(f"{what} is not pullable: HTTP {response.status_code} {body}".rstrip()),
        meta={"http_status": response.status_code})


def _fetch_manifest(client: RegistryHTTP, repository: str, name: str, digest: str
                    ) -> tuple[str, dict[str, Any]]:
    response = client.request("GET", f"{name}/manifests/{digest}", accept=MANIFEST_ACCEPT)
    if response.status_code != 200:
        raise _unavailable(f"manifest {repository}@{digest}", response)
    body = response.content
    actual = _sha256(body)
    if actual != digest:
        raise RegistryMismatchError(
            f"registry served manifest bytes hashing to {actual} for {repository}@{digest}",
            meta={"expected": digest, "actual": actual})
    try:
        manifest = json.loads(body)
    except ValueError as exc:
        raise RegistryMismatchError(f"manifest {repository}@{digest} is not JSON") from exc
    media_type = str(manifest.get("mediaType") or response.headers.get("Content-Type", ""))
    return media_type, manifest


def _platform_child(manifest: dict[str, Any], repository: str, digest: str) -> str:
    for entry in manifest.get("manifests", []):
        platform = entry.get("platform") or {}
        if platform.get("os") == "linux" and platform.get("architecture") == "amd64":
            return check_digest(str(entry.get("digest")))
    raise ImageUnavailableError(f"index {repository}@{digest} has no linux/amd64 image")


def _head_blob(client: RegistryHTTP, repository: str, name: str, blob: dict[str, Any]) -> None:
    blob_digest = check_digest(str(blob.get("digest")))
    response = client.request("HEAD", f"{name}/blobs/{blob_digest}")
    if response.status_code != 200:
        raise _unavailable(f"blob {blob_digest} of {repository}", response)
    length = int(response.headers.get("Content-Length", -1))
    if length != int(blob.get("size", -2)):
        raise RegistryMismatchError(
            f"blob {blob_digest} of {repository}: registry length {length} != manifest size "
            f"{blob.get('size')}")


def _config_labels(client: RegistryHTTP, repository: str, name: str, config_digest: str
                   ) -> dict[str, str]:
    response = client.request("GET", f"{name}/blobs/{config_digest}")
    if response.status_code != 200:
        raise _unavailable(f"config {config_digest} of {repository}", response)
    if _sha256(response.content) != config_digest:
        raise RegistryMismatchError(f"config blob of {repository} does not hash to {config_digest}")
    try:
        config = json.loads(response.content)
    except ValueError as exc:
        raise RegistryMismatchError(f"config {config_digest} of {repository} is not JSON") from exc
    labels = (config.get("config") or {}).get("Labels") or {}
    return {str(key): str(value) for key, value in labels.items()}


def _verify_once(repository: str, digest: str) -> VerifiedImage:
    host, name = split_repository(repository)
    client = RegistryHTTP(host)
    try:
        media_type, manifest = _fetch_manifest(client, repository, name, digest)
        platform_digest = None
        if media_type in INDEX_TYPES or "manifests" in manifest:
            platform_digest = _platform_child(manifest, repository, digest)
            media_type, manifest = _fetch_manifest(client, repository, name, platform_digest)
        config = manifest.get("config")
        if not isinstance(config, dict):
            raise RegistryMismatchError(f"manifest {repository}@{digest} has no config descriptor")
        layers = [layer for layer in manifest.get("layers", []) if isinstance(layer, dict)]
        for blob in (config, *layers):
            _head_blob(client, repository, name, blob)
        config_digest = check_digest(str(config["digest"]))
        labels = _config_labels(client, repository, name, config_digest)
    finally:
        client.close()
    return VerifiedImage(
        repository=repository, digest=digest, media_type=media_type, config_digest=config_digest,
        layers=[{"digest": layer["digest"], "size": layer["size"]} for layer in layers],
        labels=labels, platform_digest=platform_digest)


def verify_digest(repository: str, digest: str, *, expect_config: str | None = None
                  ) -> VerifiedImage:
    """Prove ``repository@digest`` is pullable (manifest by digest, every blob HEADed).

    ``expect_config`` (a local image ID) must equal the manifest's config digest. Raises
    ``ERR_INPUTS`` (malformed input), ``ERR_IMAGE_UNAVAILABLE`` (missing, or the registry stayed
    down through the retries) or ``ERR_REGISTRY_MISMATCH``.
    """
    check_digest(digest)
    split_repository(repository)
    verified = with_registry_retry(f"verify {repository}@{digest}",
                                   lambda: _verify_once(repository, digest))
    if expect_config is not None and verified.config_digest != expect_config:
        raise RegistryMismatchError(
            f"{repository}@{digest} has config {verified.config_digest}, expected image "
            f"{expect_config}", meta={"expected": expect_config, "actual": verified.config_digest})
    return verified


def resolve_tag(repository: str, tag: str) -> str | None:
    """The manifest digest the registry serves for ``repository:tag`` (``None`` if no such tag).

    Sends the full Accept list, and hashes the body when ``Docker-Content-Digest`` is missing.
    """
    host, name = split_repository(repository)

    def once() -> str | None:
        client = RegistryHTTP(host)
        try:
            response = client.request("GET", f"{name}/manifests/{tag}", accept=MANIFEST_ACCEPT)
        finally:
            client.close()
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise _unavailable(f"tag {repository}:{tag}", response)
        return _sha256(response.content)

    return with_registry_retry(f"resolve {repository}:{tag}", once)
