#!/usr/bin/env bash
# The control plane binaries test:binary runs (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl for v1.37.2 and v1.18.19), built from Go modules by
# ../shared/kind-offline's gobuild stage and cached under $KINDLAB and Go's caches: minutes on a new
# machine, seconds after. No Docker engine is needed. Logs go to stderr; stdout is KEY=VALUE lines
# for test/binary/run.mjs.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dir=${KIND_OFFLINE_DIR:-$root/../shared/kind-offline}
S=$dir/build-node-image.sh
[ -f "$S" ] || { echo "offline.sh: $S not found (set KIND_OFFLINE_DIR)" >&2; exit 1; }
export KINDLAB=${KINDLAB:-${XDG_CACHE_HOME:-$HOME/.cache}/kind-offline}

timed() {
  local what=$1 start=$SECONDS
  shift
  echo "::: binaries: $what" >&2
  "$@" >&2
  echo "::: binaries: $what: done in $((SECONDS - start))s" >&2
}

timed "Kubernetes v1.37.2 and etcd" bash "$S" files gobuild
timed "Kubernetes v1.18.19" bash "$S" legacy files gobuild

echo "AUDIT_LAB_BINARY_STATIC_DIR=$KINDLAB/out/k8s-v1.37.2"
echo "AUDIT_LAB_BINARY_DYNAMIC_DIR=$KINDLAB/out/k8s-v1.18.19"
echo "AUDIT_LAB_BINARY_ETCD=$KINDLAB/out/k8s-v1.37.2/etcd"
