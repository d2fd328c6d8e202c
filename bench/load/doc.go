// Package load is apiguard's load and fault harness: it starts real
// redis-server and reference-server (examples/server) processes on loopback,
// drives them with a bounded closed-loop HTTP load generator, checks every
// response against the error contract's eleven rows, and measures
// throughput and latency of comparable stacks: apiguard's reference app on
// each front door (Echo v4, Echo v5, net/http) against the bare framework,
// in process and as processes (bareserver), and Echo's own middlewares.
//
// The tests of this package (and of bench/faults and bench/cluster) run a
// short version by default, small enough for `go test -race ./...` in CI;
// APIGUARD_LONG=1 runs the full campaign (see bench/run.sh). When
// APIGUARD_RESULTS is set to a directory, the tests also write their tables
// there as markdown.
//
// Nothing here is safe to use outside tests: helpers take a testing.TB and
// fail it on error.
package load
