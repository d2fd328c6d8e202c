// Package app is apiguard's reference server as a package: a small
// Clipia-like video generation API that wires every apiguard middleware the
// way a real app would, with its configuration, handlers, in-memory ledger,
// Redis client and run loop (timeouts, graceful shutdown).
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
