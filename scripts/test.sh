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

# Counting: each runtime writes a JUnit report; scripts/count_tests.py counts each leaf
# test once (describe() groups are not tests, on any runtime) and lists the skips.
# A skip fails the run unless tests/skip_allowlist.txt names it with a reason.
# The three counts differ by design in one place: tests/transport_test.ts runs its
# tests once per adapter the runtime can load: node:net/node:tls everywhere, plus
# Bun's own sockets on Bun and Deno's own on Deno. So Bun and Deno each count one
# adapter's worth of transport tests more than Node; everything else is the same set.
allow=tests/skip_allowlist.txt
# Deno runs t.skip() as a no-op and reports the test as passed: a skip nobody sees.
# Skip with the `skip` test option (reported by all three runtimes) or not at all.
step "no t.skip()/todo in the tests (Deno reports them as passes)"
if grep -nE '\.(skip|todo)\(|\btodo:' tests/*.ts tests/support/*.ts; then
  echo "use the { skip: reason } test option (and tests/skip_allowlist.txt), or make the test fail"; fail=1
fi

declare -A P F S A
run() { # runtime, command... (the command writes its JUnit report to $junit)
  local rt=$1; shift
  step "tests on $rt: $*"
  "$@" 2>&1; local rc=$?
  local out; out=$(python3 scripts/count_tests.py "$rt" "$junit" "$allow") || { echo "$out"; echo "cannot count $rt's results"; rc=1; out="0 1 0 0"; }
  [ -z "$out" ] || sed '$d' <<<"$out" | sed "s/^/$rt /"
  read -r P[$rt] F[$rt] S[$rt] A[$rt] <<<"$(tail -1 <<<"$out")"
  [ "${F[$rt]:-0}" -eq 0 ] || fail=1
  # A crash outside any test (a file that fails to load, a failing hook) fails no leaf test.
  if [ "$rc" -ne 0 ]; then fail=1; [ "${F[$rt]:-0}" -gt 0 ] || F[$rt]=1; fi
  rm -f "$junit"
}
junit=$(mktemp -u "${TMPDIR:-/tmp}/smtpsend-junit.XXXXXX")
# shellcheck disable=SC2086
run node node --import tsx --test --test-concurrency=1 --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=junit --test-reporter-destination="$junit" $files
# shellcheck disable=SC2086
run bun bun test --timeout 60000 --reporter=junit --reporter-outfile="$junit" $(for f in $files; do echo "./$f"; done)
# shellcheck disable=SC2086
run deno deno test -A --quiet --junit-path="$junit" $files

step "summary"
tp=0; tf=0
for rt in node bun deno; do
  bad=$(( ${S[$rt]:-0} - ${A[$rt]:-0} ))
  printf '%-5s %s passed, %s failed, %s skipped (%s allowed, %s not allowed)\n' "$rt:" "${P[$rt]:-0}" "${F[$rt]:-0}" \
    "${S[$rt]:-0}" "${A[$rt]:-0}" "$bad"
  # An unexpected skip counts as a failure of that runtime.
  if [ "$bad" -gt 0 ]; then fail=1; F[$rt]=$(( ${F[$rt]:-0} + bad )); fi
  tp=$((tp + ${P[$rt]:-0})); tf=$((tf + ${F[$rt]:-0}))
done
[ "$fail" -eq 0 ] || [ "$tf" -gt 0 ] || tf=1
echo "total: $tp passed, $tf failed"
exit $fail
