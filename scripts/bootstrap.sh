#!/usr/bin/env bash
# One-step set-up: installs the project (editable, with dev tools) and, with --system, the Debian
# packages the container lanes need (docker.io, docker-registry, mmdebstrap). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == "--system" ]]; then
  bash scripts/install-system-deps.sh
fi

PYTHON="${PYTHON:-python3}"
"$PYTHON" - <<'PY'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"processor-runtime needs Python >= 3.11, found {sys.version.split()[0]}")
PY
# compat mode puts the checkout on sys.path (a .pth entry) instead of an import hook, so a
# second checkout or worktree imports its own `runtime` package.
"$PYTHON" -m pip install --quiet --disable-pip-version-check \
  --config-settings editable_mode=compat -e '.[dev]' >&2
