#!/usr/bin/env bash
# The whole test suite, as CI runs it: the library, then the interop and bench
# modules. Redis tests use $APIGUARD_REDIS_ADDR when set, else start their own
# redis-server; this script installs it first when it is missing.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update && apt-get install -y redis-server
  else
    echo "redis-server is not installed: the Redis tests will be skipped (apt-get install redis-server)" >&2
  fi
fi

go test -race -count=1 ./...
for m in interop bench; do
  if [ -f "$m/go.mod" ]; then
    (cd "$m" && go test -race -count=1 ./...)
  fi
done
