#!/usr/bin/env bash
# Runs every fuzz target of the root module (github.com/clipia/apiguard) for
# FUZZTIME each (default 30s) and prints a markdown table of executions.
# A crasher is written by `go test` to the package's testdata/fuzz/<Target>/,
# where it stays as a regression case; the script then exits 1.
#
#   ./fuzz.sh                 # 30s per target
#   FUZZTIME=2m ./fuzz.sh     # 2 minutes per target
set -uo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-30s}
LOGDIR=${FUZZLOGS:-$(mktemp -d)}
status=0
printf '### Fuzz campaign (%s per target, GOMAXPROCS %s)\n\n' "$FUZZTIME" "$(nproc)"
printf '| package | target | executions | new interesting | result |\n|---|---|---:|---:|---|\n'
for pkg in $(go list ./...); do
  targets=$(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true)
  for t in $targets; do
    log="$LOGDIR/$(echo "$pkg" | tr '/' '_')-$t.log"
    if go test -run '^$' -fuzz "^${t}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime "${FUZZMINIMIZE:-5s}" "$pkg" >"$log" 2>&1; then
      result=ok
    else
      result="FAIL (see $log)"
      status=1
    fi
    line=$(grep -E 'fuzz: elapsed: .*execs: [0-9]+' "$log" | tail -1)
    execs=$(echo "$line" | sed -nE 's/.*execs: ([0-9]+).*/\1/p')
    newint=$(echo "$line" | sed -nE 's/.*new interesting: ([0-9]+).*/\1/p')
    printf '| %s | %s | %s | %s | %s |\n' "${pkg#github.com/clipia/apiguard/}" "$t" "${execs:-?}" "${newint:-?}" "$result"
  done
done
exit $status
