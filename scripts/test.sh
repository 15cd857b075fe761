#!/usr/bin/env bash
# The whole test suite: type checks, the build, then the SAME test files under
# Node (via tsx), Bun and Deno against real servers started on loopback.
# Fails if any runtime fails. Usage: npm test  [-- file-filter]
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
export NO_COLOR=1
filter="${1:-}"
files=$(ls tests/*_test.ts | grep -- "$filter" || true)
[ -n "$files" ] || { echo "no test files match '$filter'"; exit 1; }

step() { printf '\n== %s\n' "$*"; }
fail=0

step "type check (tsc --noEmit, strict)"; tsc --noEmit -p tsconfig.json || fail=1
step "type check (deno check)"; deno check -q mod.ts cli.ts deps.ts || fail=1
step "build (tsup)"; tsup --silent || fail=1

# Real servers (Postfix + Dovecot, smtp-sink, aiosmtpd) on loopback, torn down on exit.
if [ -x scripts/test-servers.sh ]; then
  step "start test servers"
  scripts/test-servers.sh start || { echo "test servers failed to start"; exit 1; }
  trap 'scripts/test-servers.sh stop' EXIT
  set -a; . "${SMTPSEND_TEST_DIR:-/tmp/smtpsend-test}/env"; set +a
fi

declare -A P F
count() { # runtime, log
  local rt=$1 log=$2 p=0 f=0
  case $rt in
    node) p=$(grep -E '^ℹ pass ' "$log" | awk '{print $3}'); f=$(grep -E '^ℹ fail ' "$log" | awk '{print $3}') ;;
    bun)  p=$(grep -E '^ *[0-9]+ pass$' "$log" | awk '{print $1}'); f=$(grep -E '^ *[0-9]+ fail$' "$log" | awk '{print $1}') ;;
    # Deno counts describe() groups as tests and their tests as steps: report both.
    deno) p=$(grep -Eo '[0-9]+ passed( \([0-9]+ steps\))?' "$log" | tail -1 | tr -d '()' | awk '{print $1 + ($3 == "" ? 0 : $3)}')
          f=$(grep -Eo '\| [0-9]+ failed' "$log" | tail -1 | awk '{print $2}') ;;
  esac
  P[$rt]=${p:-0}; F[$rt]=${f:-0}
}
run() { # runtime, command...
  local rt=$1; shift
  step "tests on $rt: $*"
  local log; log=$(mktemp)
  "$@" 2>&1 | tee "$log"; local rc=${PIPESTATUS[0]}
  count "$rt" "$log"; rm -f "$log"
  if [ "$rc" -ne 0 ]; then fail=1; [ "${F[$rt]}" -gt 0 ] || F[$rt]=1; fi
}
# shellcheck disable=SC2086
run node node --import tsx --test --test-reporter=spec --test-concurrency=1 $files
# shellcheck disable=SC2086
run bun bun test --timeout 60000 $(for f in $files; do echo "./$f"; done)
# shellcheck disable=SC2086
run deno deno test -A --quiet $files

step "summary"
tp=0; tf=0
for rt in node bun deno; do
  printf '%-5s %s passed, %s failed\n' "$rt:" "${P[$rt]}" "${F[$rt]}"
  tp=$((tp + P[$rt])); tf=$((tf + F[$rt]))
done
[ "$fail" -eq 0 ] || [ "$tf" -gt 0 ] || tf=1
echo "total: $tp passed, $tf failed"
exit $fail
