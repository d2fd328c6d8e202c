// Package app is apiguard's reference server as a package: a small
// Clipia-like video generation API that wires every apiguard guard the way
// a real app would, with its configuration, handlers, ledger, Redis client
// and run loop (timeouts, graceful shutdown).
//
// Every guard is built once (guards.go: the request-level guards, auth, the
// rate limit, the scopes, the in-flight limit, idempotency, binding) and
// the handlers are written once over the neutral call (handlers.go); each
// front door of Config.Framework (front_echo4.go, front_echo5.go,
// front_nethttp.go, front_chi.go, front_gin.go) only mounts the same guard
// lists on the same routes. Every door names a route by its canonical
// template (/v1/generations/{id}), so processes on different doors over
// one store share idempotency keys and rate-limit buckets.
//
// The ledger (credits and generations) lives in process memory, or with
// -postgres in PostgreSQL, shared by every process on the database. There
// the idempotency records live in the same database
// (idempotency/pgstore): the guard opens a transaction after the claim,
// the handler charges the credits and inserts the generation in it
// (pgstore.TxFromContext), and the guard commits the stored response in
// that COMMIT and holds the response back until then. A crash, a lost
// lease or a failed commit leaves no charge behind, a replay never charges
// again, and the conditional update keeps every balance at zero or above
// under any concurrency. Database errors answer 503 service_unavailable.
//
// Command examples/server is a short main over Run. Benchmarks and tests
// build the very same app in this process with New and serve its Handler:
//
//	cfg, err := app.ParseConfig(nil, os.Getenv, os.Stderr) // flags' defaults and environment
//	...
//	a, err := app.New(ctx, cfg, logger)
//	...
//	defer a.Close()
//	srv := httptest.NewServer(a.Handler())
//
// The server's interface (flags, demo keys, models, routes, logs) is
// documented in examples/server/README.md and in the command's doc (go doc
// ./examples/server); it is kept stable there.
package app
