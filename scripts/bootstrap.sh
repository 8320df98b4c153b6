#!/usr/bin/env bash
# One-step set-up: the project's own virtual environment `.venv`, filled from `requirements.lock`
# (every runtime, dev and build dependency, each checked against its hash), then the project
# itself, editable. With --system it first installs the Debian packages the container lanes need
# (docker.io, docker-registry, mmdebstrap).
#
# It never writes the interpreter's own site-packages: everything goes into .venv. Two concurrent
# runs take turns (a lock file); a run with an unchanged lock, pyproject.toml and interpreter is a
# no-op. Progress goes to stderr. Afterwards: `.venv/bin/inv …` (or `source .venv/bin/activate`).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'set-up: %s\n' "$*" >&2; }

# pip compiles the bytecode of every package it installs, but not of an editable project, and an
# environment with PYTHONDONTWRITEBYTECODE=1 (as this machine's) never caches it on import: each
# `inv` call would compile runtime/ and tasks/ from source again (~50 ms of a cold run). Compile
# them here, like pip does for the rest; a file changed later is compiled in memory until the
# next set-up. The hashes and images skip __pycache__ (runtime/kit/hashing.py).
compile_project() {
  "$VENV/bin/python" -m compileall -q -j 0 runtime tasks tasks.py bench >/dev/null
}

if [[ "${1:-}" == "--system" ]]; then
  say "installing the Debian packages of the container lanes (scripts/install-system-deps.sh)"
  bash scripts/install-system-deps.sh
fi

PYTHON="${PYTHON:-python3}"
"$PYTHON" - <<'PY'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"processor-runtime needs Python >= 3.11, found {sys.version.split()[0]}")
PY

mkdir -p .state
exec 9>.state/bootstrap.lock
if ! flock --nonblock 9; then
  say "another set-up of this checkout is running; waiting for it"
  flock 9
fi

VENV=.venv
STAMP="$VENV/.bootstrap-stamp"
# What the environment was made from: the lock, the project's metadata and the interpreter.
stamp="$( { cat requirements.lock pyproject.toml; "$PYTHON" -c 'import sys; print(sys.version)'; } \
  | sha256sum | cut -d' ' -f1)"
if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$stamp" ]]; then
  compile_project
  say "up to date ($VENV matches requirements.lock); nothing to install"
  exit 0
fi

if [[ ! -x "$VENV/bin/python" ]]; then
  say "creating $VENV with $("$PYTHON" -c 'import sys; print(sys.executable, sys.version.split()[0])')"
  "$PYTHON" -m venv "$VENV"
fi
rm -f "$STAMP"

# pip inside .venv only: refuse to run outside a virtual environment, never a --user install.
export PIP_REQUIRE_VIRTUALENV=1 PIP_USER=0 PIP_DISABLE_PIP_VERSION_CHECK=1
count="$(grep -c '^[A-Za-z0-9]' requirements.lock)"
say "installing $count locked packages into $VENV (hashes checked; about a minute when cold)"
progress=(--progress-bar off)
[[ -t 2 ]] && progress=(--progress-bar on)
# pipefail: the filter (this machine's pip config can print "… is ignored" warnings) keeps pip's
# exit status.
"$VENV/bin/python" -m pip install --require-hashes --no-deps "${progress[@]}" \
  -r requirements.lock 2>&1 | { grep -v -e '^Requirement already satisfied' -e 'is ignored: it is' || true; } >&2

say "installing processor-runtime itself (editable, --no-deps, no build isolation)"
# compat mode puts the checkout on sys.path (a .pth entry in .venv) instead of an import hook.
"$VENV/bin/python" -m pip install --quiet --no-deps --no-build-isolation \
  --config-settings editable_mode=compat -e . >&2
"$VENV/bin/python" -m pip check >&2

say "compiling the project's bytecode (runtime, tasks, bench)"
compile_project
printf '%s\n' "$stamp" > "$STAMP"
say "done: $VENV/bin/inv, $VENV/bin/python (source $VENV/bin/activate to put them on PATH)"
