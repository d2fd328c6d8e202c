#!/usr/bin/env bash
# The whole test suite, as CI runs it: the library, then the interop and bench
# modules. Redis tests use $APIGUARD_REDIS_ADDR when set, else start their own
# redis-server; PostgreSQL tests use $APIGUARD_POSTGRES_URL when set, else
# start their own throwaway cluster (initdb into a temporary folder, as a
# non-root user, on a free loopback port). This script installs both first
# when they are missing.
set -euo pipefail
cd "$(dirname "$0")"

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || missing+=(postgresql)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update && apt-get install -y --no-install-recommends "${missing[@]}"
  else
    echo "not installed: ${missing[*]}: those tests will be skipped (apt-get install redis-server postgresql)" >&2
  fi
fi

go test -race -count=1 ./...
for m in interop bench; do
  if [ -f "$m/go.mod" ]; then
    (cd "$m" && go test -race -count=1 ./...)
  fi
done
