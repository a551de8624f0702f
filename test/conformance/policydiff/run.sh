#!/usr/bin/env bash
# Differential test of audit-lab's audit policy engine against k8s.io/apiserver's own evaluator.
# gen.mjs writes seeded cases, the Go program decides them with upstream code, compare.mjs checks
# that dist/ decides the same. Needs a built dist/ (npm run build) and Go; uses the usual Go caches.
#
#   POLICYDIFF_SEED=N POLICYDIFF_EVENTS=N test/conformance/policydiff/run.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
seed="${POLICYDIFF_SEED:-7}"
events="${POLICYDIFF_EVENTS:-10000}"

fail() {
  echo "policydiff: FAILED: $*" >&2
  exit 1
}
command -v go >/dev/null || fail "go is not on PATH"
command -v node >/dev/null || fail "node is not on PATH"
[ -f "$root/dist/audit/policyEngine.js" ] || fail "no dist/audit/policyEngine.js: run \`npm run build\` first"

work="$(mktemp -d "${TMPDIR:-/tmp}/policydiff.XXXXXX")"
trap 'rm -rf "$work"' EXIT

step() {
  local name="$1"
  shift
  local start end
  start=$(date +%s%N)
  "$@" || fail "$name (exit $?)"
  end=$(date +%s%N)
  printf 'policydiff: %-8s %6d ms\n' "$name" $(((end - start) / 1000000))
}

step build bash -c "cd '$here' && go build -o '$work/policydiff' ."
step generate node "$here/gen.mjs" --out "$work/cases" --seed "$seed" --events "$events"
step upstream "$work/policydiff" eval -cases "$work/cases" -out "$work/upstream.jsonl"
step compare node "$here/compare.mjs" "$work/cases" "$work/upstream.jsonl"
