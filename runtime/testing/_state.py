"""The fake Modal server's state: what Modal keeps server-side, in a folder shared by processes.

Deployed apps (with their functions and tags), named secrets (values, creation times), the
artifacts volume (a folder per Modal environment and volume), app log lines and planted faults.
Every call is recorded in ``calls.jsonl``. Only :mod:`runtime.testing.fake_server` reads it; no
code path of the project talks to this class: clients reach the fake through the real SDK.

What a container gets from Modal comes from here too (:meth:`FakeModalState.prepare_call`): the
function's variables and secrets, the volume's folder and its mount, the timeout, and for the
host-subprocess worker the stand-in for the image's ``/opt/processor`` (the processor's source
folder from the registry). The containers themselves are :mod:`runtime.testing._container`'s.
"""

from __future__ import annotations

import builtins
import json
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.kit.files import atomic_write
from runtime.modal.app import ENTRY_ENV_KEY

ENVIRONMENTS = ("dev", "staging", "main")
LOG_KEEP = 2000


def _modal_error(name: str, message: str) -> BaseException:
    """The real exception class: ``TimeoutError`` is the built-in one ``FunctionCall.get`` raises."""
    import modal.exception as mexc

    if name == "TimeoutError":
        return builtins.TimeoutError(message)
    cls = getattr(mexc, name)
    error: BaseException = cls(message)
    return error


@dataclass(frozen=True)
class PreparedCall:
    """What the container of one input gets (see :meth:`FakeModalState.prepare_call`)."""

    env: dict[str, str]
    volume: Path
    mount: str
    limit_s: float


class FakeModalState:
    """The fake server's folder-backed state (see the module docstring)."""

    def __init__(self, state_dir: Path, source_root: Path | None = None) -> None:
        from runtime.paths import project_root

        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.source_root = source_root or project_root()

    # -- state, records, faults -------------------------------------------------------------
    def _path(self, name: str) -> Path:
        return self.state_dir / name

    def _load(self) -> dict[str, Any]:
        path = self._path("state.json")
        if not path.is_file():
            return {"apps": {}, "secrets": {}, "logs": {}, "volumes": {}}
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

    def take_fault(self, op: str) -> None:
        """Raise the next planted fault of ``op`` (see :meth:`plan_fault`), if any."""
        self._maybe_fault(op)

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

    def prepare_call(self, handle: dict[str, Any], payload: dict[str, Any]) -> PreparedCall:
        """What the container of one input gets from Modal besides its arguments: the function's
        deploy-time variables and its named secrets' values (as Modal injects them), the
        artifacts volume's folder and where it is mounted, and the function's timeout. Records
        the call; raises a planted ``call`` fault."""
        fn = handle["function"]
        env_name = handle["environment_name"]
        self._record("call_function", app=handle["app"], function=fn["function_name"],
                     environment_name=env_name, execution_id=payload.get("execution_id"))
        self._maybe_fault("call")
        volume = self._volume_dir(env_name, fn["volume"])
        volume.mkdir(parents=True, exist_ok=True)
        env = {ENTRY_ENV_KEY: json.dumps(fn["entry"], sort_keys=True)}
        for name in fn["secrets"]:
            env.update(self.secret_values(name, environment_name=env_name))
        return PreparedCall(env=env, volume=volume, mount=str(fn["mount"]),
                            limit_s=float(fn["timeout_s"]))

    def append_logs(self, handle: dict[str, Any], output: bytes) -> None:
        """Keep a finished container's output as the app's log lines."""
        self._append_logs(handle["app"], handle["environment_name"], output)

    def processor_dir(self, ref: str) -> Path:
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

    def secret_names(self, environment_name: str) -> list[str]:
        """Names of the stored secrets of the environment (not recorded as a call)."""
        return sorted(self._load()["secrets"].get(environment_name, {}))

    def deployed_app_id(self, name: str, *, environment_name: str) -> str | None:
        """The id of the deployed app ``name``, or ``None`` (not recorded as a call)."""
        app = self._load()["apps"].get(environment_name, {}).get(name)
        return str(app["app_id"]) if app and app["state"] == "deployed" else None

    def create_secret(self, name: str, values: dict[str, str], *, environment_name: str) -> None:
        """``SecretGetOrCreate`` (create): ``AlreadyExistsError`` for a taken name. Creation times
        are the clock's and strictly increasing, so the SDK's ``created_before`` paging never
        skips one; never ahead of the clock, or a listing's first page (``created_before`` =
        now) would leave out the newest, as Modal's would."""
        self._record("create_secret", name=name, environment_name=environment_name)
        self._maybe_fault("secrets")
        state = self._load()
        secrets = state["secrets"].setdefault(environment_name, {})
        if name in secrets:
            raise _modal_error("AlreadyExistsError", f"Secret '{name}' already exists")
        latest = max((s["created_at"] for env in state["secrets"].values() for s in env.values()),
                     default=0.0)
        created = time.time()
        while created <= latest:  # the same clock reading as the last one: wait for the next
            time.sleep(max(latest - created, 1e-6))
            created = time.time()
        secrets[name] = {"values": dict(values), "created_at": created}
        self._save(state)

    def update_secret(self, name: str, updates: dict[str, str | None], *,
                      environment_name: str) -> None:
        """``SecretUpdate``: set keys; a key sent without a value is deleted, as Modal does."""
        self._record("update_secret", name=name, environment_name=environment_name,
                     keys=sorted(updates))
        state = self._load()
        secrets = state["secrets"].setdefault(environment_name, {})
        if name not in secrets:
            raise _modal_error("NotFoundError", f"Secret '{name}' not found")
        values = secrets[name]["values"]
        for key, value in updates.items():
            if value is None:
                values.pop(key, None)
            else:
                values[key] = value
        self._save(state)

    def secret_values(self, name: str, *, environment_name: str) -> dict[str, str]:
        """The keys and values of a named secret (what a container gets; ``{}`` if absent)."""
        found = self._load()["secrets"].get(environment_name, {}).get(name)
        return dict(found["values"]) if found else {}

    def secret_page(self, environment_name: str, *, created_before: float,
                    limit: int) -> list[tuple[str, float]]:
        """``SecretList``: ``(name, created_at)``, newest first, created strictly before
        ``created_before`` (0 = no bound), at most ``limit`` (the SDK asks 100 a page)."""
        self._maybe_fault("secrets")
        stored = self._load()["secrets"].get(environment_name, {})
        rows = sorted(((name, float(s["created_at"])) for name, s in stored.items()),
                      key=lambda row: row[1], reverse=True)
        if created_before:
            rows = [row for row in rows if row[1] < created_before]
        return rows[:limit]

    # -- the volume ------------------------------------------------------------------------
    def volume_dir(self, environment_name: str, volume_name: str) -> Path:
        """The folder holding a volume's files."""
        return self._volume_dir(environment_name, volume_name)

    def volume_exists(self, environment_name: str, volume_name: str) -> bool:
        """Whether the volume was ever created (``VolumeGetOrCreate`` with create-if-missing)."""
        return volume_name in self._load().get("volumes", {}).get(environment_name, [])

    def create_volume(self, environment_name: str, volume_name: str) -> None:
        """Create the volume if missing (idempotent, like ``create_if_missing=True``)."""
        self._check_env(environment_name)
        state = self._load()
        names = state.setdefault("volumes", {}).setdefault(environment_name, [])
        if volume_name not in names:
            names.append(volume_name)
            self._save(state)
        self._volume_dir(environment_name, volume_name).mkdir(parents=True, exist_ok=True)

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
