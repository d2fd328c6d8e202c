#!/usr/bin/env bash
# The whole load, throughput and fault campaign against the reference server
# and the apiguard stores, on this machine, with the tables printed at the
# end. Needs Go, redis-server and redis-cli.
#
#   ./run.sh                          # full campaign, then 30s per fuzz target
#   FUZZ=0 ./run.sh                   # without the fuzz campaign
#   FUZZTIME=2m ./run.sh              # longer fuzzing
#   APIGUARD_LONG=0 ./run.sh          # the short (CI) sizes
#
# `go test ./...` in this directory runs the short version of every part.
set -uo pipefail
cd "$(dirname "$0")"
export APIGUARD_LONG=${APIGUARD_LONG:-1}
export APIGUARD_RESULTS=${APIGUARD_RESULTS:-$(mktemp -d)}
mkdir -p "$APIGUARD_RESULTS"
log="$APIGUARD_RESULTS/test.log"
echo "results and logs: $APIGUARD_RESULTS" >&2

# -p 1: one package at a time, so that the throughput figures are not
# measured while another test binary loads the two cores.
go test -p 1 -count=1 -timeout 60m -v ./load/ ./faults/ ./cluster/ >"$log" 2>&1
status=$?
grep -E '^(--- (PASS|FAIL|SKIP)|ok|FAIL|panic)' "$log" >&2

printf '## apiguard under load and faults (%s, %s cores)\n\n' "$(date -u +%Y-%m-%d)" "$(nproc)"
for f in throughput.md frontdoors.md mixed-memory.md mixed-redis.md burst-memory.md burst-redis.md outage.md sigkill.md frozen.md sigterm.md slow-redis.md cluster.md; do
  if [ -f "$APIGUARD_RESULTS/$f" ]; then
    cat "$APIGUARD_RESULTS/$f"
    echo
  fi
done
if [ "${FUZZ:-1}" != 0 ]; then
  FUZZLOGS="$APIGUARD_RESULTS" ./fuzz.sh || status=1
fi
if [ $status -ne 0 ]; then
  echo "FAILED: see $log" >&2
fi
exit $status
