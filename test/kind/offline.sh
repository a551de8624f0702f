#!/usr/bin/env bash
# The offline way to real kind clusters (a machine with no image registry, such as CI's): starts
# ../shared/kind-offline's Docker engine and builds, or reuses, kind and both node images with it.
# Everything is cached under $KINDLAB (and Go's caches), so a second run takes seconds.
# Logs go to stderr; stdout is KEY=VALUE lines for test/kind/run.mjs.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dir=${KIND_OFFLINE_DIR:-$root/../shared/kind-offline}
S=$dir/build-node-image.sh
[ -f "$S" ] || { echo "offline.sh: $S not found (set KIND_OFFLINE_DIR)" >&2; exit 1; }
export KINDLAB=${KINDLAB:-${XDG_CACHE_HOME:-$HOME/.cache}/kind-offline}

timed() {
  local what=$1 start=$SECONDS
  shift
  echo "::: kind-offline: $what" >&2
  "$@" >&2
  echo "::: kind-offline: $what: done in $((SECONDS - start))s" >&2
}

timed "current profile (Kubernetes v1.37.2, kind v0.33.0)" bash "$S" files engine dockerd kind gobuild rootfs images base node
timed "legacy profile (Kubernetes v1.18.19, kind v0.11.1)" bash "$S" legacy files kind gobuild rootfs images base node

echo "DOCKER_HOST=unix://$KINDLAB/docker.sock"
echo "AUDIT_LAB_E2E_STATIC_KIND=$KINDLAB/out/kind/v0.33.0/kind"
echo "AUDIT_LAB_E2E_STATIC_KUBECTL=$KINDLAB/out/k8s-v1.37.2/kubectl"
echo "AUDIT_LAB_E2E_STATIC_IMAGE=kindlab/node:v1.37.2"
echo "AUDIT_LAB_E2E_DYNAMIC_KIND=$KINDLAB/out/kind/v0.11.1/kind"
echo "AUDIT_LAB_E2E_DYNAMIC_KUBECTL=$KINDLAB/out/k8s-v1.18.19/kubectl"
echo "AUDIT_LAB_E2E_DYNAMIC_IMAGE=kindlab/node:v1.18.19"
echo "AUDIT_LAB_E2E_CGROUPFIX=$S"
