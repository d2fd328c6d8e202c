// Package stack compares apiguard's full guard stack on each front door
// with the bare framework doing the same binding and validation, in one
// benchmark run: net/http's ServeMux and chi (package middleware/nethttp,
// chi through middleware/chi5), gin (middleware/gin1), Echo v5
// (middleware/echo5) and Echo v4 (middleware/echo4); chi, gin and the Echo
// doors also against the middlewares their users would pick for the same
// work (chi's own with go-chi/httprate; gin's Recovery with hand-written
// request id, key auth and per-key limiter; Echo's RequestID, Recover,
// KeyAuth, RateLimiter with c.Bind + c.Validate).
//
// Every stack serves POST /v1/generations: the handler gets the bound,
// valid body and answers 201 with the same small JSON document. The guard
// stack is request id, recover, auth (memory key store) and a scope,
// rate limit (memory store, a limit nothing reaches), bind + validate, and
// optionally idempotency (memory store, a fresh Idempotency-Key per
// request). See bench/README.md for the figures and the command.
//
// The package has no non-test code.
package stack
