#!/usr/bin/env bash
# Conformance against upstream Kubernetes. Renders fresh files with
# the built CLI, builds the pinned upstream tools, and runs the Go checks in
# this directory against them. Exits non-zero, saying why, whenever a check
# fails or cannot run; nothing is skipped.
#
#   bash test/conformance/run.sh            # render with dist/ (run `npm run build` first)
#   bash test/conformance/run.sh --samples  # use the hand-made testdata/ instead (development)
#
# The flow tests (flow_test.go: `audit-lab serve`, `sink create`, `render`,
# `tail` against the real kube-apiserver) always run the built CLI, so
# dist/ is needed with --samples too.
#
# CONFORMANCE_KEEP=1 keeps the work directory. Go's default module and build
# caches are used, so a second run on the same machine only relinks.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
# Keep in step with kindReleases in kind_test.go.
KIND_VERSIONS=(v0.8.1 v0.11.1 v0.33.0)

die() { echo "conformance: FAIL: $*" >&2; exit 1; }

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
secs_since() { local d=$(( $(now_ms) - $1 )); printf '%d.%01ds' $((d / 1000)) $((d % 1000 / 100)); }
STEP_T0=0
step() { STEP_T0=$(now_ms); echo "==> $*"; }
done_step() { echo "<== $1: $(secs_since "$STEP_T0")"; }
RUN_T0=$(now_ms)

samples=0
case "${1:-}" in
  --samples) samples=1 ;;
  "") ;;
  *) die "unknown argument $1 (only --samples)" ;;
esac

# Preflight: say exactly what is missing instead of failing later.
command -v go >/dev/null || die "go is not on PATH"
command -v kubectl >/dev/null || die "kubectl is not on PATH (the control plane test drives the apiserver with it)"
command -v node >/dev/null || die "node is not on PATH"
[ -f "$ROOT/dist/main.js" ] || die "$ROOT/dist/main.js is missing: run 'npm run build' in $ROOT first"
echo "go: $(go version)"
echo "kubectl: $(kubectl version --client 2>/dev/null | head -1)"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/audit-lab-conformance.XXXXXX")"
cleanup() {
  rc=$?
  if [ "$rc" != 0 ] || [ "${CONFORMANCE_KEEP:-0}" = 1 ]; then
    echo "conformance: work directory kept: $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
RENDERED="$WORK/rendered"
mkdir -p "$RENDERED"

# A loopback port for the receiver of the control plane test; render writes
# it into webhook.kubeconfig, and the test listens there.
free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 25000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  die "no free loopback port found"
}

step "render"
if [ "$samples" = 1 ]; then
  cp -r "$HERE/testdata/." "$RENDERED/"
  # The samples name their own apiserver/ directory as hostPath; point it at the copy's.
  for d in "$RENDERED"/*/; do
    d="${d%/}"
    sed -i "s|hostPath: $HERE/testdata/$(basename "$d")/apiserver\$|hostPath: $d/apiserver|" "$d/config.yaml"
  done
else
  render() {
    local out="$1"; shift
    echo "    audit-lab render $* --out $out"
    AUDIT_LAB_HOME="$WORK/home" node "$ROOT/bin/audit-lab.js" render "$@" --out "$RENDERED/$out" \
      || die "audit-lab render $* exited $?"
  }
  render static --mode static
  render dynamic --mode dynamic
  render static-v1alpha3 --mode static --kind-config-api v1alpha3
  render dynamic-v1alpha3 --mode dynamic --kind-config-api v1alpha3
  render static-loopback --mode static --receiver-host 127.0.0.1 --port "$(free_port)"
fi
find "$RENDERED" -type f | sed "s|^$RENDERED/|    |" | sort
done_step render

step "build kind ${KIND_VERSIONS[*]} (go install sigs.k8s.io/kind@VERSION)"
for v in "${KIND_VERSIONS[@]}"; do
  # Outside any module, so each kind builds with its own go.mod and go.sum.
  (cd "$WORK" && GOBIN="$WORK/kind/$v" GOFLAGS=-buildvcs=false go install "sigs.k8s.io/kind@$v") \
    || die "building kind $v failed"
done
done_step "build kind"

step "build kube-apiserver and etcd (pinned in $HERE/go.mod)"
(cd "$HERE" && go build -buildvcs=false -o "$WORK/bin/" ./cmd/kube-apiserver ./cmd/etcd) \
  || die "building kube-apiserver/etcd failed"
done_step "build kube-apiserver and etcd"

export CONFORMANCE_RENDERED="$RENDERED" CONFORMANCE_KIND_DIR="$WORK/kind" CONFORMANCE_BIN_DIR="$WORK/bin"
export CONFORMANCE_CLI="$ROOT/bin/audit-lab.js"
# The flow tests run in their own step (own timing); the same pattern
# selects them there and leaves them out of the step before, so together
# the two steps run every test of the module.
FLOW_TESTS='^(TestServeFreePort|TestUserFlow|TestFaultsReceiverRestart|TestFaultsPolicyChange|TestPolicySuggest)$'
LOG="$WORK/test.log"
status=0

step "test AuditSink (k8s.io/api v0.18, module auditsink/)"
(cd "$HERE/auditsink" && go test -count=1 -v ./...) 2>&1 | tee -a "$LOG" || status=1
done_step "test AuditSink"

step "test policy, kind, control plane (module $HERE)"
(cd "$HERE" && go test -count=1 -v -timeout 20m -skip "$FLOW_TESTS" ./...) 2>&1 | tee -a "$LOG" || status=1
done_step "test policy, kind, control plane"

step "test the user's flow and faults: audit-lab serve/sink create/render/tail + kube-apiserver (flow_test.go)"
(cd "$HERE" && go test -count=1 -v -timeout 20m -run "$FLOW_TESTS" .) 2>&1 | tee -a "$LOG" || status=1
done_step "test the user's flow and faults"

passed=$(grep -cE '^--- PASS' "$LOG" || true)
failed=$(grep -cE '^--- FAIL' "$LOG" || true)
skipped=$(grep -cE '^\s*--- SKIP' "$LOG" || true)
echo "conformance: total wall time $(secs_since "$RUN_T0")"
# Item 3's figures, repeated where they are easy to find.
grep -E '^faults: sent' "$LOG" | sed 's/^/conformance: /' || echo "conformance: faults: no figures (TestFaultsReceiverRestart did not get that far)"
[ "$skipped" = 0 ] || { echo "conformance: $skipped test(s) skipped; skipping is not allowed here" >&2; status=1; }
[ "$passed" -gt 0 ] || { echo "conformance: no test passed" >&2; status=1; }
if [ "$status" != 0 ] && [ "$failed" = 0 ]; then
  failed=1 # go test failed without a --- FAIL line (build error, panic, timeout)
fi
echo "conformance: $passed passed, $failed failed"
exit "$status"
