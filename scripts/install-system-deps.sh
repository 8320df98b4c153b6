#!/usr/bin/env bash
# Install the Debian packages the real local container infrastructure needs:
#   docker.io        -> dockerd, containerd, runc, docker CLI (Engine 20.10)
#   docker-registry  -> CNCF distribution registry 2.8 (/usr/bin/docker-registry)
#   mmdebstrap       -> builds the Debian + python3 base image rootfs
# Idempotent: packages whose binaries are already present are skipped.
# Never starts any service: a temporary policy-rc.d blocks invoke-rc.d during install
# (the project starts its own private dockerd/registry via runtime/devinfra/services.py).
set -euo pipefail

if [[ "$(id -u)" != 0 ]]; then
  echo "install-system-deps.sh: must run as root (apt-get)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive

# package:binary pairs. Check /usr/bin explicitly for docker.io: a different docker CLI
# may exist elsewhere on PATH (e.g. /usr/local/bin/docker) without any dockerd.
declare -a WANT=()
[[ -x /usr/sbin/dockerd || -x /usr/bin/dockerd ]] || WANT+=(docker.io)
[[ -x /usr/bin/docker-registry ]] || WANT+=(docker-registry)
command -v mmdebstrap >/dev/null 2>&1 || WANT+=(mmdebstrap)

if [[ ${#WANT[@]} -eq 0 ]]; then
  echo "install-system-deps.sh: all present (dockerd, docker-registry, mmdebstrap); nothing to do"
  exit 0
fi

echo "install-system-deps.sh: installing ${WANT[*]}"

# Block service auto-start (exit 101 = "action forbidden") unless a policy already exists.
POLICY=/usr/sbin/policy-rc.d
CREATED_POLICY=0
if [[ ! -e "$POLICY" ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$POLICY"
  chmod 0755 "$POLICY"
  CREATED_POLICY=1
fi
cleanup() { if [[ $CREATED_POLICY == 1 ]]; then rm -f "$POLICY"; fi; }
trap cleanup EXIT

apt-get update -qq
# docker.io recommends apparmor, cgroupfs-mount, git, needrestart, xz-utils, ...; none needed here.
# mmdebstrap in root mode needs only apt, dpkg, mount and gpg (already on Debian); skip its recommends.
apt-get install -y -qq --no-install-recommends "${WANT[@]}"

echo "install-system-deps.sh: done"
for b in /usr/sbin/dockerd /usr/bin/docker /usr/bin/docker-registry /usr/bin/mmdebstrap; do
  [[ -x $b ]] && echo "  $b"
done
