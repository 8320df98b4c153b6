"""The project's locked environment: ``inv lock`` refreshes ``requirements.lock``; a check proves it current.

``requirements.lock`` is a pip-style requirements file with a hash for every runtime, dev and
build dependency (``uv pip compile --universal --generate-hashes``). ``scripts/bootstrap.sh``
installs exactly it into ``.venv`` (``pip install --require-hashes --no-deps``), so a fresh machine
gets what CI tested. Its header records a digest of the dependency specs of ``pyproject.toml``;
``inv check`` fails when they disagree, so a changed dependency cannot ship without a new lock.
The lock names no package-registry host: hashes, not URLs, identify the files.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from invoke.context import Context
from invoke.exceptions import Exit

from tasks.cli import task

ROOT = Path(__file__).resolve().parent.parent
LOCK_NAME = "requirements.lock"
DIGEST_FIELD = "pyproject-deps-sha256"
# uv ships as a wheel that carries its binary; it lives in a throw-away venv under the ignored
# state folder, never in the interpreter or the project's .venv.
UV_VERSION = "0.13.9"
TOOLS_DIR = Path(".state") / "tools"
BUILD_INPUT = Path(".state") / "lock" / "build-system.requires.in"
_URL = re.compile(r"[a-z][a-z0-9+.-]*://", re.IGNORECASE)


def dependency_digest(pyproject: Path) -> str:
    """sha256 over every dependency spec of ``pyproject.toml`` (runtime, extras, build, Python)."""
    import tomllib  # here, not at module level: every `inv` call imports this module

    data = tomllib.loads(pyproject.read_text("utf-8"))
    project = data.get("project", {})
    specs = {
        "requires-python": project.get("requires-python", ""),
        "dependencies": project.get("dependencies", []),
        "optional-dependencies": project.get("optional-dependencies", {}),
        "build-system.requires": data.get("build-system", {}).get("requires", []),
    }
    canonical = json.dumps(specs, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def header(digest: str) -> str:
    """The lock's header: where it comes from, how it is used, and the digest it was made for."""
    return (
        "# requirements.lock: every runtime, dev and build dependency of processor-runtime, hashed.\n"
        "# Made by `inv lock` (uv pip compile --universal --generate-hashes); never edit by hand.\n"
        "# Installed by scripts/bootstrap.sh: pip install --require-hashes --no-deps -r requirements.lock\n"
        f"# {DIGEST_FIELD}: {digest}\n"
    )


def recorded_digest(lock_text: str) -> str | None:
    """The dependency digest the lock's header records, or None without one."""
    match = re.search(rf"^# {DIGEST_FIELD}: ([0-9a-f]{{64}})$", lock_text, re.MULTILINE)
    return match.group(1) if match else None


def _entries(lock_text: str) -> list[str]:
    """The lock's requirement entries, each with its continuation lines joined."""
    entries: list[str] = []
    for line in lock_text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.startswith((" ", "\t")) and entries:
            entries[-1] += " " + line.strip()
        else:
            entries.append(line.strip())
    return entries


def lock_problems(root: Path = ROOT) -> list[str]:
    """Why ``requirements.lock`` cannot be trusted for ``pyproject.toml`` (empty when it can)."""
    lock = root / LOCK_NAME
    if not lock.is_file():
        return [f"{LOCK_NAME} is missing: run `inv lock`"]
    text = lock.read_text("utf-8")
    problems = []
    recorded, expected = recorded_digest(text), dependency_digest(root / "pyproject.toml")
    if recorded is None:
        problems.append(f"{LOCK_NAME} has no `{DIGEST_FIELD}` header line: run `inv lock`")
    elif recorded != expected:
        problems.append(f"{LOCK_NAME} was made for other dependency specs than pyproject.toml's "
                        f"(recorded {recorded[:12]}…, pyproject {expected[:12]}…): run `inv lock`")
    entries = _entries(text)
    if not entries:
        problems.append(f"{LOCK_NAME} lists no requirement")
    unhashed = [entry.split()[0] for entry in entries if "--hash=sha256:" not in entry]
    if unhashed:
        problems.append(f"{LOCK_NAME} entries without a hash: {', '.join(unhashed)}")
    if _URL.search(text):
        problems.append(f"{LOCK_NAME} names a URL; a lock identifies files by hash only")
    return problems


def _uv(root: Path) -> Path:
    """The uv binary in the throw-away tool venv, installed there on first use."""
    venv = root / TOOLS_DIR / "uv"
    binary = venv / "bin" / "uv"
    if binary.is_file():
        return binary
    print(f"== lock: installing uv {UV_VERSION} into {TOOLS_DIR / 'uv'} (a throw-away venv)",
          file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                    "--disable-pip-version-check", f"uv=={UV_VERSION}"], check=True)
    return binary


def write_lock(root: Path = ROOT) -> Path:
    """Re-resolve every dependency of ``pyproject.toml`` into ``requirements.lock`` (atomically)."""
    import tomllib

    pyproject = root / "pyproject.toml"
    build_requires = tomllib.loads(pyproject.read_text("utf-8")).get("build-system", {}) \
        .get("requires", [])
    build_input = root / BUILD_INPUT
    build_input.parent.mkdir(parents=True, exist_ok=True)
    build_input.write_text("".join(f"{spec}\n" for spec in build_requires), "utf-8")
    staged = root / TOOLS_DIR / f"{LOCK_NAME}.resolved"
    # Relative paths: the lock's `# via` notes must not name this machine's folders.
    argv = [str(_uv(root)), "pip", "compile", "pyproject.toml", str(BUILD_INPUT),
            "--extra", "dev", "--universal", "--generate-hashes", "--python-version", "3.11",
            "--no-header", "--quiet", "--output-file", str(staged.relative_to(root))]
    print(f"== lock: resolving ({' '.join(argv[1:])})", file=sys.stderr, flush=True)
    env = dict(os.environ, UV_CACHE_DIR=str(root / TOOLS_DIR / "uv-cache"))
    subprocess.run(argv, cwd=root, env=env, check=True)
    from runtime.kit.files import atomic_write

    target = root / LOCK_NAME
    locked = header(dependency_digest(pyproject)) + staged.read_text("utf-8")
    atomic_write(target, locked.encode("utf-8"), confine_to=root, mode=0o644)
    return target


@task
def lock(c: Context) -> None:
    """Refresh requirements.lock from pyproject.toml (hashes for every dependency; needs the index)."""
    try:
        target = write_lock()
    except subprocess.CalledProcessError as exc:
        raise Exit(f"lock: resolving failed ({exc})", code=1) from exc
    problems = lock_problems()
    if problems:
        raise Exit("\n".join(problems), code=1)
    count = len(_entries(target.read_text("utf-8")))
    print(f"== lock: {LOCK_NAME} holds {count} pinned, hashed requirements; "
          "run ./scripts/bootstrap.sh to install them", file=sys.stderr)


TASKS = [lock]
