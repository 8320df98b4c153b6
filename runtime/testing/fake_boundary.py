"""A fake Modal behind :class:`runtime.modal.boundary.ModalBoundary`, like httpx's MockTransport.

It keeps Modal's server-side state (deployed apps, secrets, the artifacts volume, app logs) in a
folder so separate CLI processes share it, records every call in ``calls.jsonl``, raises the
*real* ``modal.exception.*`` classes (and the built-in ``TimeoutError`` that
``FunctionCall.get`` raises), and executes a call for real: a subprocess imports the deployed
function body (:func:`runtime.modal.app.modal_function`) with the function's deploy-time
environment and its secrets as variables, exactly what a Modal container gets.

Where it must stand in for a container it says so: the volume mount (``/artifacts``) is a folder
under the state dir (payload paths are mapped in and the result's paths mapped back), and the
image's ``/opt/processor`` is the processor's source folder from the registry. Faults are planted
with :meth:`FakeModal.plan_fault`. It never opens a network connection.
"""

from __future__ import annotations

import builtins
import json
import os
import shutil
import sys
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

from runtime.child.spawn import spawn
from runtime.kit.files import atomic_write
from runtime.modal.app import ENTRY_ENV_KEY, PROCESSOR_DIR
from runtime.modal.boundary import AppStatus

STATE_DIR_ENV = "PROCESSOR_RUNTIME_FAKE_MODAL_DIR"
ENVIRONMENTS = ("dev", "staging", "main")
LOG_KEEP = 2000
_RUNNER = ("import json, sys\n"
           "from runtime.modal.app import modal_function\n"
           "result = modal_function(json.loads(sys.stdin.read()))\n"
           "sys.stdout.write(json.dumps(result))\n")


def _modal_error(name: str, message: str) -> BaseException:
    """The real exception class: ``TimeoutError`` is the built-in one ``FunctionCall.get`` raises."""
    import modal.exception as mexc

    if name == "TimeoutError":
        return builtins.TimeoutError(message)
    cls = getattr(mexc, name)
    error: BaseException = cls(message)
    return error


class FakeModal:
    """The in-repo fake Modal; ``kind = "fake"`` is reported in every result that used it."""

    kind = "fake"

    def __init__(self, state_dir: Path, source_root: Path | None = None,
                 python: str | None = None) -> None:
        from runtime.paths import project_root

        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.source_root = source_root or project_root()
        self.python = python or sys.executable

    # -- state, records, faults -------------------------------------------------------------
    def _path(self, name: str) -> Path:
        return self.state_dir / name

    def _load(self) -> dict[str, Any]:
        path = self._path("state.json")
        if not path.is_file():
            return {"apps": {}, "secrets": {}, "logs": {}}
        data: dict[str, Any] = json.loads(path.read_text("utf-8"))
        return data

    def _save(self, state: dict[str, Any]) -> None:
        atomic_write(self._path("state.json"), json.dumps(state, sort_keys=True).encode(),
                     self.state_dir)

    def _record(self, op: str, **fields: Any) -> None:
        with self._path("calls.jsonl").open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"op": op, **fields}, sort_keys=True, default=str) + "\n")

    def calls(self) -> list[dict[str, Any]]:
        """Every recorded call, oldest first."""
        path = self._path("calls.jsonl")
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]

    def plan_fault(self, op: str, error: str, *, times: int = 1, message: str = "") -> None:
        """Make the next ``times`` calls of ``op`` raise ``error`` (a ``modal.exception`` name,
        or ``TimeoutError`` for the built-in one)."""
        faults = self._faults()
        faults.append({"op": op, "error": error, "remaining": times,
                       "message": message or f"planted {error} for {op}"})
        atomic_write(self._path("faults.json"), json.dumps(faults).encode(), self.state_dir)

    def _faults(self) -> list[dict[str, Any]]:
        path = self._path("faults.json")
        faults: list[dict[str, Any]] = json.loads(path.read_text("utf-8")) if path.is_file() else []
        return faults

    def _maybe_fault(self, op: str) -> None:
        faults = self._faults()
        for fault in faults:
            if fault["op"] == op and fault["remaining"] > 0:
                fault["remaining"] -= 1
                atomic_write(self._path("faults.json"), json.dumps(faults).encode(), self.state_dir)
                raise _modal_error(str(fault["error"]), str(fault["message"]))

    @staticmethod
    def _check_env(environment_name: str) -> None:
        if environment_name not in ENVIRONMENTS:
            raise _modal_error("NotFoundError", f"Environment '{environment_name}' not found")

    def _volume_dir(self, environment_name: str, volume_name: str) -> Path:
        return self.state_dir / "volumes" / environment_name / volume_name

    def _app(self, state: dict[str, Any], app_name: str, environment_name: str) -> dict[str, Any]:
        self._check_env(environment_name)
        app: dict[str, Any] | None = state["apps"].get(environment_name, {}).get(app_name)
        if app is None or app["state"] != "deployed":
            raise _modal_error("NotFoundError", f"App '{app_name}' not found in environment "
                                                f"'{environment_name}'")
        return app

    # -- the boundary -----------------------------------------------------------------------
    def deploy(self, app: Any, *, name: str, environment_name: str, tag: str,
               plan: dict[str, Any] | None = None) -> str:
        """Record the deploy; the functions come from ``plan`` and are cross-checked against the
        real ``modal.App``'s registered function names."""
        self._record("deploy", app=name, environment_name=environment_name, tag=tag)
        self._maybe_fault("deploy")
        self._check_env(environment_name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            registered = sorted(app.registered_functions)
        functions = {fn["function_name"]: fn for fn in (plan or {}).get("functions", [])}
        if sorted(functions) != registered:
            raise _modal_error("InvalidError", f"plan functions {sorted(functions)} != app "
                                               f"functions {registered}")
        known = self.secret_names(environment_name)
        for fn in functions.values():
            for secret in fn["secrets"]:
                if secret not in known:
                    raise _modal_error("NotFoundError", f"Secret '{secret}' not found in "
                                                        f"environment '{environment_name}'")
        return self.publish(name, environment_name=environment_name, tag=tag, functions=functions,
                            tags=dict((plan or {}).get("tags") or {}))

    def publish(self, name: str, *, environment_name: str, tag: str,
                functions: dict[str, dict[str, Any]], app_id: str | None = None,
                tags: dict[str, str] | None = None) -> str:
        """Store ``functions`` as the deployed app ``name`` (a new version of it if it exists);
        returns the app id (an existing app keeps its id; a new one takes ``app_id`` if given).
        The fake transport's ``AppPublish`` lands here too."""
        self._check_env(environment_name)
        state = self._load()
        apps = state["apps"].setdefault(environment_name, {})
        previous = apps.get(name)
        app_id = previous["app_id"] if previous else (app_id or f"ap-{uuid.uuid4().hex[:22]}")
        version = (previous["version"] + 1) if previous else 1
        # Like AppPublish, a deploy replaces the app's tags with the ones it sends.
        apps[name] = {"app_id": app_id, "state": "deployed", "version": version, "tag": tag,
                      "functions": functions, "deployed_at": time.time(),
                      "tags": dict(tags or {})}
        self._save(state)
        return app_id

    def lookup_function(self, app_name: str, function_name: str, *, environment_name: str) -> Any:
        """``Function.from_name(...).hydrate()``: ``NotFoundError`` like Modal's lookup failure."""
        self._record("lookup_function", app=app_name, function=function_name,
                     environment_name=environment_name)
        self._maybe_fault("lookup")
        if "." in function_name:
            raise _modal_error("InvalidError", f"Invalid Function name {function_name!r}")
        state = self._load()
        try:
            app = self._app(state, app_name, environment_name)
        except Exception as exc:
            raise _modal_error("NotFoundError", f"Lookup failed for Function '{function_name}' "
                                                f"from the '{app_name}' app (in the "
                                                f"'{environment_name}' environment)") from exc
        fn = app["functions"].get(function_name)
        if fn is None:
            raise _modal_error("NotFoundError", f"Lookup failed for Function '{function_name}' "
                                                f"from the '{app_name}' app")
        return {"app": app_name, "environment_name": environment_name, "function": fn}

    def call_function(self, handle: Any, payload: dict[str, Any], *, timeout_s: float) -> Any:
        """Run the deployed function body in a subprocess, as a container would."""
        fn = handle["function"]
        env_name = handle["environment_name"]
        self._record("call_function", app=handle["app"], function=fn["function_name"],
                     environment_name=env_name, timeout_s=timeout_s,
                     execution_id=payload.get("execution_id"))
        self._maybe_fault("call")
        volume = self._volume_dir(env_name, fn["volume"])
        volume.mkdir(parents=True, exist_ok=True)
        mount = fn["mount"]
        local = dict(payload)
        for key in ("write_prefix", "artifacts_root"):
            local[key] = str(payload[key]).replace(mount, str(volume), 1)
        Path(local["write_prefix"]).mkdir(parents=True, exist_ok=True)
        directory = self._processor_dir(fn["ref"])
        entry = dict(fn["entry"])
        entry["entrypoint"] = str(entry["entrypoint"]).replace(PROCESSOR_DIR, str(directory), 1)
        secrets = self._load()["secrets"].get(env_name, {})
        child_env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "TMPDIR")
                     if key in os.environ}
        child_env.update({"PYTHONPATH": str(Path(__file__).resolve().parents[2]),
                          ENTRY_ENV_KEY: json.dumps(entry), "PYTHONHASHSEED": "0"})
        for name in fn["secrets"]:
            child_env.update(secrets.get(name, {}))
        limit = min(float(fn["timeout_s"]), timeout_s)
        result = spawn([self.python, "-B", "-c", _RUNNER], stdin=json.dumps(local).encode(),
                       env=child_env, cwd=str(self.state_dir), timeout_s=limit)
        self._append_logs(handle["app"], env_name, result.stderr_tail)
        if result.timed_out:
            if fn["timeout_s"] <= timeout_s:
                raise _modal_error("FunctionTimeoutError",
                                   f"Function timed out after {fn['timeout_s']}s")
            raise _modal_error("TimeoutError", "no result within the get() timeout")
        if result.rc != 0:
            tail = result.stderr_tail.decode("utf-8", "replace")[-2000:]
            raise _modal_error("RemoteError", f"container exited with {result.rc}: {tail}")
        value = json.loads(result.stdout.decode("utf-8"))
        if isinstance(value, dict) and isinstance(value.get("stdout"), str):
            value["stdout"] = value["stdout"].replace(str(volume), mount)
        return value

    def _processor_dir(self, ref: str) -> Path:
        """The stand-in for the image's ``/opt/processor``: the processor's source folder."""
        from runtime.registry.load import Registry

        return Registry.load(self.source_root).resolve(ref).directory

    def _append_logs(self, app_name: str, environment_name: str, stderr: bytes) -> None:
        state = self._load()
        lines = state["logs"].setdefault(environment_name, {}).setdefault(app_name, [])
        now = time.time()
        lines.extend({"timestamp": now, "message": line}
                     for line in stderr.decode("utf-8", "replace").splitlines() if line)
        del lines[:-LOG_KEEP]
        self._save(state)

    @staticmethod
    def _log_entries(state: dict[str, Any], app_name: str,
                     environment_name: str) -> list[dict[str, Any]]:
        """The app's stored log lines as ``{"timestamp": epoch seconds or None, "message"}``."""
        stored = state["logs"].get(environment_name, {}).get(app_name, [])
        return [line if isinstance(line, dict) else {"timestamp": None, "message": str(line)}
                for line in stored]

    def fetch_volume(self, volume_name: str, *, environment_name: str, remote_dir: str,
                     local_dir: Path) -> int:
        """Copy the fake volume's ``remote_dir`` into ``local_dir``."""
        self._record("fetch_volume", volume=volume_name, environment_name=environment_name,
                     remote_dir=remote_dir)
        source = self._volume_dir(environment_name, volume_name) / remote_dir
        count = 0
        if not source.is_dir():
            return count
        local_dir.mkdir(parents=True, exist_ok=True)
        for path in sorted(source.rglob("*")):
            if path.is_file() and not path.is_symlink():
                target = local_dir / path.relative_to(source)
                target.parent.mkdir(parents=True, exist_ok=True)
                atomic_write(target, path.read_bytes(), local_dir)
                count += 1
        return count

    def secret_names(self, environment_name: str) -> list[str]:
        """Names of the stored secrets of the environment (not recorded as a call)."""
        return sorted(self._load()["secrets"].get(environment_name, {}))

    def deployed_app_id(self, name: str, *, environment_name: str) -> str | None:
        """The id of the deployed app ``name``, or ``None`` (not recorded as a call)."""
        app = self._load()["apps"].get(environment_name, {}).get(name)
        return str(app["app_id"]) if app and app["state"] == "deployed" else None

    def list_secret_names(self, *, environment_name: str) -> list[str]:
        """``Secret.objects.list``: names only."""
        self._record("list_secrets", environment_name=environment_name)
        self._maybe_fault("secrets")
        self._check_env(environment_name)
        return sorted(self._load()["secrets"].get(environment_name, {}))

    def create_secret(self, name: str, values: dict[str, str], *, environment_name: str) -> None:
        """``Secret.objects.create``: ``AlreadyExistsError`` for a taken name."""
        self._record("create_secret", name=name, environment_name=environment_name, values=values)
        state = self._load()
        secrets = state["secrets"].setdefault(environment_name, {})
        if name in secrets:
            raise _modal_error("AlreadyExistsError", f"Secret '{name}' already exists")
        secrets[name] = dict(values)
        self._save(state)

    def update_secret(self, name: str, values: dict[str, str], *, environment_name: str) -> None:
        """``Secret.update``: merge keys; ``NotFoundError`` for an unknown name."""
        self._record("update_secret", name=name, environment_name=environment_name, values=values)
        state = self._load()
        secrets = state["secrets"].setdefault(environment_name, {})
        if name not in secrets:
            raise _modal_error("NotFoundError", f"Secret '{name}' not found")
        secrets[name].update(values)
        self._save(state)

    def app_status(self, app_name: str, *, environment_name: str) -> AppStatus:
        """``App.lookup(...).info()``."""
        self._record("app_status", app=app_name, environment_name=environment_name)
        self._maybe_fault("ops")
        app = self._app(self._load(), app_name, environment_name)
        return AppStatus(app_id=app["app_id"], state=app["state"], version=app["version"],
                         functions=dict.fromkeys(app["functions"], f"fu-{app['app_id'][3:]}"),
                         tags=dict(app.get("tags") or {}))

    def app_stop(self, app_name: str, *, environment_name: str) -> None:
        """``App.lookup(...).stop()``."""
        self._record("app_stop", app=app_name, environment_name=environment_name)
        self._maybe_fault("ops")
        state = self._load()
        self._app(state, app_name, environment_name).update(state="stopped", stopped_at=time.time())
        self._save(state)

    def app_logs(self, app_name: str, *, environment_name: str, entries: int) -> list[dict[str, Any]]:
        """``App.lookup(...).logs.tail(entries)``."""
        self._record("app_logs", app=app_name, environment_name=environment_name, entries=entries)
        self._maybe_fault("ops")
        state = self._load()
        self._app(state, app_name, environment_name)
        lines = self._log_entries(state, app_name, environment_name)[-entries:]
        return [{"timestamp": _iso(line["timestamp"]), "source": "stderr",
                 "message": line["message"]} for line in lines]

    # -- by app id, for the fake transport's ops RPCs (AppGetOrCreate, AppGetInfo, AppStop,
    #    AppFetchLogs) ---------------------------------------------------------------------
    def lookup_app(self, app_name: str, *, environment_name: str) -> dict[str, Any]:
        """``App.lookup(name)``: the deployed app's record (see :meth:`app_by_id`);
        ``NotFoundError`` for an unknown or stopped app, like Modal's lookup."""
        self._record("lookup_app", app=app_name, environment_name=environment_name)
        self._maybe_fault("ops")
        self._app(self._load(), app_name, environment_name)
        found = self.app_by_id(str(self.deployed_app_id(app_name,
                                                        environment_name=environment_name)))
        assert found is not None  # the app was just found by name
        return found

    def app_by_id(self, app_id: str) -> dict[str, Any] | None:
        """The app with ``app_id`` in any state (Modal finds stopped apps by id), as its stored
        record plus ``name`` and ``environment_name``; ``None`` if no app has that id."""
        for env, apps in self._load()["apps"].items():
            for name, app in apps.items():
                if app["app_id"] == app_id:
                    return {**app, "name": name, "environment_name": env}
        return None

    def stop_app_id(self, app_id: str) -> None:
        """``AppStop``: the app is stopped (a stopped app stays stopped); ``NotFoundError`` for an
        unknown id."""
        self._record("app_stop", app_id=app_id)
        state = self._load()
        for apps in state["apps"].values():
            for app in apps.values():
                if app["app_id"] == app_id:
                    if app["state"] != "stopped":
                        app.update(state="stopped", stopped_at=time.time())
                        self._save(state)
                    return
        raise _modal_error("NotFoundError", f"App '{app_id}' not found")

    def app_log_entries(self, app_id: str) -> list[dict[str, Any]]:
        """Every kept log line of the app with ``app_id``, oldest first (``[]`` if unknown)."""
        found = self.app_by_id(app_id)
        if found is None:
            return []
        return self._log_entries(self._load(), found["name"], found["environment_name"])

    def reset(self) -> None:
        """Forget everything (tests)."""
        shutil.rmtree(self.state_dir, ignore_errors=True)
        self.state_dir.mkdir(parents=True, exist_ok=True)


def _iso(timestamp: float | None) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(timestamp, UTC).isoformat() if timestamp is not None else ""


def from_environment() -> FakeModal:
    """The factory :func:`runtime.modal.boundary.get_boundary` calls; state dir from the env.

    Raises ``ERR_INPUTS`` without ``PROCESSOR_RUNTIME_FAKE_MODAL_DIR``.
    """
    from runtime.errors import InputsError

    state_dir = os.environ.get(STATE_DIR_ENV, "").strip()
    if not state_dir:
        raise InputsError(f"the fake Modal boundary needs {STATE_DIR_ENV} (its state folder)")
    return FakeModal(Path(state_dir))
