package ratelimit

import "context"

// Store keeps the buckets. Its one call, Take, is a single atomic step, so
// two requests racing for the last token never both get it, and a refused
// request never consumes anything.
//
// Implementations must be safe for concurrent use. The in-memory store
// ([NewMemoryStore]) is the default; package redisstore shares buckets
// between server instances through Redis.
type Store interface {
	// Take checks the request of caller key against every policy. Only if
	// all of them allow it does it take cost tokens from each of the key's
	// buckets (one bucket per policy Name and key); otherwise it changes
	// nothing. A cost of 0 takes nothing and reports the buckets as they
	// are.
	//
	// Invalid input is reported as an error from [CheckRequest] (a
	// [*CostError] for a cost above a Burst); any other error means the
	// store could not decide.
	Take(ctx context.Context, key string, policies []Policy, cost int64) (Result, error)
}
