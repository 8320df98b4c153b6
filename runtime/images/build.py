"""Processor images: hermetic build, push, verified pin (SPEC §12 steps 1-3).

* :func:`build_processor` assembles the build context in Python (fixed mtimes, uid and modes, so
  an unchanged processor hits the engine's cache and keeps its image ID), builds ``FROM`` the base
  image **by digest** with ``network_mode="none"``, and labels the image with the ref, version,
  source hash and git revision.
* :func:`push_processor` pushes and parses the push stream (docker-py never raises on a failed
  push), requires the aux ``Digest``, re-verifies it against the image ID, and retries transient
  registry errors through the one policy.
* :func:`pin_processor` proves the digest is pullable from the target repository *before* it
  touches the registry YAML, then writes the pin with the round-trip editor, atomically.

Every hop is logged (``image.build.complete`` image ID → ``image.push.complete`` digest →
``image.pin.complete`` digest; the docker adapter logs the digest it runs) so they can be
compared.
"""

from __future__ import annotations

import io
import os
import re
import tarfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from runtime.child.spawn import spawn
from runtime.contract.wire import DIGEST_RE
from runtime.errors import (
    ImageUnavailableError,
    ImageUnpinnedError,
    InputsError,
    RegistryMismatchError,
    bound_message,
)
from runtime.images.content import image_files
from runtime.images.engine import call_engine, engine_session, is_transient_message, with_registry_retry
from runtime.images.location import ImageRegistry, image_registry, require_credentials
from runtime.images.oci import (
    VerifiedImage,
    check_digest,
    read_push_stream,
    resolve_tag,
    split_pin_reference,
    split_repository,
    verify_digest,
)
from runtime.kit.hashing import SKIP_DIRS, sha256_file, sha256_hex, tree_sha256
from runtime.logging import get_logger, progress
from runtime.paths import checkout_root, project_root
from runtime.registry.edit import set_image_pin
from runtime.registry.load import Registry, ResolvedProcessor
from runtime.registry.refs import ProcessorRef, parse_ref

SOURCE_DATE_EPOCH = 1700000000
LOCAL_REPOSITORY_PREFIX = "processor-runtime"
REMOTE_NAMESPACE = "processors"
PROCESSOR_DIR = "/opt/processor"
RUNTIME_DIR = "/opt/runtime"
LOCK_FILE = "requirements.lock"
LABEL_PREFIX = "io.processor-runtime"
# Where `inv infra.base-image` records the base image of this machine (ignored state folder).
BASE_IMAGE_STATE = Path(".state") / "base-image.json"
REF_LABEL = f"{LABEL_PREFIX}.ref"
BUILD_LOG_TAIL = 4000

# Runs inside the build (network none). Pure-python wheels only: the base has no pip, and a
# pure wheel is a zip whose files belong in the interpreter's purelib as they are.
_INSTALL_WHEELS = '''\
import hashlib, pathlib, sys, sysconfig, zipfile
wheels, lock = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
allowed = {h.split("=", 1)[1].split(":", 1)[1] for h in lock.read_text().split() if h.startswith("--hash=")}
target = pathlib.Path(sysconfig.get_paths()["purelib"]).resolve()
target.mkdir(parents=True, exist_ok=True)
for wheel in sorted(wheels.glob("*.whl")):
    if hashlib.sha256(wheel.read_bytes()).hexdigest() not in allowed:
        sys.exit(f"{wheel.name}: hash not in {lock}")
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.namelist():
            dest = (target / member).resolve()
            if target not in dest.parents:
                sys.exit(f"{wheel.name}: unsafe member {member}")
        archive.extractall(target)
'''


@dataclass(frozen=True)
class LockedRequirement:
    """One ``name==version --hash=sha256:...`` line of a processor's ``requirements.lock``."""

    name: str
    version: str
    hashes: tuple[str, ...]


@dataclass(frozen=True)
class BuildResult:
    """A built processor image; ``image_id`` is the config digest (stable across push/pull)."""

    ref: str
    image_id: str
    tag: str
    source_sha256: str
    base_image: str
    git_revision: str
    cached: bool
    elapsed_ms: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for ``--json``."""
        return asdict(self)


@dataclass(frozen=True)
class PushResult:
    """A pushed image: the manifest digest the registry reported (and re-verified)."""

    ref: str
    image_id: str
    repository: str
    tag: str
    digest: str
    reference: str
    elapsed_ms: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for ``--json``."""
        return asdict(self)


@dataclass(frozen=True)
class PinResult:
    """A pin written to the registry YAML (``changed`` False when it was already there)."""

    ref: str
    repository: str
    digest: str
    config_digest: str | None
    verified_at: str | None
    verified_by: str | None
    verified: bool
    changed: bool
    registry_file: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for ``--json``."""
        return asdict(self)


# ------------------------------------------------------------------------------------ naming


def local_tag(ref: ProcessorRef) -> str:
    """The engine-local tag of a build: ``processor-runtime/<ns>/<name>:v<version>``."""
    return f"{LOCAL_REPOSITORY_PREFIX}/{ref.ns}/{ref.name}:v{ref.version}"


def version_tag(ref: ProcessorRef) -> str:
    """The registry tag of a version: ``v<version>``."""
    return f"v{ref.version}"


def default_repository(ref: ProcessorRef, registry: str | None = None) -> str:
    """``<registry>/processors/<ns>/<name>``; the registry defaults to the configured one
    (:func:`runtime.images.location.image_registry`)."""
    return f"{registry or image_registry().value}/{REMOTE_NAMESPACE}/{ref.ns}/{ref.name}"


def recorded_registry() -> str:
    """The ``host:port`` of the local registry recorded by ``inv infra.up``."""
    from runtime.devinfra.services import read_infra

    registry = read_infra().get("registry")
    if not registry:
        raise ImageUnavailableError("no local registry recorded (.state/infra.json); "
                                    "start it with `inv infra.up`")
    return str(registry)


def split_target(target: str, default_tag: str) -> tuple[str, str]:
    """Split ``repo[:tag]`` (``repo@digest`` is refused: a push target needs a tag)."""
    if "@" in target:
        raise InputsError(f"push target {target!r} must be repo[:tag], not a digest reference")
    repo, tag = target, default_tag
    last = target.rsplit("/", 1)[-1]
    if ":" in last:
        repo, _, tag = target.rpartition(":")
    split_repository(repo)
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", tag):
        raise InputsError(f"push target tag {tag!r} is not a valid tag")
    return repo, tag


# ------------------------------------------------------------------------------ dependencies


def parse_lock(path: Path) -> list[LockedRequirement]:
    """Parse a hash-locked requirements file; every requirement needs ``--hash=sha256:``.

    Raises ``ERR_INPUTS`` naming the line for anything unpinned or unhashed.
    """
    text = path.read_text("utf-8").replace("\\\n", " ")
    found: list[LockedRequirement] = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!_-]+)", parts[0])
        hashes = tuple(p.split(":", 1)[1] for p in parts[1:] if p.startswith("--hash=sha256:"))
        if match is None or not hashes or len(hashes) != len(parts) - 1:
            raise InputsError(f"{path}:{number}: expected 'name==version --hash=sha256:<hex>' "
                              f"(hash-locked, nothing else), got {line[:120]!r}")
        found.append(LockedRequirement(match[1], match[2], hashes))
    return found


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def select_wheels(lock: list[LockedRequirement], wheelhouse: Path) -> list[Path]:
    """Pick the pre-downloaded pure-python wheel of each locked requirement, hash-checked.

    Raises ``ERR_INPUTS`` for a missing, ambiguous, non-pure or hash-mismatched wheel.
    """
    chosen: list[Path] = []
    wheels = sorted(wheelhouse.glob("*.whl")) if wheelhouse.is_dir() else []
    for requirement in lock:
        prefix = f"{_normalise(requirement.name)}-{requirement.version}-"
        matches = [w for w in wheels if _normalise(w.name.split("-", 1)[0]) + "-"
                   + w.name.split("-")[1] + "-" == prefix]
        if len(matches) != 1:
            raise InputsError(f"{requirement.name}=={requirement.version}: expected exactly one "
                              f"wheel in {wheelhouse}, found {len(matches)} (pre-download it)")
        wheel = matches[0]
        if not wheel.name.endswith("-none-any.whl"):
            raise InputsError(f"{wheel.name}: only pure-python (none-any) wheels can be installed")
        if sha256_file(wheel) not in requirement.hashes:
            raise InputsError(f"{wheel.name}: sha256 does not match any hash locked for "
                              f"{requirement.name}=={requirement.version}")
        chosen.append(wheel)
    return chosen


# ------------------------------------------------------------------------------- the context


class _Context:
    """A deterministic build-context tar: sorted entries, fixed mtime/uid/gid/mode."""

    def __init__(self) -> None:
        self._files: dict[str, bytes] = {}

    def add(self, path: str, data: bytes) -> None:
        self._files[path] = data

    def add_tree(self, source: Path, dest: str) -> None:
        for dirpath, dirnames, filenames in os.walk(source):
            dirnames[:] = sorted(d for d in dirnames
                                 if d not in SKIP_DIRS and not d.startswith("."))
            for name in sorted(filenames):
                if name.endswith((".pyc", ".pyo")):
                    continue
                full = Path(dirpath) / name
                if full.is_symlink():
                    raise InputsError(f"{full}: symlinks are not allowed in a processor folder")
                self.add(f"{dest}/{full.relative_to(source).as_posix()}", full.read_bytes())

    def tar(self) -> bytes:
        directories: set[str] = set()
        for path in self._files:
            parts = path.split("/")[:-1]
            directories.update("/".join(parts[: i + 1]) for i in range(len(parts)))
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
            for name in sorted(directories | set(self._files)):
                info = tarfile.TarInfo(name)
                info.mtime, info.uid, info.gid, info.uname, info.gname = SOURCE_DATE_EPOCH, 0, 0, "", ""
                if name in self._files:
                    data = self._files[name]
                    info.size, info.mode = len(data), 0o644
                    archive.addfile(info, io.BytesIO(data))
                else:
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    archive.addfile(info)
        return buffer.getvalue()


def git_revision(root: Path) -> str:
    """The checkout's ``HEAD`` commit, or ``unknown`` outside a git work tree."""
    try:
        result = spawn(["git", "-C", str(root), "rev-parse", "HEAD"], timeout_s=10,
                       env={"PATH": os.environ.get("PATH", os.defpath), "LANG": "C"})
    except OSError:
        return "unknown"
    revision = result.stdout.decode("ascii", "replace").strip()
    return revision if result.rc == 0 and re.fullmatch(r"[0-9a-f]{40,64}", revision) else "unknown"


def recorded_base_image(root: Path) -> dict[str, str] | None:
    """The base image ``inv infra.base-image`` recorded in ``<root>/.state``, or None without one.

    It lives in the ignored state folder, not the committed registry: a local build of the base
    is a fact of this machine (its registry on 127.0.0.1), not of the project. ``ERR_IMAGE_UNPINNED``
    when the record exists but is unreadable or malformed.
    """
    import json

    path = root / BASE_IMAGE_STATE
    try:
        record = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ImageUnpinnedError(f"{path}: unreadable base image record ({exc}); re-run "
                                 "`inv infra.base-image`") from exc
    repository = record.get("repository") if isinstance(record, dict) else None
    digest = record.get("digest") if isinstance(record, dict) else None
    if not isinstance(repository, str) or not repository or not isinstance(digest, str) \
            or not DIGEST_RE.match(digest):
        raise ImageUnpinnedError(f"{path}: a base image record needs a repository and a "
                                 "sha256 digest; re-run `inv infra.base-image`")
    return {"repository": repository, "digest": digest}


def base_reference(registry: Registry) -> str:
    """``repository@digest`` of the base image: the machine's record in ``.state``, else the registry's.

    ``ERR_IMAGE_UNPINNED`` when neither records one (or the state record is malformed).
    """
    recorded = recorded_base_image(registry.root)
    if recorded is not None:
        return f"{recorded['repository']}@{recorded['digest']}"
    base = registry.document.base_image
    if not base.repository or not base.digest:
        raise ImageUnpinnedError(
            f"{registry.path}: no base image recorded (neither {BASE_IMAGE_STATE} nor base_image "
            "in the registry); build and record it with `inv infra.base-image`")
    return f"{base.repository}@{base.digest}"


def _dockerfile(base: str, labels: dict[str, str], with_wheels: bool) -> str:
    lines = [f"FROM {base}", "COPY rootfs/ /"]
    if with_wheels:
        lines += ["COPY wheels/ /opt/wheels/",
                  f'RUN ["python3", "-I", "/opt/build/install_wheels.py", "/opt/wheels", '
                  f'"{PROCESSOR_DIR}/{LOCK_FILE}"]']
    # The runtime's bytecode, compiled once at build: every run sets PYTHONDONTWRITEBYTECODE, so
    # without it each container start would compile the entry and the kit from source again.
    # unchecked-hash pycs carry no timestamp: the same sources give the same bytes.
    lines.append(f'RUN ["python3", "-I", "-m", "compileall", "-q", "--invalidation-mode", '
                 f'"unchecked-hash", "{RUNTIME_DIR}"]')
    lines += [
        f"ENV PYTHONPATH={RUNTIME_DIR} PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 "
        "PYTHONHASHSEED=0 HOME=/tmp",
        "WORKDIR /tmp",
        "LABEL " + " ".join(f'"{key}"="{value}"' for key, value in sorted(labels.items())),
        'CMD ["python3", "-m", "runtime.child.entry", "--help"]',
    ]
    return "\n".join(lines) + "\n"


def build_context(resolved: ResolvedProcessor, registry: Registry, *,
                  wheelhouse: Path | None = None) -> tuple[bytes, dict[str, str]]:
    """The context tar and the labels for ``resolved`` (pure: no engine needed)."""
    ref = resolved.ref
    base = base_reference(registry)
    context = _Context()
    context.add_tree(resolved.directory, f"rootfs{PROCESSOR_DIR}")
    kit = image_files(checkout_root())  # what every image carries (images/content.py)
    for rel, data in kit.items():
        context.add(f"rootfs{RUNTIME_DIR}/{rel}", data)
    lock_path = resolved.directory / LOCK_FILE
    wheels: list[Path] = []
    if lock_path.is_file():
        lock = parse_lock(lock_path)
        wheels = select_wheels(lock, wheelhouse or registry.root / "wheelhouse")
        for wheel in wheels:
            context.add(f"wheels/{wheel.name}", wheel.read_bytes())
        context.add("rootfs/opt/build/install_wheels.py", _INSTALL_WHEELS.encode())
    labels = {
        "org.opencontainers.image.title": ref.key,
        "org.opencontainers.image.version": ref.version,
        "org.opencontainers.image.revision": git_revision(registry.root),
        "org.opencontainers.image.base.name": base.split("@", 1)[0],
        "org.opencontainers.image.base.digest": base.split("@", 1)[1],
        REF_LABEL: str(ref),
        f"{LABEL_PREFIX}.entrypoint": resolved.version.entrypoint,
        f"{LABEL_PREFIX}.source-sha256": tree_sha256(resolved.directory),
        f"{LABEL_PREFIX}.kit-sha256": sha256_hex("\n".join(
            f"{rel}\0{sha256_hex(data)}" for rel, data in sorted(kit.items()))),
    }
    context.add("Dockerfile", _dockerfile(base, labels, bool(wheels)).encode())
    return context.tar(), labels


# ---------------------------------------------------------------------------------- lifecycle


def _registry(root: str | Path | None) -> Registry:
    return Registry.load(Path(root).resolve() if root else project_root())


def build_processor(ref: str, *, root: str | Path | None = None,
                    wheelhouse: str | Path | None = None, nocache: bool = False) -> BuildResult:
    """Build the image of ``ref`` hermetically and tag it locally; returns its image ID.

    Raises ``ERR_INPUTS`` (unknown ref, bad lock/wheels), ``ERR_IMAGE_UNPINNED`` (no base image
    recorded) and ``ERR_IMAGE_UNAVAILABLE`` (engine down, base not pullable, build step failed).
    """
    started = time.monotonic()
    registry = _registry(root)
    resolved = registry.resolve(ref)
    log = get_logger(processor_ref=str(resolved.ref))
    context, labels = build_context(resolved, registry,
                                    wheelhouse=Path(wheelhouse) if wheelhouse else None)
    tag = local_tag(resolved.ref)
    with engine_session() as client:
        image_id, errors, tail, before = _build(client, context, tag, nocache, log)
    if errors or not image_id:
        detail = "; ".join(errors) or "the build ended without an image ID"
        log.error("image.build.error", error=bound_message(detail, 500))
        raise ImageUnavailableError(bound_message(
            f"build of {resolved.ref} failed: {detail}\n" + "\n".join(tail)[-BUILD_LOG_TAIL:]),
            retryable=False)
    result = BuildResult(ref=str(resolved.ref), image_id=image_id, tag=tag,
                         source_sha256=labels[f"{LABEL_PREFIX}.source-sha256"],
                         base_image=base_reference(registry),
                         git_revision=labels["org.opencontainers.image.revision"],
                         cached=before == image_id,
                         elapsed_ms=int((time.monotonic() - started) * 1000))
    log.info("image.build.complete", image_id=image_id, tag=tag, cached=result.cached,
             elapsed_ms=result.elapsed_ms)
    return result


def _build(client: Any, context: bytes, tag: str, nocache: bool, log: Any
           ) -> tuple[str | None, list[str], list[str], str | None]:
    """One legacy-builder run with the stream parsed: (image ID, errors, output tail, old ID)."""
    log.info("image.build.start", tag=tag, context_bytes=len(context))

    def previous_id() -> str | None:
        import docker.errors

        try:
            return str(client.api.inspect_image(tag)["Id"])
        except docker.errors.ImageNotFound:
            return None

    before = call_engine(f"inspect {tag}", previous_id)

    def build() -> tuple[str | None, list[str], list[str]]:
        image_id: str | None = None
        errors: list[str] = []
        tail: list[str] = []
        stream = client.api.build(fileobj=io.BytesIO(context), custom_context=True, tag=tag,
                                  network_mode="none", pull=False, rm=True, forcerm=True,
                                  nocache=nocache, decode=True)
        for event in stream:
            if not isinstance(event, dict):
                continue
            if event.get("error") or event.get("errorDetail"):
                errors.append(str((event.get("errorDetail") or {}).get("message")
                                  or event.get("error")))
            text = str(event.get("stream") or "").strip()
            if text:
                tail.append(text)
                if text.startswith("Step "):
                    progress("image.build.step", log=log, step=text[:200])
            aux = event.get("aux")
            if isinstance(aux, dict) and aux.get("ID"):
                image_id = str(aux["ID"])
        return image_id, errors, tail

    image_id, errors, tail = call_engine(f"build {tag}", build)
    return image_id, errors, tail, before


def _push_once(client: Any, repository: str, tag: str, log: Any = None,
               auth: dict[str, str] | None = None) -> str:
    extra = {"auth_config": auth} if auth else {}
    digest, _size, errors = read_push_stream(
        client.api.push(repository, tag=tag, stream=True, decode=True, **extra), tag, log=log)
    if errors:
        text = "; ".join(errors)
        raise ImageUnavailableError(bound_message(f"push of {repository}:{tag} failed: {text}"),
                                    retryable=is_transient_message(text))
    if not digest:
        raise ImageUnavailableError(f"push of {repository}:{tag} ended without a digest")
    return check_digest(digest)


def push_processor(ref: str, *, image: str | None = None, target: str | None = None,
                   root: str | Path | None = None) -> PushResult:
    """Push the build of ``ref`` (or ``image``) to ``target`` (default: the local registry).

    Idempotent (same blobs, same manifest, same tag). Transient registry errors are retried; the
    reported digest is verified against the image ID. Raises ``ERR_INPUTS``,
    ``ERR_IMAGE_UNAVAILABLE`` (no local image, engine or registry down) and
    ``ERR_REGISTRY_MISMATCH`` (the registry holds other bytes than the image pushed).
    """
    started = time.monotonic()
    registry = _registry(root)
    resolved = registry.resolve(ref)
    source = image or local_tag(resolved.ref)
    location = image_registry(registry.document.image_registry)
    repository, tag = split_target(target, version_tag(resolved.ref)) if target else (
        default_repository(resolved.ref, location.value), version_tag(resolved.ref))
    destination = ImageRegistry(repository.split("/", 1)[0], location.source if not target
                                else "target")
    credentials = require_credentials(destination)  # before anything is tagged or sent
    log = get_logger(processor_ref=str(resolved.ref))
    auth = credentials.auth_config() if credentials else None
    with engine_session() as client:
        image_id, digest = _tag_and_push(client, resolved.ref, source, repository, tag, log,
                                         auth=auth)
    verify_digest(repository, digest, expect_config=image_id)
    result = PushResult(ref=str(resolved.ref), image_id=image_id, repository=repository, tag=tag,
                        digest=digest, reference=f"{repository}@{digest}",
                        elapsed_ms=int((time.monotonic() - started) * 1000))
    log.info("image.push.complete", image_id=image_id, digest=digest, repository=repository,
             tag=tag, elapsed_ms=result.elapsed_ms)
    return result


def _tag_and_push(client: Any, ref: ProcessorRef, source: str, repository: str, tag: str,
                  log: Any, *, auth: dict[str, str] | None = None) -> tuple[str, str]:
    import docker.errors

    def inspect() -> Any:
        try:
            return client.api.inspect_image(source)["Id"]
        except docker.errors.ImageNotFound as exc:
            raise ImageUnavailableError(
                f"local image {source} not found; build it with `inv build-processor --ref "
                f"{ref}`") from exc

    image_id = call_engine(f"inspect {source}", inspect)
    log.info("image.push.start", image_id=image_id, repository=repository, tag=tag)
    call_engine(f"tag {source}", lambda: client.api.tag(image_id, repository, tag, force=True))
    digest = with_registry_retry(f"push {repository}:{tag}",
                                 lambda: call_engine(f"push {repository}:{tag}",
                                                     lambda: _push_once(client, repository, tag, log, auth)))
    return str(image_id), digest


def _check_identity(verified: VerifiedImage, ref: ProcessorRef, tag: str, *,
                    rollback: bool = False) -> None:
    """The digest must be an image of *this* ref, and the version tag must not say otherwise
    (unless this is a rollback: the tag then names the newer image being rolled back from)."""
    labelled = verified.labels.get(REF_LABEL)
    if labelled != str(ref):
        raise RegistryMismatchError(
            f"{verified.reference} is an image of {labelled or 'no processor ref'}, not {ref} "
            f"(label {REF_LABEL})", meta={"expected": str(ref), "actual": labelled})
    if rollback:
        return
    served = resolve_tag(verified.repository, tag)
    if served is not None and served != verified.digest:
        raise RegistryMismatchError(
            f"registry serves {served} for {verified.repository}:{tag}, not {verified.digest}",
            meta={"expected": verified.digest, "actual": served})


def pin_processor(ref: str, oci_digest: str, *, verify: bool = True,
                  repository: str | None = None, root: str | Path | None = None,
                  rollback: bool = False) -> PinResult:
    """Pin ``ref`` to ``oci_digest`` in the registry YAML, after proving it pullable.

    ``oci_digest`` is a bare digest or the full ``repository@digest`` reference that
    :func:`push_processor` reports (its repository must then agree with ``repository``).

    The manifest and every blob are checked in the target repository, the image's ref label and
    the version tag must agree, and only then is the YAML edited (atomically, comments and order
    kept), with the verification recorded in the pin (``verified_at`` + ``verified_by``): a pin
    can no longer skip verification (``verify=False`` is ``ERR_INPUTS``). The repository is
    ``repository``, else the configured image registry (when set), else the pin's, else the
    local registry. With evidence on (``PROCESSOR_EVIDENCE``) the verification is recorded under
    ``<evidence>/pins/``. ``rollback`` re-pins an *earlier* digest: one a reviewed pin of this
    registry once named (git history); the version tag, which names the newer image, is then
    not compared, everything else is verified again. Raises ``ERR_INPUTS`` (also: a rollback to
    a digest never pinned), ``ERR_IMAGE_UNAVAILABLE`` and ``ERR_REGISTRY_MISMATCH``; on any
    error the YAML is untouched.
    """
    if not verify:
        raise InputsError("pins are always verified: --no-verify-digest is no longer accepted "
                          "(a pin is provenance; staging/main deploy verified pins only)")
    registry = _registry(root)
    resolved = registry.resolve(ref)
    named, digest = split_pin_reference(oci_digest)
    if named and repository and named != repository:
        raise InputsError(f"--oci names repository {named!r} but --repository is {repository!r}")
    if rollback:
        _check_earlier_pin(registry, digest)
    repo = repository or named or _pin_repository(registry, resolved)
    split_repository(repo)
    log = get_logger(processor_ref=str(resolved.ref))
    log.info("image.pin.start", repository=repo, digest=digest, verify=True)
    verified = verify_digest(repo, digest)
    _check_identity(verified, resolved.ref, version_tag(resolved.ref), rollback=rollback)
    verified_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    changed = set_image_pin(registry.path, resolved.ref, repository=repo, digest=digest,
                            config_digest=verified.config_digest, verified_at=verified_at,
                            verified_by=VERIFIER)
    log.info("image.pin.complete", repository=repo, digest=digest,
             config_digest=verified.config_digest, verified_by=VERIFIER, changed=changed)
    result = PinResult(ref=str(resolved.ref), repository=repo, digest=digest,
                       config_digest=verified.config_digest, verified_at=verified_at,
                       verified_by=VERIFIER, verified=True, changed=changed,
                       registry_file=str(registry.path))
    record_pin_evidence(result, registry.root)
    return result


VERIFIER = "runtime.images.oci.verify_digest (manifest, config and every layer blob)"


def _check_earlier_pin(registry: Registry, digest: str) -> None:
    """A rollback goes back to what a reviewed pin once named, never to a new digest."""
    from runtime import _git
    from runtime.paths import REGISTRY_RELATIVE

    if not _git.ever_contained(registry.root, REGISTRY_RELATIVE.as_posix(), digest):
        raise InputsError(f"--rollback: {digest} was never pinned in {REGISTRY_RELATIVE} (git "
                          "history); a rollback re-pins an earlier verified digest — pin a new "
                          "digest without --rollback")


def _pin_repository(registry: Registry, resolved: ResolvedProcessor) -> str:
    """The configured registry when one is set (so a re-pin moves off loopback), else the
    pin's repository, else the local default."""
    location = image_registry(registry.document.image_registry)
    if location.source != "local" or not resolved.version.image.repository:
        return default_repository(resolved.ref, location.value)
    return resolved.version.image.repository


def record_pin_evidence(result: PinResult, root: Path) -> Path | None:
    """With evidence on, write the pin's verification to ``<evidence>/pins/<ns>.<name>.v<ver>.json``
    (atomically); returns the file, or ``None`` when evidence is off."""
    import json

    from runtime.evidence.package import PINS_DIRNAME
    from runtime.evidence.record import default_evidence_root, evidence_from_env
    from runtime.kit.files import atomic_write

    folder = evidence_from_env()
    if folder is None:
        return None
    base = Path(folder) if folder else default_evidence_root(root)
    ref = parse_ref(result.ref)
    name = f"{ref.ns}.{ref.name}.v{ref.version}"
    target = base / PINS_DIRNAME / f"{name}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    record = {"kind": "pin.verification", **result.to_dict()}
    record.pop("registry_file", None)  # an absolute path of the machine, not evidence
    atomic_write(target, (json.dumps(record, sort_keys=True) + "\n").encode(), target.parent)
    return target

