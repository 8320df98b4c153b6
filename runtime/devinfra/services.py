"""Real local container infrastructure: Docker Engine + OCI registry (SPEC §15).

``up()`` makes a Docker Engine and a CNCF distribution registry available on this machine:

* **Engine.** Reuse a reachable engine (``DOCKER_HOST`` if it is a unix socket or loopback TCP,
  else ``/var/run/docker.sock``). If none is reachable, start a *private* ``dockerd`` with its
  own socket, data-root and exec-root under ``<repo>/.state/`` and **no default bridge**
  (``--bridge=none``, no iptables, no ip-forward). Containers are run with ``network=none``.
* **Registry.** Start Debian's ``docker-registry`` on ``127.0.0.1:<port>`` with its config and
  filesystem storage in the state folder (or reuse a healthy registry already on that port).

What ``up()`` found/started is recorded in ``<repo>/.state/infra.json`` so that other processes
(tests, tasks) can find the engine (``docker_host``) and registry without re-probing.
``down()`` stops only what ``up()`` started (by recorded pid, re-checked against
``/proc/<pid>/cmdline``). Everything listens on 127.0.0.1 or on unix sockets only.

The ``docker`` SDK is imported lazily inside functions, never at module import.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from runtime._files import file_lock, write_atomic
from runtime.guards import is_loopback_host
from runtime.paths import checkout_root

__all__ = [
    "STATE_DIRNAME",
    "InfraError",
    "InfraStatus",
    "default_repo_root",
    "docker_client",
    "docker_host",
    "down",
    "engine_reachable",
    "read_infra",
    "registry_healthy",
    "require_binary",
    "state_dir",
    "status",
    "up",
]

STATE_DIRNAME = ".state"
INFRA_FILE = "infra.json"
SYSTEM_DOCKER_HOST = "unix:///var/run/docker.sock"
DEFAULT_REGISTRY_PORT = 5000
LOOPBACK = "127.0.0.1"

#: binary -> Debian package that provides it (named in errors when missing).
BINARY_PACKAGES: dict[str, str] = {
    "dockerd": "docker.io",
    "containerd": "docker.io",  # pulled in by docker.io (package: containerd)
    "runc": "docker.io",  # pulled in by docker.io (package: runc)
    "docker-registry": "docker-registry",
    "mmdebstrap": "mmdebstrap",
}

#: Containerd namespaces of the private engine, so it never collides with another dockerd
#: that might share a system containerd (dockerd 20.10 uses /run/containerd if it is running).
_CONTAINERD_NS = "prt-moby"
_CONTAINERD_PLUGINS_NS = "prt-plugins"

#: Unix socket paths are limited to 107 bytes; containerd's longest socket under exec-root.
_LONGEST_EXEC_SOCKET = "/containerd/containerd.sock.ttrpc"
_SUN_PATH_MAX = 107

#: The only executables ``down()`` may signal when sweeping leftovers of our private engine.
_DAEMON_BINARIES = frozenset(
    {
        "dockerd",
        "containerd",
        "containerd-shim",
        "containerd-shim-runc-v2",
        "docker-proxy",
        "docker-registry",
    }
)

_SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "ftp_proxy")


class InfraError(RuntimeError):
    """The local container infrastructure could not be brought up, queried or torn down."""


@dataclass(frozen=True)
class InfraStatus:
    """Snapshot of the local infrastructure (also the schema of ``.state/infra.json``)."""

    state_dir: str
    docker_host: str | None
    engine_reachable: bool
    engine_started_by_us: bool
    engine_pid: int | None
    registry: str | None  # "127.0.0.1:5000": the prefix for image references
    registry_url: str | None  # "http://127.0.0.1:5000"
    registry_healthy: bool
    registry_started_by_us: bool
    registry_pid: int | None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return asdict(self)


# --------------------------------------------------------------------------- paths / files


def default_repo_root() -> Path:
    """Return the repository root this module lives in (``runtime/`` is one level below it)."""
    return checkout_root()


def state_dir(repo_root: str | os.PathLike[str] | None = None) -> Path:
    """Return (and create) ``<repo_root>/.state``; it ignores itself via its own ``.gitignore``."""
    root = Path(repo_root) if repo_root is not None else default_repo_root()
    d = root.resolve() / STATE_DIRNAME
    d.mkdir(parents=True, exist_ok=True)
    gi = d / ".gitignore"
    if not gi.exists():
        gi.write_text("# runtime state of runtime/devinfra/services.py; never commit\n*\n")
    return d


def _paths(sd: Path) -> dict[str, Path]:
    return {
        "infra": sd / INFRA_FILE,
        "lock": sd / "infra.lock",
        "logs": sd / "logs",
        "docker": sd / "docker",
        "docker_sock": sd / "docker" / "docker.sock",
        "docker_data": sd / "docker" / "data",
        "docker_exec": sd / "docker" / "run",
        "docker_pidfile": sd / "docker" / "dockerd.pid",
        "docker_config": sd / "docker" / "daemon.json",
        "registry": sd / "registry",
        "registry_data": sd / "registry" / "data",
        "registry_config": sd / "registry" / "config.yml",
        "registry_secret": sd / "registry" / "http.secret",
    }


def read_infra(repo_root: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Return the contents of ``.state/infra.json`` (``{}`` if absent or unreadable)."""
    p = _paths(state_dir(repo_root))["infra"]
    try:
        data = json.loads(p.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_infra(sd: Path, st: InfraStatus) -> None:
    write_atomic(_paths(sd)["infra"], json.dumps(st.to_dict(), indent=2, sort_keys=True) + "\n")


def _locked(sd: Path) -> contextlib.AbstractContextManager[None]:
    """Serialise up/down across processes (pytest-xdist workers, parallel tasks)."""
    return file_lock(_paths(sd)["lock"])


# --------------------------------------------------------------------------- binaries


def require_binary(name: str) -> str:
    """Return the absolute path of ``name`` or raise naming the Debian package to install.

    ``docker`` CLIs elsewhere on PATH do not count for ``dockerd``; sbin dirs are searched too.
    """
    found = shutil.which(name, path=os.environ.get("PATH", "") + ":" + _SAFE_PATH)
    if found:
        return found
    pkg = BINARY_PACKAGES.get(name, name)
    raise InfraError(
        f"required binary {name!r} not found; install the Debian package {pkg!r} "
        f"(apt-get install --no-install-recommends {pkg}, or run scripts/install-system-deps.sh)"
    )


# --------------------------------------------------------------------------- probes


def _is_local_host(host: str) -> bool:
    """Only unix sockets and loopback TCP are allowed (network rule: loopback only)."""
    u = urlparse(host)
    if u.scheme in ("unix", "npipe"):
        return True
    if u.scheme in ("tcp", "http", "https"):
        return is_loopback_host(u.hostname)
    return False


def engine_reachable(host: str, timeout: float = 2.0) -> bool:
    """Return True if a Docker Engine answers ``/_ping`` at ``host`` (e.g. ``unix:///x.sock``).

    Non-loopback hosts are never contacted (returns False). Never raises.
    """
    if not host or not _is_local_host(host):
        return False
    u = urlparse(host)
    if u.scheme == "unix" and not Path(u.path).exists():
        return False
    try:
        import docker  # lazy: keep module import free of the SDK

        api = docker.APIClient(base_url=host, version="1.24", timeout=timeout)
        try:
            api.trust_env = False  # never route loopback traffic through an env proxy
            return api.ping() is True
        finally:
            api.close()
    except Exception:  # noqa: BLE001 - any failure means "not reachable"
        return False


def _no_proxy_opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def registry_healthy(url: str, timeout: float = 2.0) -> bool:
    """Return True if ``GET <url>/v2/`` answers like a distribution registry. Never raises.

    Only loopback URLs are contacted.
    """
    if not url or not _is_local_host(url):
        return False
    try:
        with _no_proxy_opener().open(url.rstrip("/") + "/v2/", timeout=timeout) as resp:
            code = int(resp.status)
            api = str(resp.headers.get("Docker-Distribution-Api-Version", ""))
    except urllib.error.HTTPError as e:  # 401 = a registry with auth: still a registry
        code, api = e.code, str(e.headers.get("Docker-Distribution-Api-Version", ""))
    except Exception:  # noqa: BLE001
        return False
    return code in (200, 401) and api.startswith("registry/2")


def _listener_pid(port: int, candidates: list[int]) -> int | None:
    """Return the pid among ``candidates`` that owns the LISTEN socket on 127.0.0.1:``port``."""
    want = f"{0x0100007F:08X}:{port:04X}"  # /proc/net/tcp: little-endian 127.0.0.1
    inodes: set[str] = set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            f = line.split()
            if len(f) > 9 and f[1] == want and f[3] == "0A":  # 0A = LISTEN
                inodes.add(f"socket:[{f[9]}]")
    for pid in candidates:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    if str(fd.readlink()) in inodes:
                        return pid
    return None


def _port_in_use(port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((LOOPBACK, port)) == 0


# --------------------------------------------------------------------------- processes


def _proc_cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def _pid_is_ours(pid: int | None, binary: str, sd: Path) -> bool:
    """True if ``pid`` is alive, runs ``binary`` and mentions our state dir (guards pid reuse)."""
    if not pid or pid <= 0:
        return False
    argv = _proc_cmdline(pid)
    if not argv:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":  # zombie
            return False
    except (OSError, IndexError):
        return False
    return Path(argv[0]).name == binary and any(str(sd) in a for a in argv)


def _state_processes(sd: Path) -> list[tuple[int, list[str]]]:
    """Live daemons (dockerd, containerd, shims, registry) whose argv names our state dir."""
    out: list[tuple[int, list[str]]] = []
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        argv = _proc_cmdline(int(entry.name))
        name = Path(argv[0]).name if argv else ""
        if name in _DAEMON_BINARIES and _pid_is_ours(int(entry.name), name, sd):
            out.append((int(entry.name), argv))
    return out


def _daemon_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in _PROXY_VARS}
    env.pop("DOCKER_HOST", None)
    env["PATH"] = _SAFE_PATH  # dockerd finds containerd, runc, docker-init, docker-proxy on PATH
    return env


#: Daemons started by this process. Holding the handles keeps Python from warning that a
#: still-running child was garbage-collected, and lets ``down()`` reap them properly.
_DAEMONS: list[subprocess.Popen[bytes]] = []


def _spawn(argv: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%S')} start: {' '.join(argv)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=str(log_path.parent),
            env=_daemon_env(),
            start_new_session=True,  # survive the caller; not hit by terminal signals
            close_fds=True,
        )
    _DAEMONS.append(proc)
    return proc


def _log_tail(path: Path, n: int = 2000) -> str:
    try:
        return path.read_bytes()[-n:].decode(errors="replace")
    except OSError:
        return ""


def _wait_until(
    pred: Callable[[], bool],
    deadline: float,
    proc: subprocess.Popen[bytes] | None,
    what: str,
    log: Path,
) -> None:
    while True:
        if pred():
            return
        if proc is not None and proc.poll() is not None:
            raise InfraError(
                f"{what} exited with code {proc.returncode} during startup; log {log}:\n"
                f"{_log_tail(log)}"
            )
        if time.monotonic() > deadline:
            raise InfraError(f"{what} not healthy before deadline; log {log}:\n{_log_tail(log)}")
        time.sleep(0.2)


def _terminate(pid: int, binary: str, sd: Path, timeout: float) -> bool:
    """SIGTERM ``pid`` (if it is ours), wait, then SIGKILL. Returns True if it was running."""
    if not _pid_is_ours(pid, binary, sd):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not _pid_is_ours(pid, binary, sd):
            _reap(pid)
            return True
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    _reap(pid)
    return True


def _reap(pid: int, wait: float = 2.0) -> None:
    """Collect the exit status if ``pid`` is our own child (``up`` and ``down`` in one process).

    A process whose cmdline vanished may not be a zombie yet, so poll briefly. Orphans of an
    earlier process are reaped by PID 1 (lazily in some sandboxes; see docs/infra-notes.md).
    """
    for proc in list(_DAEMONS):
        if proc.pid == pid:
            _DAEMONS.remove(proc)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=wait)
            return
    end = time.monotonic() + wait
    while True:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except (ChildProcessError, OSError):
            return  # not our child (or already reaped)
        if done == pid or time.monotonic() > end:
            return
        time.sleep(0.05)


# --------------------------------------------------------------------------- engine


def _candidate_hosts() -> list[str]:
    hosts: list[str] = []
    env_host = os.environ.get("DOCKER_HOST", "").strip()
    if env_host:
        hosts.append(env_host)
    if SYSTEM_DOCKER_HOST not in hosts:
        hosts.append(SYSTEM_DOCKER_HOST)
    return hosts


def _private_host(sd: Path) -> str:
    return f"unix://{_paths(sd)['docker_sock']}"


def _dockerd_argv(sd: Path) -> list[str]:
    p = _paths(sd)
    return [
        require_binary("dockerd"),
        f"--host={_private_host(sd)}",
        f"--data-root={p['docker_data']}",
        f"--exec-root={p['docker_exec']}",
        f"--pidfile={p['docker_pidfile']}",
        f"--config-file={p['docker_config']}",  # isolate from /etc/docker/daemon.json
        "--bridge=none",
        "--iptables=false",
        "--ip6tables=false",
        "--ip-forward=false",
        "--ip-masq=false",
        "--userland-proxy=false",
        f"--containerd-namespace={_CONTAINERD_NS}",
        f"--containerd-plugins-namespace={_CONTAINERD_PLUGINS_NS}",
        "--shutdown-timeout=5",  # bound down(): running containers get 5 s, then SIGKILL
        "--log-level=warn",
    ]


def _start_engine(sd: Path, deadline: float) -> tuple[str, int]:
    p = _paths(sd)
    for b in ("containerd", "runc"):
        require_binary(b)
    exec_root = p["docker_exec"]
    if len(str(exec_root) + _LONGEST_EXEC_SOCKET) > _SUN_PATH_MAX:
        raise InfraError(
            f"state dir path too long for unix sockets ({exec_root}); "
            "move the checkout to a shorter path"
        )
    for d in (p["docker_data"], exec_root, p["logs"]):
        d.mkdir(parents=True, exist_ok=True)
    p["docker_data"].chmod(0o711)
    if not p["docker_config"].exists():
        write_atomic(p["docker_config"], "{}\n")
    host = _private_host(sd)
    log = p["logs"] / "dockerd.log"
    proc = _spawn(_dockerd_argv(sd), log)
    _wait_until(lambda: engine_reachable(host), deadline, proc, "private dockerd", log)
    return host, proc.pid


# --------------------------------------------------------------------------- registry


def _registry_config(sd: Path, port: int) -> str:
    p = _paths(sd)
    sec = p["registry_secret"]
    if not sec.exists():
        write_atomic(sec, secrets.token_hex(24) + "\n", mode=0o600)
    secret = sec.read_text().strip()
    # JSON is valid YAML; avoids quoting issues with paths.
    cfg = {
        "version": 0.1,
        "log": {"level": "info", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(p["registry_data"])},
            "delete": {"enabled": True},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": {"addr": f"{LOOPBACK}:{port}", "secret": secret},
        "health": {"storagedriver": {"enabled": False}},
    }
    return json.dumps(cfg, indent=2) + "\n"


def _start_registry(sd: Path, port: int, deadline: float) -> int:
    p = _paths(sd)
    binary = require_binary("docker-registry")
    p["registry_data"].mkdir(parents=True, exist_ok=True)
    p["logs"].mkdir(parents=True, exist_ok=True)
    write_atomic(p["registry_config"], _registry_config(sd, port))
    log = p["logs"] / "registry.log"
    proc = _spawn([binary, "serve", str(p["registry_config"])], log)
    url = f"http://{LOOPBACK}:{port}"
    _wait_until(lambda: registry_healthy(url), deadline, proc, "docker-registry", log)
    return proc.pid


# --------------------------------------------------------------------------- public API


def up(
    repo_root: str | os.PathLike[str] | None = None,
    registry_port: int = DEFAULT_REGISTRY_PORT,
    *,
    timeout: float = 60.0,
    reuse_engine: bool = True,
) -> InfraStatus:
    """Ensure a Docker Engine and a local registry are up; record them in ``.state/infra.json``.

    Idempotent and safe to call concurrently (file lock): a second call reuses what the first
    started. Engine order: our own recorded private dockerd if alive; else (``reuse_engine``)
    ``DOCKER_HOST`` / ``/var/run/docker.sock`` if reachable; else start a private dockerd.
    Registry: our recorded registry if alive; else a healthy registry already on
    ``127.0.0.1:<registry_port>``; else start ``docker-registry``. Both are health-checked within
    ``timeout`` seconds in total. Raises :class:`InfraError` on failure (missing binaries name
    the Debian package).
    """
    sd = state_dir(repo_root)
    deadline = time.monotonic() + timeout
    with _locked(sd):
        prev = read_infra(sd.parent)
        private = _private_host(sd)

        # ---- engine
        host: str | None = None
        e_ours = False
        e_pid: int | None = None
        if (
            prev.get("engine_started_by_us")
            and _pid_is_ours(prev.get("engine_pid"), "dockerd", sd)
            and engine_reachable(private)
        ):
            host, e_ours, e_pid = private, True, prev["engine_pid"]
        elif reuse_engine:
            for cand in _candidate_hosts():
                if cand == private:
                    continue  # our socket but not our recorded pid: handled below
                if engine_reachable(cand):
                    host = cand
                    break
        if host is None:
            # A private dockerd from an earlier, unrecorded run? Adopt it via its pidfile.
            pid = _read_pidfile(_paths(sd)["docker_pidfile"])
            if _pid_is_ours(pid, "dockerd", sd) and engine_reachable(private):
                host, e_ours, e_pid = private, True, pid
            else:
                host, e_pid = _start_engine(sd, deadline)
                e_ours = True

        # ---- registry
        url = f"http://{LOOPBACK}:{registry_port}"
        r_ours = False
        r_pid: int | None = None
        if (
            prev.get("registry_started_by_us")
            and prev.get("registry_url") == url
            and _pid_is_ours(prev.get("registry_pid"), "docker-registry", sd)
            and registry_healthy(url)
        ):
            r_ours, r_pid = True, prev["registry_pid"]
        else:
            old = prev.get("registry_pid") if prev.get("registry_started_by_us") else None
            if old:  # ours but on another port, or unhealthy: replace it
                _terminate(old, "docker-registry", sd, 10.0)
            if registry_healthy(url):
                # Ours from an unrecorded run (the listener is a registry of our state dir)?
                # Adopt it. Otherwise it is someone else's registry: reuse, never stop it.
                owner = _listener_pid(
                    registry_port,
                    [
                        pid
                        for pid, argv in _state_processes(sd)
                        if Path(argv[0]).name == "docker-registry"
                    ],
                )
                if owner:
                    r_ours, r_pid = True, owner
            else:
                if _port_in_use(registry_port):
                    raise InfraError(
                        f"port {LOOPBACK}:{registry_port} is in use by something that is not a "
                        "registry; pass another registry_port"
                    )
                r_pid = _start_registry(sd, registry_port, deadline)
                r_ours = True

        st = InfraStatus(
            state_dir=str(sd),
            docker_host=host,
            engine_reachable=True,
            engine_started_by_us=e_ours,
            engine_pid=e_pid,
            registry=f"{LOOPBACK}:{registry_port}",
            registry_url=url,
            registry_healthy=True,
            registry_started_by_us=r_ours,
            registry_pid=r_pid,
            extra={"updated_at": time.time()},
        )
        _write_infra(sd, st)
        return st


def _read_pidfile(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def status(repo_root: str | os.PathLike[str] | None = None) -> InfraStatus:
    """Probe what ``infra.json`` records (no side effects, never starts anything)."""
    sd = state_dir(repo_root)
    rec = read_infra(sd.parent)
    host = rec.get("docker_host")
    url = rec.get("registry_url")
    e_pid = rec.get("engine_pid") if rec.get("engine_started_by_us") else None
    r_pid = rec.get("registry_pid") if rec.get("registry_started_by_us") else None
    return InfraStatus(
        state_dir=str(sd),
        docker_host=host,
        engine_reachable=bool(host) and engine_reachable(str(host)),
        engine_started_by_us=bool(rec.get("engine_started_by_us")),
        engine_pid=e_pid if _pid_is_ours(e_pid, "dockerd", sd) else None,
        registry=rec.get("registry"),
        registry_url=url,
        registry_healthy=bool(url) and registry_healthy(str(url)),
        registry_started_by_us=bool(rec.get("registry_started_by_us")),
        registry_pid=r_pid if _pid_is_ours(r_pid, "docker-registry", sd) else None,
        extra={"recorded": bool(rec)},
    )


def down(repo_root: str | os.PathLike[str] | None = None, *, timeout: float = 30.0) -> list[str]:
    """Stop only what ``up()`` started (recorded pids); leave reused engines/registries alone.

    After dockerd exits, any leftover process of ours (its containerd / shims, found by the state
    dir in their argv) is terminated too. Data (images, registry blobs) is kept. Returns the
    names of the components that were stopped. Idempotent.
    """
    sd = state_dir(repo_root)
    stopped: list[str] = []
    with _locked(sd):
        rec = read_infra(sd.parent)
        if rec.get("registry_started_by_us") and _terminate(
            rec.get("registry_pid") or 0, "docker-registry", sd, timeout
        ):
            stopped.append("registry")
        if rec.get("engine_started_by_us"):
            pid = rec.get("engine_pid") or _read_pidfile(_paths(sd)["docker_pidfile"]) or 0
            if _terminate(pid, "dockerd", sd, timeout):
                stopped.append("dockerd")
            # dockerd stops its managed containerd; make sure nothing of ours lingers.
            end = time.monotonic() + min(timeout, 10.0)
            while _state_processes(sd) and time.monotonic() < end:
                time.sleep(0.2)
            for lpid, argv in _state_processes(sd):
                if _terminate(lpid, Path(argv[0]).name, sd, 5.0):
                    stopped.append(Path(argv[0]).name)
        if rec:
            _paths(sd)["infra"].unlink(missing_ok=True)
    return stopped


def docker_host(repo_root: str | os.PathLike[str] | None = None) -> str:
    """The ``DOCKER_HOST`` recorded by ``up()``; falls back to env / the system socket."""
    rec = read_infra(repo_root)
    return rec.get("docker_host") or os.environ.get("DOCKER_HOST") or SYSTEM_DOCKER_HOST


def docker_client(repo_root: str | os.PathLike[str] | None = None, timeout: float = 120.0) -> Any:
    """Return a ``docker.DockerClient`` for the recorded engine (API version auto-negotiated)."""
    import docker  # lazy

    host = docker_host(repo_root)
    if not _is_local_host(host):
        raise InfraError(f"refusing non-loopback docker host {host!r}")
    try:
        return docker.DockerClient(base_url=host, version="auto", timeout=int(timeout))
    except Exception as e:
        raise InfraError(f"docker engine at {host} is not reachable: {e}") from e


if __name__ == "__main__":  # tiny CLI for manual use: python -m runtime.devinfra.services up|down|status
    import sys

    cmd = sys.argv[1] if len(sys.argv) > 1 else "status"
    if cmd == "up":
        print(json.dumps(up().to_dict(), indent=2))
    elif cmd == "down":
        print(json.dumps(down()))
    elif cmd == "status":
        print(json.dumps(status().to_dict(), indent=2))
    else:
        raise SystemExit("usage: python -m runtime.devinfra.services up|down|status")
