// Package stack compares apiguard's full guard stack on each front door
// with the bare framework doing the same binding and validation, in one
// benchmark run: net/http's ServeMux (package nethttp), Echo v5 (package
// echo5) and Echo v4 (package middleware), the last two also against
// Echo's own middlewares (RequestID, Recover, KeyAuth, RateLimiter) with
// c.Bind + c.Validate.
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
