// Package faults holds apiguard's fault tests, run against real
// redis-server and reference-server processes: Redis killed and restarted
// under load, a server killed (or frozen) while it holds an idempotency
// lease, slow Redis behind a latency proxy, and SIGTERM with requests in
// flight. The helpers live in bench/load.
package faults
