"""Debian + python3 base image: mmdebstrap → docker load → push to the local registry (SPEC §15).

No public registry is reachable here, so the base image processors build ``FROM`` (by digest) is
made locally:

1. ``mmdebstrap --variant=minbase --include=python3`` writes a root filesystem tarball, with
   ``SOURCE_DATE_EPOCH`` fixed and ``/etc/resolv.conf`` + ``/etc/hostname`` removed. The mirror
   is derived at run time from this machine's apt sources (never hard-coded).
2. A docker-archive (``manifest.json`` + a canonical config JSON + the tarball as its only layer)
   is streamed to ``docker load``. The config is fixed (``created`` = the epoch), so the **image
   ID is computed before loading** and is the same for the same tarball.
3. The image is tagged ``<registry>/<repository>:<tag>`` and pushed with the docker SDK's
   low-level API; the push stream is parsed (any ``error`` fails; the aux ``Digest`` is required).
4. The manifest is fetched back **by digest** with the full Accept list, its sha256 re-checked,
   its config digest compared to the image ID, and every blob HEADed.

Results are cached under ``.state/base/<key>/`` (``rootfs.tar``, ``config.json``,
``result.json``): a second call returns at once when the registry still serves the recorded
digest, and skips mmdebstrap when the tarball is already there.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import subprocess
import tarfile
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runtime._files import file_lock, write_atomic
from runtime.contract.wire import is_digest
from runtime.devinfra.services import InfraError, read_infra, require_binary, state_dir
from runtime.guards import is_loopback_host
from runtime.images.oci import read_push_stream, verify_digest
from runtime.kit.hashing import canonical_json, sha256_file
from runtime.logging import progress
from runtime.paths import checkout_root

__all__ = [
    "DEFAULT_SOURCE_DATE_EPOCH",
    "MANIFEST_ACCEPT",
    "apt_sources",
    "build_base_image",
    "build_rootfs",
    "image_config",
    "load_image_archive",
    "mirror_lines",
    "push_image",
    "verify_pullable",
]

DEFAULT_SOURCE_DATE_EPOCH = 1700000000
DEFAULT_REPOSITORY = "base"
DEFAULT_SUITE = "bookworm"
DEFAULT_PACKAGES: tuple[str, ...] = ("python3",)

MANIFEST_ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
_CUSTOMIZE_HOOK = 'rm -f "$1"/etc/resolv.conf "$1"/etc/hostname'
_CHUNK = 1 << 20


# --------------------------------------------------------------------------- apt sources


def apt_sources(root: str = "/") -> list[dict[str, Any]]:
    """Parse this machine's apt sources (one-line ``.list`` and deb822 ``.sources`` files).

    Returns entries ``{"types", "uris", "suites", "components", "file"}``. Like apt itself, only
    ``sources.list``, ``*.list`` and ``*.sources`` are read (``*.disabled`` etc. are ignored);
    deb822 stanzas with ``Enabled: no`` are skipped.
    """
    base = Path(root) / "etc/apt"
    files = [
        base / "sources.list",
        *sorted(
            p for p in (base / "sources.list.d").glob("*") if p.suffix in (".list", ".sources")
        ),
    ]
    out: list[dict[str, Any]] = []
    for f in files:
        try:
            text = f.read_text()
        except OSError:
            continue
        if f.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                fields: dict[str, str] = {}
                key = None
                for line in stanza.splitlines():
                    if not line.strip() or line.lstrip().startswith("#"):
                        continue
                    if line[:1].isspace() and key:  # continuation line
                        fields[key] += " " + line.strip()
                        continue
                    if ":" in line:
                        key, _, val = line.partition(":")
                        key = key.strip().lower()
                        fields[key] = val.strip()
                if fields.get("enabled", "yes").lower() == "no" or "uris" not in fields:
                    continue
                out.append(
                    {
                        "types": fields.get("types", "").split(),
                        "uris": fields.get("uris", "").split(),
                        "suites": fields.get("suites", "").split(),
                        "components": fields.get("components", "").split(),
                        "file": str(f),
                    }
                )
        else:
            for line in text.splitlines():
                line = line.split("#", 1)[0].strip()
                if not line:
                    continue
                line = re.sub(r"\[[^\]]*\]", " ", line)  # drop [arch=... signed-by=...] options
                parts = line.split()
                if len(parts) < 3 or parts[0] not in ("deb", "deb-src"):
                    continue
                out.append(
                    {
                        "types": [parts[0]],
                        "uris": [parts[1]],
                        "suites": [parts[2]],
                        "components": parts[3:],
                        "file": str(f),
                    }
                )
    return out


def mirror_lines(suite: str = DEFAULT_SUITE, root: str = "/") -> list[str]:
    """One-line ``deb URI SUITE COMPONENTS`` entries for ``suite`` and its ``-updates`` /
    ``-security`` pockets, taken from this machine's apt sources (the mirrors it can reach).

    Raises :class:`InfraError` if no apt source serves ``suite``.
    """
    wanted = {suite, f"{suite}-updates", f"{suite}-security"}
    lines: list[str] = []
    for e in apt_sources(root):
        if "deb" not in e["types"]:
            continue
        for uri in e["uris"]:
            for s in e["suites"]:
                if s in wanted:
                    line = f"deb {uri} {s} {' '.join(e['components'] or ['main'])}"
                    if line not in lines:
                        lines.append(line)
    if not any(line.split()[2] == suite for line in lines):
        raise InfraError(
            f"no apt source for suite {suite!r} in /etc/apt/sources.list(.d); "
            "mmdebstrap needs a reachable Debian mirror"
        )
    return lines


# --------------------------------------------------------------------------- helpers


def _sha256_file(path: Path) -> str:
    return "sha256:" + sha256_file(path)


def _canonical(obj: Any) -> bytes:
    return canonical_json(obj).encode()


def _registry_hostport(registry: str) -> str:
    """Accept ``127.0.0.1:5000`` or ``http://127.0.0.1:5000``; return ``host:port``."""
    r = registry.strip().rstrip("/")
    r = re.sub(r"^https?://", "", r)
    host = r.rsplit(":", 1)[0].strip("[]")
    if not is_loopback_host(host):
        raise InfraError(f"refusing non-loopback registry {registry!r} (loopback only)")
    return r


# --------------------------------------------------------------------------- steps


def build_rootfs(
    out_tar: Path,
    suite: str,
    packages: Iterable[str],
    mirrors: list[str],
    source_date_epoch: int,
    log_path: Path,
    timeout: float = 900.0,
) -> float:
    """Run mmdebstrap (minbase + ``packages``) into ``out_tar``; return elapsed seconds."""
    binary = require_binary("mmdebstrap")
    argv = [
        binary,
        "--variant=minbase",
        f"--include={','.join(packages)}",
        f"--customize-hook={_CUSTOMIZE_HOOK}",
        "--format=tar",
        suite,
        str(out_tar) + ".partial",
        *mirrors,
    ]
    env = {
        k: v
        for k, v in os.environ.items()
        if k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
    }
    env["SOURCE_DATE_EPOCH"] = str(source_date_epoch)
    env.setdefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    with log_path.open("ab") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(argv)}\n".encode())
        log.flush()
        try:
            rc = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                timeout=timeout,
                check=False,
            ).returncode
        except subprocess.TimeoutExpired as e:
            raise InfraError(f"mmdebstrap timed out after {timeout}s; log {log_path}") from e
    if rc != 0:
        tail = log_path.read_bytes()[-2000:].decode(errors="replace")
        Path(str(out_tar) + ".partial").unlink(missing_ok=True)
        raise InfraError(f"mmdebstrap failed with exit code {rc}; log {log_path}:\n{tail}")
    Path(str(out_tar) + ".partial").replace(out_tar)
    return time.monotonic() - t0


def image_config(
    diff_id: str, source_date_epoch: int, created_by: str, labels: dict[str, str] | None = None
) -> bytes:
    """Canonical image config JSON for a single-layer image; sha256 of it is the image ID."""
    created = datetime.fromtimestamp(source_date_epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    cfg = {
        "architecture": "amd64",
        "os": "linux",
        "created": created,
        "config": {
            "Env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "LANG=C.UTF-8",
            ],
            "Cmd": ["python3"],
            "Labels": dict(sorted((labels or {}).items())),
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": created, "created_by": created_by}],
    }
    return _canonical(cfg)


def _archive_stream(config: bytes, image_id: str, layer: Path, repo_tag: str) -> Iterator[bytes]:
    """Yield a docker-archive (``docker save`` format) without writing it to disk."""
    hexid = image_id.split(":", 1)[1]
    manifest = _canonical(
        [{"Config": f"{hexid}.json", "RepoTags": [repo_tag], "Layers": [f"{hexid}/layer.tar"]}]
    )

    def header(name: str, size: int) -> bytes:
        ti = tarfile.TarInfo(name)
        ti.size, ti.mtime, ti.mode, ti.uid, ti.gid = size, 0, 0o644, 0, 0
        return ti.tobuf(format=tarfile.USTAR_FORMAT)

    def pad(size: int) -> bytes:
        return b"\0" * (-size % 512)

    for name, data in ((f"{hexid}.json", config), ("manifest.json", manifest)):
        yield header(name, len(data)) + data + pad(len(data))
    size = layer.stat().st_size
    yield header(f"{hexid}/layer.tar", size)
    with layer.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            yield chunk
    yield pad(size) + b"\0" * 1024


def load_image_archive(
    client: Any, config: bytes, image_id: str, layer: Path, repo_tag: str
) -> None:
    """Stream a docker-archive to the engine's ``/images/load``; fail on any stream error."""
    stream = client.api.load_image(_archive_stream(config, image_id, layer, repo_tag))
    for ev in stream:
        if isinstance(ev, dict) and (ev.get("error") or ev.get("errorDetail")):
            msg = ev.get("errorDetail", {}).get("message") or ev.get("error")
            raise InfraError(f"docker load failed: {msg}")
    got = client.api.inspect_image(image_id)["Id"]
    if got != image_id:
        raise InfraError(f"docker load produced {got}, expected {image_id}")


def push_image(client: Any, repository: str, tag: str) -> tuple[str, int]:
    """Push ``repository:tag``; return ``(manifest_digest, manifest_size)`` from the aux event.

    docker-py never raises for registry errors during a push, so the stream is parsed: any
    ``error``/``errorDetail`` fails, and an aux ``{"Tag": tag, "Digest": ...}`` is required.
    """
    digest, size, errors = read_push_stream(
        client.api.push(repository, tag=tag, stream=True, decode=True), tag)
    if errors:
        raise InfraError(f"push of {repository}:{tag} failed: {'; '.join(errors)}")
    if not digest or not is_digest(digest):
        raise InfraError(
            f"push of {repository}:{tag} ended without a valid aux Digest ({digest!r})"
        )
    return digest, size


def verify_pullable(
    registry: str, name: str, digest: str, expect_config: str | None = None
) -> dict[str, Any]:
    """GET the manifest by digest (full Accept list), re-hash it, HEAD config and layer blobs.

    Returns ``{"media_type", "config_digest", "layers", "size"}``. The verifier's canon error
    passes through as it is (``ERR_REGISTRY_MISMATCH`` stays a mismatch, a missing blob stays
    ``ERR_IMAGE_UNAVAILABLE``). ``name`` is the repository path without the registry.
    """
    verified = verify_digest(f"{_registry_hostport(registry)}/{name}", digest,
                             expect_config=expect_config)
    return {
        "media_type": verified.media_type,
        "config_digest": verified.config_digest,
        "layers": verified.layers,
    }


# --------------------------------------------------------------------------- entry point


def _stage(stage: str, **fields: Any) -> None:
    """One progress event per base-image stage (mmdebstrap, hash, load, push, verify)."""
    progress("image.base.stage", stage=stage, **fields)


def _resolve_registry(repo_root: Path, registry: str | None) -> str:
    if registry:
        return _registry_hostport(registry)
    rec = read_infra(repo_root)
    if not rec.get("registry"):
        raise InfraError("no registry given and none recorded in .state/infra.json; run infra.up()")
    return _registry_hostport(rec["registry"])


def build_base_image(
    repo_root: str | os.PathLike[str] | None = None,
    registry: str | None = None,
    *,
    repository: str = DEFAULT_REPOSITORY,
    tag: str | None = None,
    suite: str = DEFAULT_SUITE,
    packages: Iterable[str] = DEFAULT_PACKAGES,
    source_date_epoch: int = DEFAULT_SOURCE_DATE_EPOCH,
    rebuild: bool = False,
    client: Any = None,
) -> dict[str, Any]:
    """Build (or reuse) the Debian + python3 base image and push it to ``registry``.

    ``registry`` is ``host:port`` (loopback only); default: the one recorded by ``infra.up()``.
    Returns ``{"repository", "tag", "digest", "reference", "image_id", "diff_id",
    "media_type", "layers", "mirrors", "suite", "packages", "source_date_epoch", "cached",
    "timings_s"}`` where ``reference`` = ``<registry>/<repository>@<digest>`` is what processors
    use. A second call returns the cached result if the registry still serves that digest
    (``cached=True``); ``rebuild=True`` forces a fresh mmdebstrap.
    """
    root = Path(repo_root) if repo_root is not None else checkout_root()
    sd = state_dir(root)
    reg = _resolve_registry(root, registry)
    tag = tag or suite
    pkgs = sorted(set(packages))
    mirrors = mirror_lines(suite)
    key_src = _canonical(
        {
            "suite": suite,
            "packages": pkgs,
            "mirrors": mirrors,
            "epoch": source_date_epoch,
            "hook": _CUSTOMIZE_HOOK,
            "variant": "minbase",
            "v": 1,
        }
    )
    key = hashlib.sha256(key_src).hexdigest()[:16]
    cdir = sd / "base" / key
    cdir.mkdir(parents=True, exist_ok=True)
    rootfs, cfg_path, result_path = cdir / "rootfs.tar", cdir / "config.json", cdir / "result.json"
    full_repo = f"{reg}/{repository}"
    timings: dict[str, float] = {}

    with contextlib.ExitStack() as owned, file_lock(cdir / "build.lock"):
        # ---- fast path: recorded result still served by this registry
        if not rebuild and result_path.exists():
            try:
                prev = json.loads(result_path.read_text())
                if prev.get("repository") == full_repo and prev.get("tag") == tag:
                    _stage("reuse", digest=prev.get("digest"))
                    t0 = time.monotonic()
                    verify_pullable(reg, repository, prev["digest"], prev["image_id"])
                    prev["cached"] = True
                    prev["timings_s"] = {"verify": round(time.monotonic() - t0, 3)}
                    return dict(prev)
            except (InfraError, KeyError, json.JSONDecodeError):
                pass  # fall through and rebuild what is missing

        if rebuild:
            rootfs.unlink(missing_ok=True)
        if not rootfs.exists():
            log_path = sd / "logs" / "mmdebstrap.log"
            # The cold build is long and silent; say what runs and where its log is.
            _stage("mmdebstrap", suite=suite, packages=pkgs, log_path=str(log_path))
            timings["mmdebstrap"] = round(
                build_rootfs(rootfs, suite, pkgs, mirrors, source_date_epoch, log_path), 3)
        _stage("hash", rootfs=str(rootfs))
        t0 = time.monotonic()
        diff_id = _sha256_file(rootfs)
        timings["hash"] = round(time.monotonic() - t0, 3)
        config = image_config(
            diff_id,
            source_date_epoch,
            created_by=f"mmdebstrap --variant=minbase --include={','.join(pkgs)} {suite}",
            labels={
                "org.opencontainers.image.base.name": f"debian:{suite}",
                "processor-runtime.base.key": key,
            },
        )
        image_id = "sha256:" + hashlib.sha256(config).hexdigest()
        write_atomic(cfg_path, config)

        if client is None:
            from runtime.devinfra.services import docker_client

            client = docker_client(root)
            owned.callback(client.close)  # ours: its connections close with the build
        import docker  # lazy

        t0 = time.monotonic()
        try:
            client.api.inspect_image(image_id)
            present = True
        except docker.errors.ImageNotFound:
            present = False
        if not present:
            _stage("load", image_id=image_id)
            load_image_archive(client, config, image_id, rootfs, f"{full_repo}:{tag}")
            timings["load"] = round(time.monotonic() - t0, 3)
        client.api.tag(image_id, full_repo, tag, force=True)

        _stage("push", repository=full_repo, tag=tag)
        t0 = time.monotonic()
        digest, msize = push_image(client, full_repo, tag)
        timings["push"] = round(time.monotonic() - t0, 3)

        _stage("verify", digest=digest)
        t0 = time.monotonic()
        ver = verify_pullable(reg, repository, digest, image_id)
        timings["verify"] = round(time.monotonic() - t0, 3)

        result = {
            "repository": full_repo,
            "tag": tag,
            "digest": digest,
            "reference": f"{full_repo}@{digest}",
            "image_id": image_id,
            "diff_id": diff_id,
            "manifest_size": msize,
            "media_type": ver["media_type"],
            "layers": ver["layers"],
            "mirrors": mirrors,
            "suite": suite,
            "packages": pkgs,
            "source_date_epoch": source_date_epoch,
            "cache_key": key,
            "cached": False,
            "timings_s": timings,
        }
        write_atomic(result_path, (json.dumps(result, indent=2, sort_keys=True) + "\n").encode())
        return result


if __name__ == "__main__":  # python -m runtime.images.base [--rebuild]
    import sys

    print(json.dumps(build_base_image(rebuild="--rebuild" in sys.argv), indent=2))
