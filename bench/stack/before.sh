#!/usr/bin/env bash
# BenchmarkStack/echo4/* on an earlier commit of apiguard (default: 78e8212,
# the last one before the front-door redesign), with the API of that
# commit: the "before" of the Echo v4 path. Extra arguments go to go test.
#
#   ./before.sh -benchtime 2s -count 5
#   REV=<commit> ./before.sh
set -euo pipefail
cd "$(dirname "$0")"
rev=${REV:-78e8212}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
git -C ../.. archive "$rev" | tar -x -C "$dir"
mkdir "$dir/stackbefore"
# Without its first two lines (go:build ignore).
tail -n +3 testdata/before_test.go.txt >"$dir/stackbefore/stack_test.go"
cd "$dir"
go test -run '^$' -bench 'Stack' "$@" ./stackbefore/
