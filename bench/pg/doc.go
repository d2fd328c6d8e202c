// Package pg benchmarks apiguard on PostgreSQL against Redis and memory:
// the idempotency middleware with a fresh key and with a replay, on the
// PostgreSQL store (idempotency/pgstore, in its transactional mode) and on
// the Redis store, with round trips per request and requests per second at
// 50 in flight (BenchmarkMiddleware*); and the reference server's POST
// /v1/generations end to end with -postgres against the in-memory server
// (TestServerPostgres, a table like bench/load's TestThroughput).
//
// PostgreSQL comes from internal/pgtest ($APIGUARD_POSTGRES_URL, else a
// throwaway cluster); Redis from internal/redistest. Without PostgreSQL
// installed the tests skip, except under CI=true.
package pg
